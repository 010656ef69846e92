"""The detector: letterbox -> YOLOX network -> decode -> per-class NMS -> boxes in image pixels.

The network sits behind a tiny runner contract ((1, 3, Hc, Wc) float32 -> raw head (1, N, 5 + C)), so
ONNX Runtime is imported only when the default runner is built, and tests or other backends can
supply their own runner. The shipped runner takes rectangular canvases (``DetectorConfig.rectangular``):
at 640x480 a 416 x 320 canvas instead of 416 x 416, the same pixels at the same scale, and the network
costs 9.0 instead of 12.0 ms on one CPU thread (YOLOX-nano, measured side by side). Boxes move by a
pixel or two (the network sees 8 rows of padding below the image instead of 104); MSRS dev mAP@0.5
stayed the same or rose (docs/evaluation.md, "Detector canvas").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from ..errors import ConfigError, InputError, ModelFileError
from .config import STRIDES, Detection, DetectorConfig
from .decode import decode_yolox, grid_and_strides
from .letterbox import boxes_to_image, letterbox
from .nms import nms_per_class

log = logging.getLogger(__name__)

IMAGE_ORDERS = ("rgb", "bgr", "mono")
# Blank detections a warm-up makes: ONNX Runtime's first two runs on a canvas both pay one-off costs.
WARM_UP_CALLS = 2

# (1, 3, Hc, Wc) float32 BGR 0–255 -> raw YOLOX head (1, N, 5 + C). The canvas is S x S unless the runner
# has a true ``rectangular`` attribute (then multiples of the coarsest stride, see letterbox).
HeadRunner = Callable[[np.ndarray], np.ndarray]


def _free_spatial_dims(path: Path) -> bytes | None:
    """The model at ``path`` with its input height and width (and the output's cell count) made symbolic,
    serialised for ONNX Runtime; None when the onnx package is missing or the model is not a single
    (1, 3, H, W) -> (1, N, 5 + C) graph. The file itself is never changed."""
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path))
    inputs, outputs = model.graph.input, model.graph.output
    if len(inputs) != 1 or len(outputs) != 1:
        return None
    in_dims, out_dims = inputs[0].type.tensor_type.shape.dim, outputs[0].type.tensor_type.shape.dim
    if len(in_dims) != 4 or len(out_dims) != 3:
        return None
    for dim, name in ((in_dims[2], "height"), (in_dims[3], "width"), (out_dims[1], "cells")):
        dim.ClearField("dim_value")
        dim.dim_param = name
    return model.SerializeToString()


def onnx_runner(config: DetectorConfig) -> HeadRunner:
    """An ONNX Runtime session over ``config.resolved_model_path``, as a :data:`HeadRunner`.

    With ``config.rectangular`` the session takes canvases of any multiple-of-32 size (the model's fixed
    input size is freed in memory) when a probe run on a rectangle succeeds; the runner's
    ``rectangular`` attribute says whether it does (a graph with fixed reshapes keeps the square)."""
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

    def open_session(model: str | bytes):
        return ort.InferenceSession(model, sess_options=session_options(config.threads), providers=list(config.providers))

    try:
        session = open_session(str(path))
    except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...) for bad files
        raise ModelFileError(f"detector model_path {path} could not be loaded by onnxruntime (not a valid ONNX model?): "
                             f"{exc}") from exc
    inputs = session.get_inputs()
    shape = inputs[0].shape if inputs else []
    exported = shape[2] if len(shape) == 4 and isinstance(shape[2], int) else None  # None: free in height
    if len(inputs) != 1 or len(shape) != 4 or (exported not in (None, config.input_size) and not config.rectangular):
        raise ModelFileError(f"detector model_path {path} takes inputs {[(i.name, i.shape) for i in inputs]}; expected one "
                             f"[1, 3, {config.input_size}, {config.input_size}] tensor (check input_size, or use "
                             "rectangular canvases, which run a fully convolutional model at any multiple of 32)")
    name = inputs[0].name
    rectangular = False
    if config.rectangular:
        session, rectangular = _rectangular_session(session, path, name, config, open_session)
        if not rectangular and exported not in (None, config.input_size):
            raise ModelFileError(f"detector model_path {path} runs only at its exported {exported} x {exported} canvas, "
                                 f"not input_size {config.input_size}; set input_size {exported}")

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: batch})[0]

    run.rectangular = rectangular  # type: ignore[attr-defined]
    return run


def _rectangular_session(square: Any, path: Path, name: str, config: DetectorConfig,
                         open_session: Callable[[str | bytes], Any]) -> tuple[Any, bool]:
    """(session, True) taking any multiple-of-32 canvas, checked by a probe run on a (S/2 x S) rectangle
    whose head must have that rectangle's cell count; else (the square session, False), logged."""
    shape = square.get_inputs()[0].shape
    free = all(isinstance(d, str) or d is None for d in shape[2:])  # the model is already free in height and width
    serialised = None if free else _free_spatial_dims(path)
    if not free and serialised is None:
        log.warning("detector: rectangular inference needs the onnx package and a (1, 3, H, W) -> (1, N, 5 + C) model; "
                    "using the square %d x %d canvas", config.input_size, config.input_size)
        return square, False
    probe_h = max(32, config.input_size // 64 * 32)
    try:
        session = square if serialised is None else open_session(serialised)
        head = session.run(None, {name: np.zeros((1, 3, probe_h, config.input_size), np.float32)})[0]
        cells = grid_and_strides((probe_h, config.input_size))[0].shape[0]
        if head.ndim != 3 or head.shape[1] != cells:
            raise ValueError(f"head {head.shape} for a {probe_h} x {config.input_size} canvas, expected {cells} cells")
    except Exception as exc:  # noqa: BLE001 - any failure means this graph only runs at its exported size
        log.warning("detector: model %s does not run on rectangular canvases (%s); using the square %d x %d canvas",
                    path, exc, config.input_size, config.input_size)
        return square, False
    return session, True


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


RETUNABLE = ("score_threshold", "nms_iou", "classes")  # what Detector.retune changes: which boxes are kept


@dataclass(frozen=True)
class _Tuning:
    """What a detection keeps, swapped as one object by :meth:`Detector.retune`."""

    config: DetectorConfig
    names: tuple[str, ...]
    coco_ids: tuple[int, ...]


class Detector:
    """YOLOX detector: ``detect(image, order)`` -> list of :class:`Detection`, highest score first."""

    def __init__(self, config: DetectorConfig | None = None, runner: HeadRunner | None = None) -> None:
        config = config or DetectorConfig()
        self._runner = runner if runner is not None else onnx_runner(config)
        self._tuning = _Tuning(config, config.class_names, config.coco_ids)
        # the canvas is rounded to the coarsest stride when the runner takes rectangles, else square
        self._stride = max(STRIDES) if getattr(self._runner, "rectangular", False) else None

    @property
    def config(self) -> DetectorConfig:
        return self._tuning.config

    def retune(self, **changes: Any) -> DetectorConfig:
        """Change what the following detections keep, without reloading the network: any of :data:`RETUNABLE`
        (``classes=None`` = all 80), the others unchanged. Returns the new config.

        Why: a robot's operator tunes these while watching the output (a ROS node's runtime parameters).
        Validated as :class:`DetectorConfig` is (ConfigError, nothing changed). A ``detect`` already running
        finishes with the old settings: it reads them once, and they are swapped as one object."""
        unknown = sorted(set(changes) - set(RETUNABLE))
        if unknown:
            raise ConfigError(f"{', '.join(unknown)} cannot be retuned; only {', '.join(RETUNABLE)} (the rest needs a new Detector)")
        config = replace(self._tuning.config, **changes)
        self._tuning = _Tuning(config, config.class_names, config.coco_ids)
        return config

    @property
    def rectangular(self) -> bool:
        """True when images are letterboxed onto stride-multiple rectangles rather than the square."""
        return self._stride is not None

    @property
    def canvas(self) -> str:
        """The letterbox in words, for start-up logs and reports: which canvas and at what size."""
        n = self.config.input_size
        return f"rectangular canvas, longer side {n} px" if self.rectangular else f"square {n} x {n} canvas"

    def warm_up(self, image_size: tuple[int, int] | None = None) -> float:
        """Detect ``WARM_UP_CALLS`` times on a blank image of ``image_size`` (width, height; None = the square
        input size) so the first real frame does not pay the session's first-run costs for its canvas (about
        34 + 23 ms for the first two calls against 15 ms after, one CPU thread); returns ms in all."""
        width, height = image_size or (self.config.input_size, self.config.input_size)
        blank = np.zeros((height, width, 3), np.uint8)
        start = time.perf_counter()
        for _ in range(WARM_UP_CALLS):
            self.detect(blank)
        return (time.perf_counter() - start) * 1000.0

    def detect(self, image: np.ndarray, order: str = "rgb") -> list[Detection]:
        """Objects in one uint8 image (``order``: 'rgb', 'bgr' or 'mono'); boxes in its pixel frame."""
        if image.ndim < 2 or min(image.shape[:2]) < 1:
            raise InputError(f"detector input has no pixels (shape {image.shape})")
        tuning = self._tuning  # once: a retune() meanwhile applies from the next call on
        bgr = to_bgr(image, order)
        batch, placement = letterbox(bgr, tuning.config.input_size, self._stride)  # (1, 3, Hc, Wc)
        raw = self._runner(batch)  # (1, N, 5 + C)
        boxes, scores, coco_classes = decode_yolox(raw, (placement.canvas_height, placement.canvas_width))
        n_classes = np.shape(raw)[-1] - 5
        to_output = np.full(max(n_classes, 1 + max(tuning.coco_ids)), -1, dtype=np.int64)
        to_output[list(tuning.coco_ids)] = np.arange(len(tuning.coco_ids))
        class_ids = to_output[coco_classes]
        wanted = np.flatnonzero(class_ids >= 0)
        keep = wanted[nms_per_class(boxes[wanted], scores[wanted], class_ids[wanted],
                                    tuning.config.score_threshold, tuning.config.nms_iou)]
        image_boxes = boxes_to_image(boxes[keep], placement)
        return [
            Detection(box_xyxy=tuple(float(v) for v in box), score=float(scores[i]),  # type: ignore[arg-type]
                      class_id=int(class_ids[i]), class_name=tuning.names[int(class_ids[i])])
            for box, i in zip(image_boxes, keep)
        ]
