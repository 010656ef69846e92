"""Differentiable SSIM (Wang et al. 2004) for losses on [0, 1] images.

Gaussian window 11×11, σ = 1.5, constants ``K1 = 0.01``, ``K2 = 0.03`` times ``data_range`` (1 for
[0, 1] tensors), statistics over the *valid* window positions only (no padding), as in the
reference implementation and the metric suite. Images smaller than the window are refused.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError

WINDOW = 11
SIGMA = 1.5


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian taps, shape (size,)."""
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2.0
    g = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable valid Gaussian filtering of (B, C, H, W) with the (k,) taps ``g``."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = WINDOW, sigma: float = SIGMA) -> torch.Tensor:
    """Per-position SSIM of two (B, C, H, W) images -> (B, C, H-window+1, W-window+1)."""
    if x.shape != y.shape:
        raise InputError(f"ssim needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.dim() != 4 or min(x.shape[-2:]) < window:
        raise InputError(f"ssim needs (B, C, H, W) with H, W >= {window}, got {tuple(x.shape)}")
    g = gaussian_window(window, sigma, x.device, x.dtype)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_x, mu_y = _blur(x, g), _blur(y, g)
    sxx = _blur(x * x, g) - mu_x * mu_x
    syy = _blur(y * y, g) - mu_y * mu_y
    sxy = _blur(x * y, g) - mu_x * mu_y
    num = (2.0 * mu_x * mu_y + c1) * (2.0 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return num / den


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM over positions, channels and the batch (a scalar tensor); 1 for identical images."""
    return ssim_map(x, y, data_range).mean()
