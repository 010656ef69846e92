"""The before/after picture of ``ivif calibrate --overlay``: thermal edges drawn over the visible image.

Left: the thermal frame mapped by a plain resize (what fusion does without a calibration); right: mapped
by the estimated homography. Edges (Canny on the warped thermal) are drawn in magenta over the dimmed
visible luminance, so a good calibration shows them on the visible image's own outlines. Given the
calibration's edge residual (:mod:`.residual`), the right panel also shows each measured tile's shift as a
green arrow, enlarged ``ARROW_GAIN`` times, from the visible edges to where the thermal ones lie: where the
arrows are long or agree in direction, the mapping is off there (a near object's parallax, lens distortion).
"""

from __future__ import annotations

import cv2
import numpy as np

from .features import to_grey
from .geometry import naive_resize
from .residual import ResidualField

ARROW_GAIN = 5.0
ARROW_RGB = (0, 255, 0)


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


def before_after(thermal: np.ndarray, visible: np.ndarray, h: np.ndarray, width: int = 640,
                 residual: ResidualField | None = None) -> np.ndarray:
    """Two :func:`edge_overlay` panels side by side (naive resize | ``h``), each ``width`` pixels wide; with
    ``residual`` (visible px), its tile shifts as arrows on the right panel."""
    vh, vw = visible.shape[:2]
    t_size = (thermal.shape[1], thermal.shape[0])
    k = width / vw
    panels = []
    for label, mapping in (("before: resize", naive_resize(t_size, (vw, vh))), ("after: calibrated", h)):
        panel = edge_overlay(thermal, visible, mapping)
        panel = cv2.resize(panel, (width, max(int(round(vh * k)), 1)), interpolation=cv2.INTER_AREA)
        if mapping is h and residual is not None:
            _draw_residual(panel, residual, k)
            label += f", edge residual x{ARROW_GAIN:g}"
        cv2.putText(panel, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 1, cv2.LINE_AA)
        panels.append(panel)
    return np.concatenate(panels, axis=1)


def _draw_residual(panel: np.ndarray, residual: ResidualField, k: float) -> None:
    """Each valid tile's shift as an arrow from its centre, ``ARROW_GAIN`` times its length (``k``: panel px per
    visible px)."""
    for centre, shift in zip(residual.centres[residual.valid], residual.shifts[residual.valid]):
        start = centre * k
        end = start + ARROW_GAIN * shift * k
        cv2.arrowedLine(panel, tuple(int(round(v)) for v in start), tuple(int(round(v)) for v in end), ARROW_RGB, 1,
                        cv2.LINE_AA, tipLength=0.25)
