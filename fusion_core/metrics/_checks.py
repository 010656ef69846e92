"""Input validation shared by every metric: (H, W) float luminance on the 0–255 scale.

The metric suite never rescales its inputs (no min–max normalisation, no /255 guessing); it only
checks that the arrays are usable and converts them to float64 so that sums over 307,200 pixels
keep their precision.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

PEAK = 255.0  # the 0–255 luminance scale every metric assumes (data range of SSIM and PSNR)


def as_luminance(img: object, name: str) -> np.ndarray:
    """Validate one image and return it as a float64 (H, W) array (a view when already float64).

    Accepts any real numeric dtype holding values in [0, 255]; rejects other ranks, empty arrays,
    NaN/inf and out-of-range values with an :class:`InputError` that names ``name``.
    """
    if not isinstance(img, np.ndarray):
        raise InputError(f"{name} must be a numpy array, got {type(img).__name__}")
    if img.dtype.kind not in "uif" or img.dtype == np.bool_:
        raise InputError(f"{name} must hold real numbers (uint/int/float), got dtype {img.dtype}")
    if img.ndim != 2:
        raise InputError(f"{name} must be a 2-D (H, W) luminance array, got shape {img.shape}; "
                         "convert colour images with fusion_core.io.to_luminance")
    if img.size == 0:
        raise InputError(f"{name} is empty (shape {img.shape})")
    out = np.asarray(img, dtype=np.float64)
    lo, hi = float(out.min()), float(out.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError(f"{name} contains NaN or infinite values")
    if lo < 0.0 or hi > PEAK:
        raise InputError(f"{name} values must lie in [0, 255] (float luminance, never min–max normalised), "
                         f"got [{lo:.4g}, {hi:.4g}]")
    return out


def check_same_shape(**images: np.ndarray) -> None:
    """All given (already validated) images must share one (H, W); the message lists every shape."""
    shapes = {name: img.shape for name, img in images.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise InputError(f"images must have the same shape, got {listed}")


def check_fusion_inputs(fused: object, ir: object, vi: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a (fused, ir, vi) triple: each (H, W) in [0, 255], all the same shape; float64 out."""
    f, a, b = as_luminance(fused, "fused"), as_luminance(ir, "ir"), as_luminance(vi, "vi")
    check_same_shape(fused=f, ir=a, vi=b)
    return f, a, b


def grey_levels(img: np.ndarray) -> np.ndarray:
    """Integer grey level 0..255 of each pixel, rounding halves up like MATLAB's ``uint8(x)``.

    ``np.rint`` would round 2.5 to 2 (banker's rounding); the MATLAB scripts round it to 3, and the
    average of two 8-bit images is full of exact halves, so the difference is visible in EN and MI.
    """
    return np.floor(img + 0.5).astype(np.intp)  # inputs are validated to [0, 255]
