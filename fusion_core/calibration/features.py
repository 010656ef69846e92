"""The structure both cameras share: edge orientation, independent of contrast and polarity.

Thermal and visible intensities are not related monotonically (a warm road can be darker or brighter
than the sky), so neither raw intensities nor gradient magnitudes can be compared directly. The local
edge *direction* is shared, up to a sign flip when the contrast inverts. The orientation field here is
the normalised gradient field (NGF, Haber & Modersitzki 2006) in doubled-angle form:

    w = g² / (|g|² + ε²),   g = gx + i·gy   (complex)

``arg w = 2θ`` is the same for a gradient and its negation (sign invariant), ``|w| ∈ [0, 1)`` is an
edge confidence that saturates on strong edges (so a few hot objects do not dominate) and fades on
flat or noisy areas below ``ε``. Two fields agree where ``Re(w_a · conj(w_b)) = |w_a||w_b| cos 2Δθ``
is large.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError


def to_grey(image: np.ndarray, where: str = "image") -> np.ndarray:
    """(H, W) float32 on 0–1 from uint8/uint16 (H, W) or (H, W, 3|4) images (channels averaged)."""
    scale = 65535.0 if image.dtype == np.uint16 else 255.0 if image.dtype == np.uint8 else 1.0
    if image.ndim == 3:
        image = image[..., :3].mean(axis=2)
    if image.ndim != 2 or min(image.shape) < 16:
        raise InputError(f"{where}: expected an (H, W) or (H, W, C) image of at least 16x16 pixels, got shape {image.shape}")
    out = image.astype(np.float32) / scale
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def resize_to_width(grey: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    """``grey`` resampled (area-averaged when shrinking) to ``width``, and the factor applied to coordinates."""
    h, w = grey.shape
    k = width / w
    size = (width, max(int(round(h * k)), 1))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR), k


def gradients(grey: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Sobel derivatives (per pixel, on the image's own scale) after a Gaussian blur of ``sigma`` pixels."""
    if sigma > 0:
        grey = cv2.GaussianBlur(grey, (0, 0), sigma)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return gx, gy


def edge_scale(gx: np.ndarray, gy: np.ndarray, valid: np.ndarray | None = None) -> float:
    """ε of the field: the mean gradient magnitude (over ``valid`` pixels), so the field does not depend
    on the image's contrast. Flat images give a tiny ε; :func:`structure_fraction` catches them."""
    mag = np.hypot(gx, gy)
    values = mag[valid] if valid is not None else mag
    return float(values.mean()) + 1e-6 if values.size else 1e-6


def orientation_field(grey: np.ndarray, sigma: float, eps: float | None = None) -> tuple[np.ndarray, float]:
    """(H, W) complex64 doubled-angle field ``w`` of ``grey`` and the ε used (see the module docstring)."""
    gx, gy = gradients(grey, sigma)
    if eps is None:
        eps = edge_scale(gx, gy)
    g = gx.astype(np.complex64) + 1j * gy.astype(np.complex64)
    return (g * g / (gx * gx + gy * gy + eps * eps)).astype(np.complex64), eps


def structure_fraction(grey: np.ndarray, sigma: float, contrast: float = 0.01) -> float:
    """Fraction of pixels whose blurred gradient exceeds ``contrast`` (per pixel, 0–1 image scale).

    An absolute threshold, unlike ε: a flat or nearly flat image (sensor noise only) scores ≈ 0 and is
    refused before the search, where its normalised field would be noise."""
    gx, gy = gradients(grey, sigma)
    return float(np.mean(np.hypot(gx, gy) > contrast))
