"""The whole IVIF metric suite on one (fused, ir, vi) triple, in the order reports print it.

Every metric takes float luminance on the 0–255 scale, (H, W), never min–max normalised (see
:mod:`fusion_core.metrics` for the per-metric conventions). Shared intermediate results (the
SSIM maps, the MSE) are computed once.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_fusion_inputs
from .entropy import en, mi
from .error import psnr_from_mse
from .error import mse as _mse
from .qabf import qabf
from .scd import scd
from .spatial import ag, sd, sf
from .ssim import roi_ssim_from_maps, ssim_from_maps, ssim_maps
from .vif import vif

# Table order of the IVIF papers (information, contrast, sharpness, source fidelity, errors, ROI).
METRICS: tuple[str, ...] = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "MSE", "PSNR", "ROI-SSIM")

# True where a larger value means a better fusion; MSE is the only error measure read the other way.
HIGHER_IS_BETTER: dict[str, bool] = {name: name != "MSE" for name in METRICS}


def compute_all(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, roi_mask: np.ndarray | None = None) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one pair, keyed by name in table order.

    ``fused``, ``ir``, ``vi``: float luminance 0–255 (H, W) of the same shape (at least 41×41 for
    VIF). ``roi_mask``: optional bool (H, W) target mask for ROI-SSIM; None or an all-False mask
    gives ROI-SSIM = NaN. Other NaNs mean a metric is undefined for this input (e.g. SCD with a
    constant image); see each metric's docstring.
    """
    f, a, b = check_fusion_inputs(fused, ir, vi)
    maps = ssim_maps(f, a, b)
    error = _mse(f, a, b)
    values = {
        "EN": en(f),
        "SD": sd(f),
        "SF": sf(f),
        "AG": ag(f),
        "MI": mi(f, a, b),
        "SCD": scd(f, a, b),
        "VIF": vif(f, a, b),
        "Qabf": qabf(f, a, b),
        "SSIM": ssim_from_maps(maps),
        "MSE": error,
        "PSNR": psnr_from_mse(error),
        "ROI-SSIM": roi_ssim_from_maps(maps, roi_mask),
    }
    assert tuple(values) == METRICS
    return values
