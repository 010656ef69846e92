"""Box filtering and the fast guided filter used to bring low-resolution maps back to full resolution.

The fast guided filter (He & Sun, "Fast Guided Filter", arXiv:1505.00996) fits a local linear model
``q = A·I + b`` between a guide image ``I`` and the map ``p`` at low resolution, upsamples ``A`` and
``b`` bilinearly and applies them to the full-resolution guide, so α edges follow image edges
instead of the blurry low-resolution grid. All operations export to ONNX (AveragePool, Resize).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)² window, edges averaged over the valid pixels only. (B, C, H, W) -> same."""
    if radius == 0:
        return x
    k = 2 * radius + 1
    return F.avg_pool2d(x, kernel_size=k, stride=1, padding=radius, count_include_pad=False)


def downsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Area downsampling by ``scale``; sizes that do not divide are rounded up (partial cells averaged)."""
    if scale == 1:
        return x
    return F.avg_pool2d(x, kernel_size=scale, stride=scale, ceil_mode=True, count_include_pad=False)


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear upsampling of ``x`` to the spatial size of ``like``."""
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def fast_guided_upsample(p_low: torch.Tensor, guide_low: torch.Tensor, guide_high: torch.Tensor, radius: int, eps: float,
                         high_scale: float = 1.0) -> torch.Tensor:
    """Upsample ``p_low`` (B, 1, h, w) to the size of ``guide_high`` (B, 1, H, W), edge-aware.

    ``high_scale``: ``guide_high`` is the full-resolution guide times ``1 / high_scale`` (FusionNet passes
    IR + VI for the guide (IR + VI) / 2); the factor goes on the low-resolution slope instead of a
    full-resolution pass. For a power of two the result is the same to the bit."""
    mean_i = box_filter(guide_low, radius)
    mean_p = box_filter(p_low, radius)
    cov_ip = box_filter(guide_low * p_low, radius) - mean_i * mean_p
    var_i = box_filter(guide_low * guide_low, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    a = box_filter(a, radius)
    if high_scale != 1.0:
        a = a * high_scale
    b = box_filter(b, radius)
    return upsample_to(a, guide_high) * guide_high + upsample_to(b, guide_high)
