"""YOLOX input preparation: fit the image into a square canvas keeping its aspect ratio, and map boxes back.

The image is scaled by ``ratio = min(S / H, S / W)`` (bilinear), placed at the canvas' top-left corner
(as YOLOX's own pre-processing does, so the padding lies right and below), and the rest is filled
with 114. The tensor is BGR 0–255 float32, NCHW, without mean/std normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How an (height, width) image was placed in the ``size`` × ``size`` canvas.

    A point (x, y) of the image lands at (x · ratio + pad_x, y · ratio + pad_y) on the canvas.
    """

    size: int
    ratio: float
    pad_x: float
    pad_y: float
    height: int
    width: int


def letterbox(image_bgr: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """(H, W, 3) uint8 BGR -> ((1, 3, size, size) float32 BGR 0–255, placement)."""
    h, w = image_bgr.shape[:2]
    ratio = min(size / h, size / w)
    new_w, new_h = max(1, int(w * ratio)), max(1, int(h * ratio))
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    tensor = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)  # (1, 3, S, S)
    return tensor, Letterbox(size=size, ratio=ratio, pad_x=0.0, pad_y=0.0, height=h, width=w)


def boxes_to_canvas(boxes_xyxy: np.ndarray, placement: Letterbox) -> np.ndarray:
    """(N, 4) image-pixel boxes -> canvas pixels (the forward map; tests and drawing use it)."""
    offset = np.array([placement.pad_x, placement.pad_y, placement.pad_x, placement.pad_y])
    return np.asarray(boxes_xyxy, dtype=np.float64) * placement.ratio + offset


def boxes_to_image(boxes_xyxy: np.ndarray, placement: Letterbox) -> np.ndarray:
    """(N, 4) canvas-pixel boxes -> image pixels, clipped to [0, width] × [0, height]."""
    offset = np.array([placement.pad_x, placement.pad_y, placement.pad_x, placement.pad_y])
    out = (np.asarray(boxes_xyxy, dtype=np.float64) - offset) / placement.ratio
    out[:, 0::2] = out[:, 0::2].clip(0.0, placement.width)
    out[:, 1::2] = out[:, 1::2].clip(0.0, placement.height)
    return out
