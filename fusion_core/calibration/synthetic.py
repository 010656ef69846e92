"""A synthetic misaligned rig made from a registered pair, with its true homography.

Public fusion datasets are registered: IR and visible share one pixel grid (the "registered frame").
To measure calibration accuracy we render what two real cameras would see: a visible camera of
``visible_size`` (16:9) and a thermal camera of ``thermal_size`` whose field of view is narrower
(``fov_ratio`` of the visible's width, 0.67 ≈ tan 25° / tan 35°: a 50° thermal lens beside a 70° RGB
lens), then displaced by a random rig error. The true thermal→visible homography is known exactly.

* Visible: the registered visible image, centre-cropped to 16:9 and resized to ``visible_size``.
* Thermal: ``H_true = P · H_nominal · K``: ``H_nominal`` centres the thermal frame on the visible one at
  ``fov_ratio`` of its width; ``K`` moves the thermal corners by up to ``perspective`` of the thermal
  size (mild perspective); ``P`` is a similarity about the visible centre (rotation ±``max_rotation_deg``,
  scale in ``scale_range``, translation ±``max_shift`` of the visible width in x and in y). The thermal
  image is the registered IR sampled through ``H_true`` (and the crop), area-filtered, plus Gaussian
  sensor noise. Thermal pixels falling outside the registered IR are mirrored (BORDER_REFLECT_101):
  no data exist there, so they carry no true correspondence, like scene parts the visible camera misses.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import Size, corners, scaling, similarity, translation


@dataclass(frozen=True)
class SyntheticRig:
    """The random rig's ranges (see the module docstring); every draw is reproducible from its seed."""

    thermal_size: Size = (640, 512)
    visible_size: Size = (1280, 720)
    fov_ratio: float = 0.67
    scale_range: tuple[float, float] = (0.7, 1.4)
    max_rotation_deg: float = 5.0
    max_shift: float = 0.15
    perspective: float = 0.015
    noise: float = 2.0  # thermal sensor noise, grey levels of 255

    def crop_to_visible(self, registered_size: Size) -> np.ndarray:
        """Registered-frame pixels -> visible pixels: centre crop to the visible aspect, then resize."""
        (w, h), (vw, vh) = registered_size, self.visible_size
        cw = min(w, h * vw / vh)
        ch = cw * vh / vw
        x0, y0 = (w - cw) / 2, (h - ch) / 2
        k = vw / cw
        return translation(-0.5, -0.5) @ scaling(k) @ translation(0.5 - x0, 0.5 - y0)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """A random true homography thermal -> visible (3×3 float64)."""
        (tw, th), (vw, vh) = self.thermal_size, self.visible_size
        tc, vc = ((tw - 1) / 2, (th - 1) / 2), ((vw - 1) / 2, (vh - 1) / 2)
        nominal = similarity(self.fov_ratio * vw / tw, 0.0, tc, vc)
        src = corners(self.thermal_size).astype(np.float32)
        jitter = rng.uniform(-1, 1, size=(4, 2)) * self.perspective * np.array([tw, th])
        k = cv2.getPerspectiveTransform(src, (src + jitter).astype(np.float32))
        scale = float(np.exp(rng.uniform(*np.log(self.scale_range))))
        angle = float(rng.uniform(-self.max_rotation_deg, self.max_rotation_deg))
        shift = rng.uniform(-self.max_shift, self.max_shift, size=2) * vw
        p = similarity(scale, angle, vc, (vc[0] + shift[0], vc[1] + shift[1]))
        h = p @ nominal @ k
        return h / h[2, 2]

    def render(self, ir: np.ndarray, vi: np.ndarray, h_true: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(thermal uint8 (th, tw), visible uint8 like ``vi`` at ``visible_size``) seen by the rig ``h_true``.

        ``ir`` (H, W) and ``vi`` (H, W[, 3]) are a registered pair of one size."""
        size = (ir.shape[1], ir.shape[0])
        a = self.crop_to_visible(size)
        visible = cv2.warpPerspective(_prefilter(vi, a[0, 0]), a, self.visible_size, flags=cv2.INTER_LINEAR)
        g = np.linalg.inv(a) @ h_true  # thermal pixels -> registered pixels
        step = float(np.sqrt(abs(np.linalg.det(g[:2, :2]))))  # registered pixels per thermal pixel
        thermal = cv2.warpPerspective(_prefilter(ir, 1.0 / step).astype(np.float32), g, self.thermal_size,
                                      flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101)
        thermal = thermal + rng.normal(0.0, self.noise, size=thermal.shape)
        return np.clip(np.rint(thermal), 0, 255).astype(np.uint8), visible


def _prefilter(image: np.ndarray, zoom: float) -> np.ndarray:
    """Gaussian anti-aliasing before resampling by ``zoom`` (< 1 shrinks); unchanged when enlarging."""
    if zoom >= 1.0:
        return image
    return cv2.GaussianBlur(image, (0, 0), 0.5 * np.sqrt(1.0 / zoom ** 2 - 1.0))
