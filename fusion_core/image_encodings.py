"""The one table of ROS ``sensor_msgs/Image`` encodings the project reads: layout and channel order.

Why one table: the live node (``ivif_fusion.image_conversion``, rclpy messages) and bag replay
(:mod:`fusion_core.replay.codec`, rosbags messages) decode the same messages from two libraries. Each used to
keep its own table, and they drifted: a float ``32FC1`` thermal camera fused live but its bag was refused by
``ivif replay``, and an ``8UC3`` visible camera was the other way round. Both now read this module, so a camera
that works on the robot also works from its bag (tests/ros/test_image_conversion.py decodes every encoding both ways).

Names are ROS ``sensor_msgs/image_encodings`` strings. ``8UC3`` has no colour meaning in ROS; it is read as
bgr, the order OpenCV (and so cv_bridge) gives three-channel 8-bit images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera_formats import CAMERA_FORMATS
from .errors import InputError


@dataclass(frozen=True)
class Layout:
    """How one encoding lays its pixels out in a message's ``data``.

    ``order`` is the channel order :meth:`fusion_core.engine.FusionEngine.fuse` takes for a visible image of this
    encoding; ``None`` when it cannot be a visible image as stored: 16-bit and float images (thermal only), and the
    Bayer / packed YUV camera formats, which are converted to bgr8 (:mod:`fusion_core.camera_formats`) first."""

    dtype: np.dtype
    channels: int
    order: str | None


_U8, _U16, _F32 = np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32)

ENCODINGS: dict[str, Layout] = {
    "mono8": Layout(_U8, 1, "mono"),
    "8UC1": Layout(_U8, 1, "mono"),
    "mono16": Layout(_U16, 1, None),
    "16UC1": Layout(_U16, 1, None),
    "32FC1": Layout(_F32, 1, None),
    "rgb8": Layout(_U8, 3, "rgb"),
    "bgr8": Layout(_U8, 3, "bgr"),
    "8UC3": Layout(_U8, 3, "bgr"),
    "rgba8": Layout(_U8, 4, "rgba"),
    "bgra8": Layout(_U8, 4, "bgra"),
    **{encoding: Layout(_U8, channels, None) for encoding, channels in CAMERA_FORMATS.items()},
}

# what each camera may send: thermal any one-channel image, visible anything with a colour order or convertible to one
THERMAL_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1", "32FC1")
VISIBLE_ENCODINGS = ("rgb8", "bgr8", "8UC3", "rgba8", "bgra8", "mono8", "8UC1", *CAMERA_FORMATS)
INPUT_ROLES = ("thermal", "visible")  # the pair's input index (0, 1), as fusion_core.pairing numbers them
INPUT_ENCODINGS = (THERMAL_ENCODINGS, VISIBLE_ENCODINGS)

# a uint8 engine output in channel order -> the encoding it is published or stored as
ORDER_ENCODING = {"mono": "mono8", "rgb": "rgb8", "bgr": "bgr8", "rgba": "rgba8", "bgra": "bgra8"}


def layout_of(encoding: str, allowed: tuple[str, ...] | None = None, role: str = "image") -> Layout:
    """Layout of ``encoding``; InputError naming the valid ones when it is unknown or not in ``allowed``."""
    valid = allowed if allowed is not None else tuple(ENCODINGS)
    if encoding not in valid:
        raise InputError(f"{role} encoding {encoding!r} is not supported; use one of {', '.join(valid)}")
    return ENCODINGS[encoding]
