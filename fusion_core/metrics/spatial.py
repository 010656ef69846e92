"""Single-image statistics of the fused image: contrast (SD) and sharpness (SF, AG).

All three look at F alone (no source images) and are in grey levels of the 0–255 scale, so the
input must never be min–max normalised: stretching F would inflate every one of them.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._checks import as_luminance


def _at_least_2x2(img: np.ndarray, metric: str) -> None:
    if min(img.shape) < 2:
        raise InputError(f"{metric} needs an image of at least 2x2 pixels, got shape {img.shape}")


def sd(fused: np.ndarray) -> float:
    """SD: standard deviation of F in grey levels (population form, divides by H·W). Higher is better.

    Input: float luminance 0–255 (H, W); F only. (MATLAB ``std2`` divides by H·W−1: a relative
    difference of 1.6e-6 at 640×480.)
    """
    return float(as_luminance(fused, "fused").std())


def sf(fused: np.ndarray) -> float:
    """SF: spatial frequency sqrt(RF² + CF²) of F. Higher is better.

    RF² is the mean squared vertical first difference F[i+1, j] − F[i, j] over the (H−1)×W pairs,
    CF² the mean squared horizontal one over the H×(W−1) pairs. Input: float luminance 0–255
    (H, W), at least 2×2; F only. A ramp rising by a per column and b per row has SF = sqrt(a² + b²).
    """
    f = as_luminance(fused, "fused")
    _at_least_2x2(f, "SF")
    rf2 = np.mean(np.square(np.diff(f, axis=0)))
    cf2 = np.mean(np.square(np.diff(f, axis=1)))
    return float(np.sqrt(rf2 + cf2))


def ag(fused: np.ndarray) -> float:
    """AG: average gradient of F, the MATLAB ``avg_gradient`` convention. Higher is better.

    With (gx, gy) = MATLAB/NumPy ``gradient(F)`` (central differences inside, one-sided at the
    border), AG = Σ sqrt((gx² + gy²)/2) / ((H−1)(W−1)): the sum runs over all H×W pixels and is
    normalised by the (H−1)(W−1) grid of pixel-to-pixel steps. Input: float luminance 0–255
    (H, W), at least 2×2; F only. A ramp rising by a per column and b per row has
    AG = sqrt((a² + b²)/2) · H·W / ((H−1)(W−1)).
    """
    f = as_luminance(fused, "fused")
    _at_least_2x2(f, "AG")
    gy, gx = np.gradient(f)  # (H, W) each: d/drow, d/dcol
    h, w = f.shape
    return float(np.sqrt((gx * gx + gy * gy) * 0.5).sum() / ((h - 1) * (w - 1)))
