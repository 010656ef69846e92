"""Global tone of the fused image: a share of the sources' sum, and a contrast gain about the mean.

Why. FusionNet's blend ``VI + α·(IR − VI)`` *selects* per pixel: where α is high the visible image's
contrast is replaced, where it is low the thermal contrast is. A fused image that *carries* both sources
everywhere has to add them, and the limit of that is ``IR + VI − mean`` (the sum of correlations of
differences, SCD, is then 2, its maximum). ``sum_mix`` moves the blend a fraction of the way towards the
sources' sum, with the image mean held where the blend put it:

    F₁ = F + sum_mix · (D − mean(D)),   D = IR + VI − F

so each source's contrast shows in the other's regions at ``sum_mix`` strength, and the brightness the
network chose is unchanged. ``contrast_gain`` then scales every grey level's distance from the image
mean, ``F₂ = mean(F₁) + contrast_gain · (F₁ − mean(F₁))``: a plain contrast stretch. It adds no
information; the contrast metrics (SD exactly, SF and AG nearly) grow in proportion to it, which is why it
is a separate number, off by default, and reported as such wherever a model uses it.

Both are fixed numbers in :class:`~fusion_core.model.FusionNetConfig`, not weights, so a checkpoint that
sets them exports them inside its ONNX graph, and the defaults (0 and 1) skip the stage entirely (every
model before it). Means are per image over the whole frame; pixels the engine later replaces by the
visible image (outside the thermal footprint, invalid thermal) count in them like any other. What these
numbers buy and cost on the dev split, and why the contrast-sensitive metrics (SD, SF, AG) must be read
with the gain in mind: docs/evaluation.md, "Tone: a share of the sum".
"""

from __future__ import annotations

import torch


def _image_mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(2, 3), keepdim=True)


def mix_towards_sum(fused: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor, weight: float) -> torch.Tensor:
    """``fused + weight · (D − mean D)`` with ``D = ir + vi − fused``, per image of (B, 1, H, W); not clamped."""
    d = ir + vi - fused
    return fused + weight * (d - _image_mean(d))


def scale_contrast(fused: torch.Tensor, gain: float) -> torch.Tensor:
    """``mean + gain · (fused − mean)`` per image of (B, 1, H, W); not clamped."""
    m = _image_mean(fused)
    return m + gain * (fused - m)


def apply_tone(fused: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor, sum_mix: float, contrast_gain: float) -> torch.Tensor:
    """The configured tone stage on a clamped fused image, clamped again to [0, 1]; identity when both are off."""
    out = fused
    if sum_mix:
        out = mix_towards_sum(out, ir, vi, sum_mix)
    if contrast_gain != 1.0:
        out = scale_contrast(out, contrast_gain)
    return out if out is fused else out.clamp(0.0, 1.0)
