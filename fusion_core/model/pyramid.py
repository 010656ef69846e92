"""Laplacian-pyramid detail transfer: move the fused image's detail, scale by scale, towards the stronger source's.

Why: FusionNet decides *how much* of each source a pixel takes (α at 1/4 resolution plus a box high-pass
residual), which keeps intensity statistics close to the sources (its MI and VIF lead every published
method) but leaves mid-scale texture softer than a multi-scale rule (the Laplacian baseline's SF and AG
lead every method on RoadScene). This stage keeps FusionNet's output as the base and, at each pyramid
level ``l``, adds ``gain_l · (D_l − L_l(F))`` where ``L_l(F)`` is the fused image's own band and ``D_l``
the band of whichever source is stronger there (largest absolute value, the classic choose-max rule of
Burt & Adelson pyramid fusion). Gain 0 leaves a band as the network made it, 1 replaces it by the
stronger source's band. No weights: the gains live in :class:`~fusion_core.model.FusionNetConfig`
(``pyramid_gains``, finest band first), so the stage is part of the exported graph and of every
checkpoint that sets it, and an empty tuple (every model before it) skips it entirely. Measured on the dev
split (docs/evaluation.md, "Two more directions"): EN, SF, AG and SCD rise, MI and Qabf fall, and at 640×480
on the CPU the gains (0.75, 0.5, 0.25) cost 1.56–1.62× the plain model's fusion time, so the shipped model has it off.

The pyramid is Gaussian 5-tap ([1 4 6 4 1] / 16, separable) with stride-2 decimation, edge pixels
replicated, and bilinear expansion back to each level's exact size, so any H and W work and
reconstruction is exact by construction (each band is defined with the same expansion).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .guided import upsample_to

_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)


def gaussian_kernel(channels: int, like: torch.Tensor) -> torch.Tensor:
    """(channels, 1, 5, 5) depthwise binomial kernel summing to 1."""
    taps = torch.tensor(_TAPS, dtype=like.dtype, device=like.device) / 16.0
    return torch.outer(taps, taps).expand(channels, 1, 5, 5).contiguous()


def reduce(x: torch.Tensor, channels: int) -> torch.Tensor:
    """One pyramid step down: 5×5 Gaussian blur and every second pixel, (B, C, H, W) -> ceil(H/2), ceil(W/2).

    ``channels`` (= C) is passed as a Python int so the ONNX export sees a kernel of known shape. (A separable
    form, a horizontal then a vertical pass, ran 1.8 ms faster in ONNX Runtime at 640x480 but its rounding
    flipped the choose-max rule at near-ties, 4 pixels by 1-3 grey levels; the 5×5 keeps outputs unchanged.)"""
    padded = F.pad(x, (2, 2, 2, 2), mode="replicate")
    return F.conv2d(padded, gaussian_kernel(channels, x), stride=2, groups=channels)


def band(level: torch.Tensor, smaller: torch.Tensor) -> torch.Tensor:
    """One Laplacian band: a Gaussian level less the next, coarser one expanded to its size."""
    return level - upsample_to(smaller, level)


def laplacian_bands(x: torch.Tensor, levels: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """(bands finest first, each ``g_l − expand(g_{l+1})``; the coarsest Gaussian level)."""
    gaussians = gaussian_levels(x, levels)
    return [band(g, smaller) for g, smaller in zip(gaussians, gaussians[1:])], gaussians[-1]


def gaussian_levels(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``levels + 1`` Gaussian levels, ``x`` first."""
    out, channels = [x], int(x.shape[1])
    for _ in range(levels):
        out.append(reduce(out[-1], channels))
    return out


def choose_stronger(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per pixel, whichever of ``a`` and ``b`` has the larger magnitude (``b`` on ties).

    Written as ``m·a + (1 − m)·b`` with ``m`` ∈ {0, 1}: each product is exactly one operand or zero, so the
    values are those of ``torch.where`` to the bit, and the detail transfer's ONNX graph at 640x480 runs
    2.8 ms faster on one CPU thread than with ONNX Runtime's Where (which alone took 2.5 ms there)."""
    pick = (a.abs() > b.abs()).to(a.dtype)
    return pick * a + (1.0 - pick) * b


def detail_transfer(fused: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor, gains: tuple[float, ...]) -> torch.Tensor:
    """``fused`` + Σ_l gains[l] · (choose-max band of IR/VI − fused's band), all (B, 1, H, W), not clamped.

    A band whose gain is 0 is never formed (leading zeros keep the stage off the full-resolution bands), and
    the pyramid stops at the coarsest band with a gain."""
    used = [level for level, gain in enumerate(gains) if gain]
    if not used:
        return fused
    gaussians = gaussian_levels(torch.cat((fused, ir, vi), dim=1), used[-1] + 1)
    correction = None
    for level in reversed(range(used[-1] + 1)):  # coarsest first, expanding the running sum level by level
        g = gaussians[level]
        if correction is not None:
            correction = upsample_to(correction, g)
        if gains[level] == 0:
            continue
        f_band, ir_band, vi_band = band(g, gaussians[level + 1]).split(1, dim=1)
        stronger = choose_stronger(ir_band, vi_band)
        step = gains[level] * (stronger - f_band)
        correction = step if correction is None else correction + step
    assert correction is not None
    return fused + correction
