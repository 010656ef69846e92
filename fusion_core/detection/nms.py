"""Per-class non-maximum suppression through OpenCV's ``cv2.dnn.NMSBoxes``.

Boxes of different classes never suppress each other. Within a class, OpenCV keeps the
highest-scored box and drops every later box whose IoU with a kept one exceeds ``iou_threshold``;
boxes scored below ``score_threshold`` are dropped first.
"""

from __future__ import annotations

import cv2
import numpy as np


def nms_per_class(boxes_xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                  score_threshold: float, iou_threshold: float) -> np.ndarray:
    """Indices (into the inputs) of the kept boxes, highest score first.

    boxes_xyxy: (N, 4) pixels; scores: (N,) in [0, 1]; class_ids: (N,) int.
    """
    boxes_xyxy = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    class_ids = np.asarray(class_ids).reshape(-1)
    candidates = np.flatnonzero(scores >= score_threshold)
    kept: list[np.ndarray] = []
    for cls in np.unique(class_ids[candidates]):
        idx = candidates[class_ids[candidates] == cls]
        xywh = boxes_xyxy[idx].copy()
        xywh[:, 2:] -= xywh[:, :2]  # OpenCV wants (x, y, w, h)
        keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores[idx].tolist(), score_threshold, iou_threshold)
        kept.append(idx[np.asarray(keep, dtype=np.int64).reshape(-1)])
    if not kept:
        return np.zeros(0, dtype=np.int64)
    out = np.concatenate(kept)
    return out[np.argsort(-scores[out], kind="stable")]
