"""Colour camera layouts that are not pixels yet: Bayer mosaics and packed YUV 4:2:2, converted to bgr8.

Why: machine-vision cameras (GigE / USB3 drivers) publish the sensor's Bayer mosaic by default and leave
demosaicing to an ``image_proc`` node, and UVC webcams deliver YUV 4:2:2. Taking these directly saves the
robot a second full-resolution image hop between processes (what the end-to-end latency work removes
elsewhere) and a node to run. The live node (``ivif_fusion.image_input``) and bag replay
(:mod:`fusion_core.replay.codec`) both convert here, so they make the same pixels.

Encodings are ROS ``sensor_msgs/image_encodings`` names. OpenCV names a Bayer pattern after the second
row's second and third pixels, so ROS ``bayer_rggb8`` is OpenCV's ``BayerBG``; the table was checked on a
mosaic made from a real visible image (tests/test_camera_formats.py: the right code reconstructs it to
< 3 grey levels on average, the other three to > 9). Demosaicing is OpenCV's edge-aware variant: the
bilinear one's cost (0.12 ms at 640×480 on one thread of this CPU) with edges a little less smeared
(mean error 2.71 against 2.76 on that image); VNG was 10× slower. ROS ``yuv422`` is UYVY and
``yuv422_yuy2`` is YUYV, both BT.601 video range, as OpenCV decodes them.
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import InputError

BAYER_TO_BGR = {
    "bayer_rggb8": cv2.COLOR_BayerBG2BGR_EA,
    "bayer_bggr8": cv2.COLOR_BayerRG2BGR_EA,
    "bayer_gbrg8": cv2.COLOR_BayerGR2BGR_EA,
    "bayer_grbg8": cv2.COLOR_BayerGB2BGR_EA,
}
YUV422_TO_BGR = {
    "yuv422": cv2.COLOR_YUV2BGR_UYVY,
    "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2,
}
# encoding -> channels of its buffer (uint8): a mosaic is one byte per pixel, packed 4:2:2 two
CAMERA_FORMATS: dict[str, int] = {**{e: 1 for e in BAYER_TO_BGR}, **{e: 2 for e in YUV422_TO_BGR}}


def to_bgr8(image: np.ndarray, encoding: str, where: str = "image") -> np.ndarray:
    """A Bayer mosaic (H, W) or packed YUV 4:2:2 (H, W, 2) uint8 array -> (H, W, 3) bgr8.

    InputError (naming ``where``) for an encoding not in :data:`CAMERA_FORMATS`, a wrong array layout, or a
    size the layout cannot have (a 4:2:2 row holds pixel pairs, a mosaic 2×2 cells)."""
    if encoding not in CAMERA_FORMATS:
        raise InputError(f"{where}: {encoding!r} is not a camera format; use one of {', '.join(CAMERA_FORMATS)}")
    channels = CAMERA_FORMATS[encoding]
    shape_ok = image.ndim == 2 if channels == 1 else (image.ndim == 3 and image.shape[2] == channels)
    if image.dtype != np.uint8 or not shape_ok:
        raise InputError(f"{where}: {encoding} needs a uint8 array with {channels} channel(s), got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    if encoding in YUV422_TO_BGR and width % 2:
        raise InputError(f"{where}: {encoding} width {width} is odd; YUV 4:2:2 packs pixels in pairs")
    if encoding in BAYER_TO_BGR and (height < 2 or width < 2):
        raise InputError(f"{where}: {encoding} image {width}x{height} is smaller than one 2x2 Bayer cell")
    code = BAYER_TO_BGR.get(encoding, YUV422_TO_BGR.get(encoding))
    return cv2.cvtColor(np.ascontiguousarray(image), code)
