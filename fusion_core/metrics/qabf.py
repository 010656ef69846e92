"""Qabf: the Xydeas–Petrović gradient-based fusion quality (Electronics Letters, 2000).

How well the edges (Sobel strength and orientation) of both sources survive in F, weighted by the
sources' edge strength. Conventions of the common MATLAB ``Qabf.m``: 3×3 Sobel by ``conv2(.., 'same')``
(zero padding), orientation atan(gy/gx) with π/2 where gx = 0, strength ratio 0 where either
strength is 0, and constants Tg = 0.9994, kg = −15, Dg = 0.5, Ta = 0.9879, ka = −22, Da = 0.8, L = 1.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._checks import check_fusion_inputs

TG, KG, DG = 0.9994, -15.0, 0.5
TA, KA, DA = 0.9879, -22.0, 0.8
L = 1.0

# Sobel kernels as written for conv2; flipped here so that cv2.filter2D (a correlation) convolves.
_SOBEL_Y = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64)[::-1, ::-1].copy()
_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)[::-1, ::-1].copy()


def _edges(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(strength, orientation) maps, (H, W) each; orientation in (−π/2, π/2]."""
    gx = cv2.filter2D(img, cv2.CV_64F, _SOBEL_X, borderType=cv2.BORDER_CONSTANT)
    gy = cv2.filter2D(img, cv2.CV_64F, _SOBEL_Y, borderType=cv2.BORDER_CONSTANT)
    strength = np.sqrt(gx * gx + gy * gy)
    zero = gx == 0
    angle = np.where(zero, np.pi / 2, np.arctan(gy / np.where(zero, 1.0, gx)))
    return strength, angle


def _preservation(g_src: np.ndarray, a_src: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    """Q^{SF}: per-pixel edge preservation of one source in F, in [0, 1)."""
    both = (g_src > 0) & (g_f > 0)
    lo, hi = np.minimum(g_src, g_f), np.maximum(g_src, g_f)
    g_ratio = np.where(both, lo / np.where(both, hi, 1.0), 0.0)
    a_ratio = 1.0 - np.abs(a_src - a_f) / (np.pi / 2)
    qg = TG / (1.0 + np.exp(KG * (g_ratio - DG)))
    qa = TA / (1.0 + np.exp(KA * (a_ratio - DA)))
    return qg * qa


def qabf(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """Qabf = Σ(Q^{IR,F}·w_IR + Q^{VI,F}·w_VI) / Σ(w_IR + w_VI), w = source edge strength^L. Higher is better.

    Inputs: float luminance 0–255 (H, W), same shape, never min–max normalised; uses both sources
    (one joint score, symmetric in IR and VI). Range [0, 1); F = IR = VI scores
    Tg/(1+e^{kg(1−Dg)}) · Ta/(1+e^{ka(1−Da)}) ≈ 0.97479. The zero padding of ``conv2(.., 'same')``
    gives even a flat non-zero image edges along its border, as in the MATLAB code; only all-zero
    sources have no edges at all, and then the score is NaN.
    """
    f, a, b = check_fusion_inputs(fused, ir, vi)
    g_a, ang_a = _edges(a)
    g_b, ang_b = _edges(b)
    g_f, ang_f = _edges(f)
    w_a, w_b = g_a ** L, g_b ** L
    total = float((w_a + w_b).sum())
    if total == 0.0:
        return float("nan")
    score = (_preservation(g_a, ang_a, g_f, ang_f) * w_a + _preservation(g_b, ang_b, g_f, ang_f) * w_b).sum()
    return float(score / total)
