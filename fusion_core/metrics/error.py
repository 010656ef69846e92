"""Reference-based error measures against the two sources: MSE and PSNR.

Both are averaged over the sources (not summed), on the 0–255 scale, so a fused image 1 grey
level away from both sources everywhere has MSE 1 and PSNR 48.13 dB.
"""

from __future__ import annotations

import numpy as np

from ._checks import PEAK, check_fusion_inputs


def mse(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """MSE = (MSE(F, IR) + MSE(F, VI)) / 2 in squared grey levels. LOWER is better.

    Inputs: float luminance 0–255 (H, W), same shape, never min–max normalised; uses both sources
    (the MEAN of the two).
    """
    f, a, b = check_fusion_inputs(fused, ir, vi)
    return float((np.mean(np.square(f - a)) + np.mean(np.square(f - b))) * 0.5)


def psnr_from_mse(value: float) -> float:
    """10·log10(255² / MSE) in dB; +inf when MSE is 0."""
    return float("inf") if value <= 0.0 else float(10.0 * np.log10(PEAK * PEAK / value))


def psnr(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """PSNR = 10·log10(255² / MSE) with MSE of :func:`mse` (mean over both sources). Higher is better.

    Inputs: float luminance 0–255 (H, W), same shape. Returns +inf when F equals both sources.
    """
    return psnr_from_mse(mse(fused, ir, vi))
