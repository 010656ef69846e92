"""VIF: multiscale pixel-domain visual information fidelity (Sheikh & Bovik 2006, ``vifp_mscale``).

Per source S (the reference) and the fused image F (the "distorted" image), at 4 scales with
Gaussian windows of N = 17, 9, 5, 3 taps and σ = N/5 ('valid' filtering; before scales 2–4 both
images are filtered with that scale's window and decimated by 2), with the GSM noise variance
σ_n² = 2 and the same guards as the reference code:

    g = σ_SF / σ_S²,  σ_v² = σ_F² − g·σ_SF   (clamped as in vifp_mscale)
    VIF(S, F) = Σ log10(1 + g²σ_S² / (σ_v² + σ_n²)) / Σ log10(1 + σ_S² / σ_n²)

The fusion score is VIF(IR, F) + VIF(VI, F), the SUM over both sources as the IVIF benchmarks
report it, so F = IR = VI scores 2.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._checks import as_luminance, check_fusion_inputs, check_same_shape
from ._filters import filter_valid

SIGMA_NSQ = 2.0
SCALES = 4
_EPS = 1e-10


def vifp(reference: np.ndarray, fused: np.ndarray) -> float:
    """VIF(reference, fused) in [0, ~1] (above 1 when F enhances contrast); NaN for a constant reference.

    Inputs: float luminance 0–255 (H, W), same shape, each side at least 41 pixels (the smallest
    size on which all 4 scales have a valid window).
    """
    ref, dist = as_luminance(reference, "reference"), as_luminance(fused, "fused")
    check_same_shape(reference=ref, fused=dist)
    num = den = 0.0
    try:
        for scale in range(1, SCALES + 1):
            n = 2 ** (SCALES - scale + 1) + 1  # 17, 9, 5, 3
            s = n / 5.0
            if scale > 1:
                ref = filter_valid(ref, n, s)[::2, ::2]
                dist = filter_valid(dist, n, s)[::2, ::2]
            mu1, mu2 = filter_valid(ref, n, s), filter_valid(dist, n, s)
            mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
            s1 = np.maximum(filter_valid(ref * ref, n, s) - mu1_sq, 0.0)
            s2 = np.maximum(filter_valid(dist * dist, n, s) - mu2_sq, 0.0)
            s12 = filter_valid(ref * dist, n, s) - mu12
            num_s, den_s = _scale_terms(s1, s2, s12)
            num += num_s
            den += den_s
    except ValueError as exc:
        raise InputError(f"VIF needs images of at least 41x41 pixels ({exc} at scale {scale})") from exc
    return num / den if den > 0 else float("nan")


def _scale_terms(s1: np.ndarray, s2: np.ndarray, s12: np.ndarray) -> tuple[float, float]:
    """Numerator and denominator sums of one scale from the local (co)variances, with vifp_mscale's guards."""
    g = s12 / (s1 + _EPS)
    sv = s2 - g * s12
    flat_ref = s1 < _EPS
    g[flat_ref] = 0.0
    sv[flat_ref] = s2[flat_ref]
    s1 = np.where(flat_ref, 0.0, s1)
    flat_fused = s2 < _EPS
    g[flat_fused] = 0.0
    sv[flat_fused] = 0.0
    negative = g < 0
    sv[negative] = s2[negative]
    g[negative] = 0.0
    sv = np.maximum(sv, _EPS)
    num = np.log10(1.0 + g * g * s1 / (sv + SIGMA_NSQ)).sum()
    den = np.log10(1.0 + s1 / SIGMA_NSQ).sum()
    return float(num), float(den)


def vif(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """VIF = VIF(IR, F) + VIF(VI, F): the SUM over both sources (see the module docstring). Higher is better.

    Inputs: float luminance 0–255 (H, W), same shape, at least 41×41, never min–max normalised.
    """
    f, a, b = check_fusion_inputs(fused, ir, vi)
    return vifp(a, f) + vifp(b, f)
