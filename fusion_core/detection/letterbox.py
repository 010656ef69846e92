"""YOLOX input preparation: fit the image into the model's canvas keeping its aspect ratio, and map boxes back.

The image is scaled by ``ratio = min(S / H, S / W)`` (bilinear), placed at the canvas' top-left corner
(as YOLOX's own pre-processing does, so the padding lies right and below), and the rest is filled
with 114. The canvas is S × S, or, with ``stride`` (rectangular inference), the scaled image rounded
up to a multiple of the network's coarsest stride: a 640x480 image at S = 416 fills 416 x 312 of a
416 x 416 canvas, and a 416 x 320 canvas holds the same pixels at the same scale with 23 % fewer
cells to compute. The tensor is BGR 0–255 float32, NCHW, without mean/std normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How an (height, width) image was placed in a ``canvas_height`` × ``canvas_width`` canvas scaled
    for side ``size``.

    A point (x, y) of the image lands at (x · ratio + pad_x, y · ratio + pad_y) on the canvas.
    """

    size: int
    ratio: float
    pad_x: float
    pad_y: float
    height: int
    width: int
    canvas_height: int
    canvas_width: int


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def letterbox(image_bgr: np.ndarray, size: int, stride: int | None = None) -> tuple[np.ndarray, Letterbox]:
    """(H, W, 3) uint8 BGR -> ((1, 3, Hc, Wc) float32 BGR 0–255, placement). ``stride`` None: the square
    canvas Hc = Wc = ``size``; else the scaled image rounded up to multiples of ``stride`` (≤ ``size``
    when ``size`` is a multiple of ``stride``)."""
    h, w = image_bgr.shape[:2]
    ratio = min(size / h, size / w)
    new_w, new_h = max(1, int(w * ratio)), max(1, int(h * ratio))
    canvas_h, canvas_w = (size, size) if stride is None else (_round_up(new_h, stride), _round_up(new_w, stride))
    canvas = np.full((canvas_h, canvas_w, 3), PAD_VALUE, dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    tensor = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)  # (1, 3, Hc, Wc)
    return tensor, Letterbox(size=size, ratio=ratio, pad_x=0.0, pad_y=0.0, height=h, width=w,
                             canvas_height=canvas_h, canvas_width=canvas_w)


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
