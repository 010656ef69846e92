"""SCD, the sum of the correlations of differences (Aslantas & Bendes, 2015)."""

from __future__ import annotations

import numpy as np

from ._checks import check_fusion_inputs


def corr2(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two same-shape arrays (MATLAB ``corr2``); NaN when either is constant."""
    da, db = a - a.mean(), b - b.mean()
    den = np.sqrt(np.sum(da * da) * np.sum(db * db))
    return float(np.sum(da * db) / den) if den > 0 else float("nan")


def scd(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """SCD = corr(F − VI, IR) + corr(F − IR, VI): how much of each source the fused image carries.

    Inputs: float luminance 0–255 (H, W), same shape; uses both sources. Higher is better, range
    [−2, 2]; F = IR + VI − mean gives 2. NaN when a difference image or a source is constant
    (the correlation is undefined; MATLAB's ``corr2`` gives NaN too).
    """
    f, a, b = check_fusion_inputs(fused, ir, vi)
    return corr2(f - b, a) + corr2(f - a, b)
