"""What a detector is asked to do (:class:`DetectorConfig`) and what it answers (:class:`Detection`).

Class ids in the answers are positions in ``DetectorConfig.classes``: with the default
``("person", "bicycle", "car")`` they are the MSRS detection classes (``MSRS/classes_det.txt``:
0 person, 1 bicycle, 2 car), so detections compare directly with the YOLO ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights" / "yolox_nano"
DEFAULT_DETECTOR_PATH = WEIGHTS_DIR / "yolox_nano.onnx"
COCO_LABELS_PATH = WEIGHTS_DIR / "label_coco.txt"
MSRS_CLASSES = ("person", "bicycle", "car")
STRIDES = (8, 16, 32)


@lru_cache(maxsize=1)
def coco_class_names() -> tuple[str, ...]:
    """The model's 80 class names in output order (from the shipped ``label_coco.txt``)."""
    names = tuple(line.strip() for line in COCO_LABELS_PATH.read_text(encoding="utf-8").splitlines() if line.strip())
    if len(names) != 80:
        raise ConfigError(f"{COCO_LABELS_PATH} must list 80 COCO class names, found {len(names)}")
    return names


@dataclass(frozen=True)
class DetectorConfig:
    """Settings of :class:`~fusion_core.detection.Detector`.

    model_path: YOLOX ONNX file; ``None`` = the shipped YOLOX-nano (``fusion_core/weights/yolox_nano``).
    input_size: side of the square letterbox, pixels; a multiple of 32 (the coarsest stride). The image
        is scaled so its longer side is ``input_size``. With ``rectangular`` a fully convolutional model
        (the shipped YOLOX-nano) runs at any such size, not only the one it was exported at: smaller is
        faster and loses small objects (measured in ros2_ws/src/ivif_fusion/README.md, "Detector canvas size").
    rectangular: letterbox onto the scaled image rounded up to multiples of 32 instead of the full square
        (rectangular inference: 416 x 320 instead of 416 x 416 for a 4:3 image, 25 % less network time,
        same scale). Needs the ``onnx`` package to free the model's fixed input size in memory; a model
        that cannot run on rectangles falls back to the square (logged).
    score_threshold: minimum objectness × class probability, in [0, 1]. 0.3 suits display; use ~0.001
        when the detections feed an mAP evaluation (the precision–recall curve needs the low scores).
    nms_iou: IoU above which a lower-scored box of the same class is suppressed, in (0, 1].
    classes: COCO class names to keep, in output-id order (id = position); ``None`` keeps all 80 with
        their COCO ids. A detection takes its best class over all 80 first, and is dropped when that
        class is not kept (a box that looks most like a motorbike does not become a bicycle).
    providers: ONNX Runtime execution providers, in order of preference.
    threads: ONNX Runtime intra-op threads; ``None`` = its default.
    """

    model_path: str | None = None
    input_size: int = 416
    rectangular: bool = True
    score_threshold: float = 0.3
    nms_iou: float = 0.65
    classes: tuple[str, ...] | None = MSRS_CLASSES
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.input_size < 32 or self.input_size % 32:
            raise ConfigError(f"input_size must be a positive multiple of 32 (the largest stride), got {self.input_size}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ConfigError(f"score_threshold must lie in [0, 1], got {self.score_threshold}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ConfigError(f"nms_iou must lie in (0, 1], got {self.nms_iou}")
        if self.classes is not None:
            if not self.classes:
                raise ConfigError("classes must name at least one COCO class, or be None to keep all 80")
            known = coco_class_names()
            unknown = [c for c in self.classes if c not in known]
            if unknown:
                raise ConfigError(f"classes {unknown} are not COCO class names; valid names: {', '.join(known)}")
        if not self.providers:
            raise ConfigError("providers must name at least one ONNX Runtime execution provider, e.g. CPUExecutionProvider")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")

    @property
    def resolved_model_path(self) -> Path:
        return Path(self.model_path) if self.model_path is not None else DEFAULT_DETECTOR_PATH

    @property
    def class_names(self) -> tuple[str, ...]:
        """Output class names, indexed by output class id."""
        return self.classes if self.classes is not None else coco_class_names()

    @property
    def coco_ids(self) -> tuple[int, ...]:
        """COCO index of each output class, indexed by output class id."""
        known = coco_class_names()
        return tuple(known.index(c) for c in self.class_names)


@dataclass(frozen=True)
class Detection:
    """One detected object in the pixel frame of the image given to ``detect``.

    box_xyxy: (x1, y1, x2, y2), continuous pixel coordinates, 0 ≤ x ≤ width, 0 ≤ y ≤ height.
    score: objectness × class probability, in [0, 1].
    class_id: position of ``class_name`` in ``DetectorConfig.classes`` (COCO id when all classes are kept).
    """

    box_xyxy: tuple[float, float, float, float]
    score: float
    class_id: int
    class_name: str
