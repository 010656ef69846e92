"""Homography helpers shared by the estimator, the benchmark and the CLI.

Convention (as :mod:`fusion_core.registration`): ``H`` is a 3×3 float64 matrix mapping THERMAL pixel
coordinates ``(x, y, 1)`` to VISIBLE pixel coordinates, so ``cv2.warpPerspective(thermal, H,
visible_size)`` puts the thermal frame on the visible grid. Pixel centres are integer coordinates.
"""

from __future__ import annotations

import numpy as np

Size = tuple[int, int]  # (width, height) in pixels, OpenCV order


def scaling(kx: float, ky: float | None = None) -> np.ndarray:
    """3×3 matrix scaling pixel coordinates by ``kx``, ``ky`` (resampling an image by that factor)."""
    return np.diag([kx, kx if ky is None else ky, 1.0])


def translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def similarity(scale: float, angle_deg: float, centre_from: tuple[float, float], centre_to: tuple[float, float]) -> np.ndarray:
    """Scale and rotate about ``centre_from`` and move it onto ``centre_to``; image axes (y down), so a
    positive ``angle_deg`` turns clockwise on screen."""
    a = np.deg2rad(angle_deg)
    c, s = scale * np.cos(a), scale * np.sin(a)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return translation(*centre_to) @ rot @ translation(-centre_from[0], -centre_from[1])


def normalise(h: np.ndarray) -> np.ndarray:
    """``h / h[2, 2]`` as float64 (homographies are defined up to scale)."""
    h = np.asarray(h, dtype=np.float64).reshape(3, 3)
    return h / h[2, 2]


def apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points mapped by ``h``: (N, 2)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    hom = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ np.asarray(h, dtype=np.float64).T
    return hom[:, :2] / hom[:, 2:3]


def corners(size: Size) -> np.ndarray:
    """(4, 2) corner pixel centres of an image of ``size`` (w, h): TL, TR, BR, BL."""
    w, h = size
    return np.array([[0.0, 0.0], [w - 1.0, 0.0], [w - 1.0, h - 1.0], [0.0, h - 1.0]])


def corner_error(h_true: np.ndarray, h_est: np.ndarray, thermal_size: Size) -> float:
    """Largest distance (visible pixels) between the thermal image's 4 corners mapped by the two homographies."""
    c = corners(thermal_size)
    return float(np.max(np.linalg.norm(apply(h_true, c) - apply(h_est, c), axis=1)))


def resample(old_size: Size, new_size: Size) -> np.ndarray:
    """Pixel coordinates of an image -> those of the same image resized to ``new_size`` (``cv2.resize``
    and the registration's fallback map pixel areas onto pixel areas: ``x' = (x + 0.5) * w'/w - 0.5``)."""
    (w, h), (nw, nh) = old_size, new_size
    return translation(-0.5, -0.5) @ scaling(nw / w, nh / h) @ translation(0.5, 0.5)


def naive_resize(thermal_size: Size, visible_size: Size) -> np.ndarray:
    """The mapping of a plain resize of the thermal frame to the visible size (no calibration)."""
    return resample(thermal_size, visible_size)


def mean_scale(h: np.ndarray, at: tuple[float, float]) -> float:
    """Local isotropic scale of ``h`` at thermal point ``at``: sqrt |det J| (visible px per thermal px)."""
    x, y = at
    eps = 1.0
    p = apply(h, np.array([[x, y], [x + eps, y], [x, y + eps]]))
    jac = np.stack([p[1] - p[0], p[2] - p[0]], axis=1) / eps
    return float(np.sqrt(abs(np.linalg.det(jac))))


def overlap_displacement(h_ref: np.ndarray, h_est: np.ndarray, thermal_size: Size, visible_size: Size, step: int = 4) -> np.ndarray:
    """Distances (visible pixels) between where ``h_ref`` and ``h_est`` put the thermal pixels that ``h_ref``
    maps inside the visible frame, on a grid of every ``step``-th thermal pixel: the misalignment of the pixels
    that are actually fused, unlike :func:`corner_error`, which extrapolates to corners the visible camera may
    not see. Empty when no thermal pixel lands in the visible frame."""
    (tw, th), (vw, vh) = thermal_size, visible_size
    xs, ys = np.meshgrid(np.arange(0, tw, step, dtype=np.float64), np.arange(0, th, step, dtype=np.float64))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    ref = apply(h_ref, grid)
    inside = (ref[:, 0] >= -0.5) & (ref[:, 0] <= vw - 0.5) & (ref[:, 1] >= -0.5) & (ref[:, 1] <= vh - 0.5)
    return np.linalg.norm(apply(h_est, grid[inside]) - ref[inside], axis=1)
