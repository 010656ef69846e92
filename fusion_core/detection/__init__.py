"""Downstream detection: YOLOX (default: the shipped YOLOX-nano, COCO) on fused or source images.

Framework-free (numpy, OpenCV); ONNX Runtime is imported only when a :class:`Detector` builds its
default runner. ``Detector(DetectorConfig()).detect(image, "rgb")`` -> boxes in the image's pixels;
:mod:`.evaluate` scores detections (mAP@0.5, VOC all-point) and bootstraps differences.
"""

from .config import DEFAULT_DETECTOR_PATH, MSRS_CLASSES, Detection, DetectorConfig, coco_class_names
from .decode import decode_yolox, grid_and_strides
from .detector import IMAGE_ORDERS, Detector, HeadRunner, onnx_runner
from .draw import draw_detections
from .evaluate import (BootstrapResult, GroundTruthBoxes, MapResult, average_precision, evaluate_map,
                       load_ground_truth, paired_bootstrap)
from .folders import FolderComparison, FolderDetections, compare_folders, detect_folder
from .letterbox import Letterbox, boxes_to_canvas, boxes_to_image, letterbox
from .nms import nms_per_class

__all__ = [
    "DEFAULT_DETECTOR_PATH",
    "IMAGE_ORDERS",
    "MSRS_CLASSES",
    "BootstrapResult",
    "Detection",
    "Detector",
    "DetectorConfig",
    "FolderComparison",
    "FolderDetections",
    "GroundTruthBoxes",
    "HeadRunner",
    "Letterbox",
    "MapResult",
    "average_precision",
    "boxes_to_canvas",
    "boxes_to_image",
    "coco_class_names",
    "compare_folders",
    "decode_yolox",
    "detect_folder",
    "draw_detections",
    "evaluate_map",
    "grid_and_strides",
    "letterbox",
    "load_ground_truth",
    "nms_per_class",
    "onnx_runner",
    "paired_bootstrap",
]
