"""The visible camera's calibration beside the fused image: ``visible/camera_info`` in, ``fusion/camera_info`` out.

Why: the fused image and α are drawn in the visible camera's pixel grid (the thermal image is mapped onto it,
by the homography or a resize), so they have the visible camera's intrinsics. ROS consumers of an image —
rviz's Camera display, image_proc, image_geometry turning a detection's box into a ray — look for a
CameraInfo on the image's sibling ``camera_info`` topic with the image's stamp. Without it the fused image
is a picture, not a camera.

:class:`CameraInfoRelay` keeps the newest CameraInfo the visible camera sent (intrinsics are static for the
cameras this node serves; a camera that changes them, a zoom lens, sends the new ones and they are used from
the next fused frame) and republishes it with each fused frame's header, so stamp and frame_id equal the
fused image's. It is published only when it describes an image of the fused image's size (width/height,
with the CameraInfo's ROI and binning applied as image_geometry applies them): a CameraInfo of another
resolution would give every consumer wrong rays without a word, so that frame's CameraInfo is withheld,
counted (``camera_info_size_mismatch``) and warned. Frames fused before any CameraInfo arrived are counted
(``camera_info_missing``): a rig whose visible camera publishes none sees that counter grow and no
``fusion/camera_info``, and the fused images go out as before.
"""

from __future__ import annotations

import copy
import threading

COUNTERS = ("received_camera_info", "camera_info_published", "camera_info_missing", "camera_info_size_mismatch")


def camera_info_topic(image_topic: str) -> str:
    """The CameraInfo topic that goes with ``image_topic`` (image_transport's rule: ``camera_info`` beside the
    image in its namespace): 'visible/image_raw' -> 'visible/camera_info', '/cam/color/image' ->
    '/cam/color/camera_info', 'image' -> 'camera_info'."""
    head, _, _ = image_topic.rstrip("/").rpartition("/")
    if head or image_topic.startswith("/"):
        return f"{head}/camera_info"
    return "camera_info"


def image_size(info) -> tuple[int, int]:
    """(width, height) of the images ``info`` (sensor_msgs/CameraInfo) describes: its ROI when one is set (ROI
    width 0 = the full frame), divided by its binning (0 counts as 1)."""
    width = info.roi.width or info.width
    height = info.roi.height or info.height
    return width // max(info.binning_x, 1), height // max(info.binning_y, 1)


class CameraInfoRelay:
    """Subscribes ``visible/camera_info`` and publishes ``fusion/camera_info`` (both relative names, so they move
    with the namespace and remap as usual) on ``node``; counts under :data:`COUNTERS` in ``counters``;
    ``log(level, key, text)`` is the node's throttled log."""

    def __init__(self, node, counters, log) -> None:
        from sensor_msgs.msg import CameraInfo

        from .qos import input_qos, output_qos, publisher, subscription

        self._counters = counters
        self._log = log
        self._lock = threading.Lock()
        self._latest = None  # newest CameraInfo received (under _lock)
        self._publisher = publisher(node, CameraInfo, "fusion/camera_info", output_qos())
        # best effort matches a camera driver's reliable and best-effort publishers alike
        self._subscription = subscription(node, CameraInfo, "visible/camera_info", self._on_info, input_qos("best_effort", 5))

    @property
    def topics(self) -> tuple[str, str]:
        """(input, output) topic names as resolved (namespace and remappings applied), for the start-up log."""
        return self._subscription.topic_name, self._publisher.topic_name

    def _on_info(self, msg) -> None:
        self._counters.add("received_camera_info")
        with self._lock:
            self._latest = msg

    def publish(self, header, width: int, height: int) -> bool:
        """Publish the newest CameraInfo under ``header`` (the fused frame's) if it describes a ``width`` x
        ``height`` image; returns whether it was published (otherwise counted and logged)."""
        with self._lock:
            latest = self._latest
        if latest is None:
            self._counters.add("camera_info_missing")
            return False
        if image_size(latest) != (width, height):
            self._counters.add("camera_info_size_mismatch")
            described = "x".join(map(str, image_size(latest)))
            self._log.log("warning", "camera_info_size_mismatch",
                          f"fusion/camera_info withheld: the visible CameraInfo describes {described} images "
                          f"(width {latest.width}, height {latest.height}, binning {latest.binning_x}x{latest.binning_y}, "
                          f"roi {latest.roi.width}x{latest.roi.height}) but the fused image is {width}x{height}")
            return False
        out = copy.copy(latest)  # a shallow copy: only the header is replaced, the calibration is shared read-only
        out.header = header
        self._publisher.publish(out)
        self._counters.add("camera_info_published")
        return True
