"""The before/after picture of ``ivif calibrate --overlay``: thermal edges drawn over the visible image.

Left: the thermal frame mapped by a plain resize (what fusion does without a calibration); right: mapped
by the estimated homography. Edges (Canny on the warped thermal) are drawn in magenta over the dimmed
visible luminance, so a good calibration shows them on the visible image's own outlines.
"""

from __future__ import annotations

import cv2
import numpy as np

from .features import to_grey
from .geometry import naive_resize


def edge_overlay(thermal: np.ndarray, visible: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB: edges of ``thermal`` warped by ``h`` over the visible image's luminance."""
    vh, vw = visible.shape[:2]
    grey = to_grey(thermal)
    lo, hi = np.percentile(grey, (1, 99))
    t8 = np.clip((grey - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    warped = cv2.warpPerspective(cv2.GaussianBlur(t8, (0, 0), 1.0), h, (vw, vh), flags=cv2.INTER_LINEAR)
    foot = cv2.warpPerspective(np.full(t8.shape, 255, np.uint8), h, (vw, vh), flags=cv2.INTER_NEAREST)
    edges = cv2.Canny(warped, 40, 100) & cv2.erode(foot, np.ones((5, 5), np.uint8))
    base = (to_grey(visible) * 255 * 0.6).astype(np.uint8)
    out = np.dstack([base, base, base])
    out[edges > 0] = (255, 0, 255)
    return out


def before_after(thermal: np.ndarray, visible: np.ndarray, h: np.ndarray, width: int = 640) -> np.ndarray:
    """Two :func:`edge_overlay` panels side by side (naive resize | ``h``), each ``width`` pixels wide."""
    vh, vw = visible.shape[:2]
    t_size = (thermal.shape[1], thermal.shape[0])
    panels = []
    for label, mapping in (("before: resize", naive_resize(t_size, (vw, vh))), ("after: calibrated", h)):
        panel = edge_overlay(thermal, visible, mapping)
        panel = cv2.resize(panel, (width, max(int(round(vh * width / vw)), 1)), interpolation=cv2.INTER_AREA)
        cv2.putText(panel, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 1, cv2.LINE_AA)
        panels.append(panel)
    return np.concatenate(panels, axis=1)
