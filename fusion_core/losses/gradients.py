"""Sobel image gradients for the texture losses.

The kernels are divided by 8 so a gradient is the intensity change per pixel: a linear ramp of
slope ``s`` gives ``gx = s`` and a one-pixel step of height ``h`` gives at most ``h/2``. Borders use
replicate padding, so the image frame never looks like an edge.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Signed Sobel derivatives. (B, 1, H, W) -> (B, 2, H, W) holding [d/dx, d/dy]."""
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"sobel expects (B, 1, H, W), got {tuple(x.shape)}")
    kx = _SOBEL_X.to(device=x.device, dtype=x.dtype)
    kernels = torch.stack((kx, kx.t()))[:, None]  # (2, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels)


def gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """L1 gradient magnitude |d/dx| + |d/dy| (cheap and the usual choice in fusion losses). (B, 1, H, W) -> same."""
    g = sobel(x)
    return g.abs().sum(dim=1, keepdim=True)
