"""SSIM of the fused image against both sources, over the whole image or inside ROI masks.

Conventions: Wang et al. (2004) SSIM with an 11×11 Gaussian window of σ = 1.5, data range
L = 255, K1 = 0.01, K2 = 0.03 (C1 = (K1·L)², C2 = (K2·L)²). Local statistics are filtered with
replicated borders (MATLAB's built-in ``ssim``), so the SSIM map has one value per pixel, (H, W),
and an ROI mask selects map values directly. The image score is the mean of the map.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._checks import PEAK, as_luminance, check_fusion_inputs, check_same_shape
from ._filters import filter_same

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) local SSIM of two float luminance 0–255 images of the same shape; 1 where they agree.

    Symmetric in ``a`` and ``b``.
    """
    x, y = as_luminance(a, "a"), as_luminance(b, "b")
    check_same_shape(a=x, b=y)
    c1, c2 = (K1 * PEAK) ** 2, (K2 * PEAK) ** 2
    mu_x, mu_y = filter_same(x, WINDOW, SIGMA), filter_same(y, WINDOW, SIGMA)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = filter_same(x * x, WINDOW, SIGMA) - mu_xx
    var_y = filter_same(y * y, WINDOW, SIGMA) - mu_yy
    cov = filter_same(x * y, WINDOW, SIGMA) - mu_xy
    return ((2.0 * mu_xy + c1) * (2.0 * cov + c2)) / ((mu_xx + mu_yy + c1) * (var_x + var_y + c2))


def ssim_maps(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(SSIM map of F vs IR, SSIM map of F vs VI), each (H, W); computed once, shared by SSIM and ROI-SSIM."""
    f, a, b = check_fusion_inputs(fused, ir, vi)
    return ssim_map(f, a), ssim_map(f, b)


def check_roi_mask(roi_mask: object, shape: tuple[int, ...]) -> np.ndarray:
    """A boolean (H, W) mask of the image's shape (bool or 0/1 integers accepted)."""
    if not isinstance(roi_mask, np.ndarray):
        raise InputError(f"roi_mask must be a numpy array, got {type(roi_mask).__name__}")
    if roi_mask.shape != tuple(shape):
        raise InputError(f"roi_mask shape {roi_mask.shape} does not match the images' shape {tuple(shape)}")
    if roi_mask.dtype != np.bool_:
        if roi_mask.dtype.kind not in "ui" or not np.isin(roi_mask, (0, 1)).all():
            raise InputError(f"roi_mask must be boolean (or 0/1 integers), got dtype {roi_mask.dtype}")
        roi_mask = roi_mask.astype(bool)
    return roi_mask


def ssim_from_maps(maps: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean over the two sources of each map's mean."""
    return float((maps[0].mean() + maps[1].mean()) * 0.5)


def roi_ssim_from_maps(maps: tuple[np.ndarray, np.ndarray], roi_mask: np.ndarray | None) -> float:
    """Mean over the two sources of each map's mean inside ``roi_mask``; NaN when the mask is None or empty."""
    if roi_mask is None:
        return float("nan")
    mask = check_roi_mask(roi_mask, maps[0].shape)
    if not mask.any():
        return float("nan")
    return float((maps[0][mask].mean() + maps[1][mask].mean()) * 0.5)


def ssim(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """SSIM = (SSIM(F, IR) + SSIM(F, VI)) / 2 — the MEAN over both sources, not the sum. Higher is better.

    Inputs: float luminance 0–255 (H, W), same shape, never min–max normalised. Range [−1, 1];
    SSIM(F, IR) is exactly 1 when F = IR, so F = IR = VI scores 1.
    """
    return ssim_from_maps(ssim_maps(fused, ir, vi))


def roi_ssim(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, roi_mask: np.ndarray | None) -> float:
    """ROI-SSIM: SSIM restricted to the targets, averaged over both sources. Higher is better.

    For each source S ∈ {IR, VI}: the mean of the full-image SSIM map of (F, S) (same window and
    constants as :func:`ssim`) over the pixels where ``roi_mask`` is True; then the MEAN of the
    two. The map is computed on the whole image, so pixels near a box edge see their real
    neighbourhood. ``roi_mask``: bool (H, W), e.g. from :func:`fusion_core.boxes.boxes_to_mask`.
    Returns NaN when the mask is None or has no True pixel (a pair without targets has no ROI
    score; aggregation skips it and counts the pairs that had one).
    """
    return roi_ssim_from_maps(ssim_maps(fused, ir, vi), roi_mask)
