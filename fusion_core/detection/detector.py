"""The detector: letterbox -> YOLOX network -> decode -> per-class NMS -> boxes in image pixels.

The network sits behind a tiny runner contract ((1, 3, S, S) float32 -> raw head (1, N, 5 + C)), so
ONNX Runtime is imported only when the default runner is built, and tests or other backends can
supply their own runner.
"""

from __future__ import annotations

import time
from typing import Callable

import cv2
import numpy as np

from ..errors import ConfigError, InputError, ModelFileError
from .config import Detection, DetectorConfig
from .decode import decode_yolox
from .letterbox import boxes_to_image, letterbox
from .nms import nms_per_class

IMAGE_ORDERS = ("rgb", "bgr", "mono")

# (1, 3, S, S) float32 BGR 0–255 -> raw YOLOX head (1, N, 5 + C).
HeadRunner = Callable[[np.ndarray], np.ndarray]


def onnx_runner(config: DetectorConfig) -> HeadRunner:
    """An ONNX Runtime session over ``config.resolved_model_path``, as a :data:`HeadRunner`."""
    import onnxruntime as ort

    path = config.resolved_model_path
    if not path.is_file():
        raise ModelFileError(f"detector model_path {path} does not exist{' (it is a folder)' if path.is_dir() else ''} "
                             f"(None = the shipped {DetectorConfig().resolved_model_path})")
    available = ort.get_available_providers()
    missing = [p for p in config.providers if p not in available]
    if missing:
        raise ConfigError(f"providers {missing} are not available in this onnxruntime; available: {', '.join(available)}")
    from ..engine.onnx_backend import session_options

    try:
        session = ort.InferenceSession(str(path), sess_options=session_options(config.threads), providers=list(config.providers))
    except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...) for bad files
        raise ModelFileError(f"detector model_path {path} could not be loaded by onnxruntime (not a valid ONNX model?): "
                             f"{exc}") from exc
    inputs = session.get_inputs()
    shape = inputs[0].shape if inputs else []
    if len(inputs) != 1 or len(shape) != 4 or (isinstance(shape[2], int) and shape[2] != config.input_size):
        raise ModelFileError(f"detector model_path {path} takes inputs {[(i.name, i.shape) for i in inputs]}; expected one "
                             f"[1, 3, {config.input_size}, {config.input_size}] tensor (check input_size)")
    name = inputs[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: batch})[0]

    return run


def to_bgr(image: np.ndarray, order: str) -> np.ndarray:
    """uint8 RGB/BGR (H, W, 3) or grey (H, W) / (H, W, 1) -> (H, W, 3) uint8 BGR; grey is replicated."""
    if order not in IMAGE_ORDERS:
        raise InputError(f"image order {order!r} is not one of {', '.join(IMAGE_ORDERS)}")
    if image.dtype != np.uint8:
        raise InputError(f"detector input must be uint8 0–255, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"detector input must be (H, W) grey or (H, W, 3) colour, got shape {image.shape}")
    if order == "mono":
        raise InputError(f"order 'mono' needs an (H, W) image, got shape {image.shape}; use 'rgb' or 'bgr' for colour")
    return np.ascontiguousarray(image) if order == "bgr" else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


class Detector:
    """YOLOX detector: ``detect(image, order)`` -> list of :class:`Detection`, highest score first."""

    def __init__(self, config: DetectorConfig | None = None, runner: HeadRunner | None = None) -> None:
        self.config = config or DetectorConfig()
        self._runner = runner if runner is not None else onnx_runner(self.config)
        self._names = self.config.class_names
        self._coco_ids = self.config.coco_ids

    def warm_up(self) -> float:
        """Detect on one blank image so the first real frame does not pay the session's first-run cost
        (about 34 + 23 ms for the first two calls against 15 ms after, one CPU thread); returns ms."""
        start = time.perf_counter()
        self.detect(np.zeros((self.config.input_size, self.config.input_size, 3), np.uint8))
        return (time.perf_counter() - start) * 1000.0

    def detect(self, image: np.ndarray, order: str = "rgb") -> list[Detection]:
        """Objects in one uint8 image (``order``: 'rgb', 'bgr' or 'mono'); boxes in its pixel frame."""
        if image.ndim < 2 or min(image.shape[:2]) < 1:
            raise InputError(f"detector input has no pixels (shape {image.shape})")
        bgr = to_bgr(image, order)
        batch, placement = letterbox(bgr, self.config.input_size)  # (1, 3, S, S)
        raw = self._runner(batch)  # (1, N, 5 + C)
        boxes, scores, coco_classes = decode_yolox(raw, self.config.input_size)
        n_classes = np.shape(raw)[-1] - 5
        to_output = np.full(max(n_classes, 1 + max(self._coco_ids)), -1, dtype=np.int64)
        to_output[list(self._coco_ids)] = np.arange(len(self._coco_ids))
        class_ids = to_output[coco_classes]
        wanted = np.flatnonzero(class_ids >= 0)
        keep = wanted[nms_per_class(boxes[wanted], scores[wanted], class_ids[wanted],
                                    self.config.score_threshold, self.config.nms_iou)]
        image_boxes = boxes_to_image(boxes[keep], placement)
        return [
            Detection(box_xyxy=tuple(float(v) for v in box), score=float(scores[i]),  # type: ignore[arg-type]
                      class_id=int(class_ids[i]), class_name=self._names[int(class_ids[i])])
            for box, i in zip(image_boxes, keep)
        ]
