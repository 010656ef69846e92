"""Information measures from grey-level histograms: EN of the fused image and MI against both sources.

Conventions (the MATLAB scripts of the IVIF papers, e.g. ``entropy(uint8(F))`` and Qu Xiao-bo's
``analysis_MI``/``Hab``): every pixel is rounded to an integer grey level 0..255 (halves up, as
MATLAB's ``uint8`` does), histograms have 256 bins (joint: 256×256) on those levels, never on a
min–max rescaled image, and logarithms are base 2, so the results are in bits.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_luminance, check_fusion_inputs, check_same_shape, grey_levels

LEVELS = 256


def _entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy (bits) of a histogram of counts; empty bins contribute nothing."""
    nz = counts[counts > 0].astype(np.float64)
    p = nz / nz.sum()
    return float(-(p * np.log2(p)).sum())


def en(fused: np.ndarray) -> float:
    """EN: Shannon entropy in bits of the fused image's 256-bin grey-level histogram. Higher is better.

    Input: float luminance 0–255 (H, W), never min–max normalised; computed on F only, range [0, 8].
    A constant image has EN 0; an image with two equally frequent levels has EN 1.
    """
    f = as_luminance(fused, "fused")
    return _entropy_bits(np.bincount(grey_levels(f).ravel(), minlength=LEVELS))


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """MI(a, b) = H(a) + H(b) - H(a, b) in bits, from the 256×256 joint histogram of the grey levels.

    Inputs: float luminance 0–255 (H, W), same shape. Symmetric; MI(x, x) = EN(x).
    """
    x, y = as_luminance(a, "a"), as_luminance(b, "b")
    check_same_shape(a=x, b=y)
    joint = np.bincount((grey_levels(x) * LEVELS + grey_levels(y)).ravel(), minlength=LEVELS * LEVELS)
    joint = joint.reshape(LEVELS, LEVELS)  # (levels of a, levels of b)
    return _entropy_bits(joint.sum(axis=1)) + _entropy_bits(joint.sum(axis=0)) - _entropy_bits(joint.ravel())


def mi(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """MI: MI(F, IR) + MI(F, VI) in bits (the SUM over both sources, as the benchmarks report it).

    Inputs: float luminance 0–255 (H, W), same shape, never min–max normalised. Higher is better;
    range [0, 16]. With F = IR = VI it equals 2·EN(F).
    """
    f, a, b = check_fusion_inputs(fused, ir, vi)
    return mutual_information(f, a) + mutual_information(f, b)
