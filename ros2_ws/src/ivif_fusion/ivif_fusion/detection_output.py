"""One image's detections onto the detection topics, for detector_node and fusion_node's in-process detector
(:func:`detect_and_publish`: both run the detector and publish through here, so they behave the same).

Topics (relative, so they move with the namespace and remap as usual): ``detections``
(vision_msgs/Detection2DArray, only when vision_msgs is installed), ``detections/json``
(std_msgs/String, :func:`ivif_fusion.detection_msgs.to_json`; always published when vision_msgs is
missing, otherwise only with ``publish_json``) and ``detections/image`` (the image with labelled
boxes, rgb8/bgr8 — grey comes back bgr8 — with ``publish_image``, drawn only while it has
subscribers). Every message carries the header of the image the detector ran on.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from .detection_msgs import load_vision_msgs, to_detection2d_array, to_json
from .image_conversion import ENCODINGS, array_to_image
from .qos import output_qos, publisher


def detector_input(array: np.ndarray, encoding: str) -> tuple[np.ndarray, str]:
    """A decoded image and its ROS encoding -> (image, order) as ``Detector.detect`` takes them: uint8
    (H, W) 'mono' or (H, W, 3) 'rgb'/'bgr'; the alpha channel of rgba8/bgra8 is dropped (a view, no copy)."""
    order = ENCODINGS[encoding].order
    if order in ("rgba", "bgra"):  # the detector takes 3 channels
        return array[:, :, :3], order[:3]
    return array, order


class DetectionOutputs:
    """The detection publishers of ``node``; :attr:`vision` is ``vision_msgs.msg`` or None (not installed)."""

    def __init__(self, node, publish_json: bool, publish_image: bool) -> None:
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        self.vision = load_vision_msgs()
        self._array_pub = None
        if self.vision is not None:
            self._array_pub = publisher(node, self.vision.Detection2DArray, "detections", output_qos())
        else:
            node.get_logger().warning("vision_msgs is not installed: 'detections' (Detection2DArray) is not published; "
                                      "detections go to 'detections/json' (std_msgs/String) instead")
        self._json_pub = publisher(node, String, "detections/json", output_qos()) \
            if publish_json or self.vision is None else None
        self._image_pub = publisher(node, Image, "detections/image", output_qos()) if publish_image else None

    def publish(self, detections: Sequence, image: np.ndarray, order: str, header) -> None:
        """Publish ``detections`` of ``image`` ((H, W) or (H, W, 3) uint8 in ``order``) under ``header``."""
        if self._array_pub is not None:
            self._array_pub.publish(to_detection2d_array(self.vision, detections, header))
        if self._json_pub is not None:
            from std_msgs.msg import String

            self._json_pub.publish(String(data=to_json(detections, header, image.shape[1], image.shape[0])))
        if self._image_pub is not None and self._image_pub.get_subscription_count():  # drawn only for someone watching
            from fusion_core.detection import draw_detections

            annotated = draw_detections(image, detections, order)  # (H, W, 3) in order; mono comes back bgr
            self._image_pub.publish(array_to_image(annotated, "rgb8" if order == "rgb" else "bgr8", header))


def detect_and_publish(detector: Any, outputs: DetectionOutputs, array: np.ndarray, encoding: str, header) -> tuple[int, float]:
    """Run ``detector`` (a :class:`fusion_core.detection.Detector`) on a decoded image (``array`` in ROS
    ``encoding``) and publish its detections under ``header``; returns (number of detections, ms the
    ``detect`` call took). The caller counts them."""
    image, order = detector_input(array, encoding)
    t0 = time.perf_counter()
    detections = detector.detect(image, order)
    detect_ms = (time.perf_counter() - t0) * 1000.0
    outputs.publish(detections, image, order, header)
    return len(detections), detect_ms
