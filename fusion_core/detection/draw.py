"""Annotated images: detections drawn as labelled boxes (for the detector node and ``ivif detect``)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .config import Detection
from .detector import to_bgr

# BGR colours, cycled by class id: person orange, bicycle green, car blue, then more.
_PALETTE_BGR = ((0, 128, 255), (60, 200, 60), (255, 96, 32), (200, 60, 200), (40, 220, 220), (128, 128, 255))


def draw_detections(image: np.ndarray, detections: Sequence[Detection], order: str = "rgb") -> np.ndarray:
    """A copy of ``image`` (uint8, ``order`` 'rgb' | 'bgr' | 'mono') with boxes and "name score" labels.

    Returns (H, W, 3) uint8 in ``order`` ('mono' input comes back as BGR, since boxes are coloured).
    """
    canvas = to_bgr(image, order).copy()
    thickness = max(1, round(min(canvas.shape[:2]) / 320))
    for det in detections:
        colour = _PALETTE_BGR[det.class_id % len(_PALETTE_BGR)]
        x1, y1, x2, y2 = (int(round(v)) for v in det.box_xyxy)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
        label = f"{det.class_name} {det.score:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, 1)
        top = y1 - th - base if y1 - th - base >= 0 else y1
        cv2.rectangle(canvas, (x1, top), (x1 + tw, top + th + base), colour, cv2.FILLED)
        cv2.putText(canvas, label, (x1, top + th), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, (0, 0, 0), 1, cv2.LINE_AA)
    return cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB) if order == "rgb" else canvas
