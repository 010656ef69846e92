"""image_transport's compressed images (sensor_msgs/CompressedImage: a ``format`` string and JPEG/PNG bytes) -> numpy.

Why here, framework-free: the same frames arrive live (the ROS nodes' ``*_transport: compressed``) and in
recorded bags (``ivif replay``, ``ivif calibrate --bag``), and most recorded datasets carry only the compressed
topic. One decoder means one set of rules:

* colour decodes in OpenCV's order, so the layout is ``bgr8`` / ``bgra8`` whatever the camera's original
  encoding was (image_transport's own decoder converts back; nothing downstream here needs that);
* grey decodes to ``mono8``, a 16-bit PNG (``mono16; png compressed``, the lossless form a thermal camera's
  counts need) to ``mono16`` with the counts intact;
* refused with :class:`~fusion_core.errors.InputError`: no data, bytes OpenCV cannot decode, a JPEG without its
  end-of-image marker (cut off at the source: libjpeg itself only warns at a premature end and fills the missing
  rows with grey, and whether OpenCV then fails depends on its build — a grey-bottomed frame would be a silent
  wrong answer), and ``compressedDepth`` (the depth plugin's format, not a camera image).
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import InputError

MSGTYPE = "sensor_msgs/msg/CompressedImage"
_LAYOUTS = {(np.dtype(np.uint8), 1): "mono8", (np.dtype(np.uint16), 1): "mono16", (np.dtype(np.uint8), 3): "bgr8",
            (np.dtype(np.uint8), 4): "bgra8"}
_JPEG_START, _JPEG_END, _JPEG_END_WITHIN = b"\xff\xd8", b"\xff\xd9", 32  # SOI, EOI (some encoders pad after it)


def encode_compressed(image: np.ndarray, encoding: str, jpeg_quality: int = 95) -> tuple[bytes, str]:
    """``image`` in ROS ``encoding`` -> (bytes, format string) as image_transport's compressed plugin sends it:
    8-bit colour and grey as JPEG (its default, at its default quality 95; colour re-ordered to bgr8 first, as the
    plugin does), 16-bit grey as lossless PNG."""
    if encoding in ("mono16", "16UC1"):
        ok, data = cv2.imencode(".png", image)
        fmt = f"{encoding}; png compressed {encoding}"
    else:
        bgr = {"rgb8": lambda a: a[:, :, ::-1], "rgba8": lambda a: a[:, :, 2::-1], "bgra8": lambda a: a[:, :, :3]}
        target = "mono8" if encoding in ("mono8", "8UC1") else "bgr8"
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(bgr.get(encoding, lambda a: a)(image)),
                                [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        fmt = f"{encoding}; jpeg compressed {target}"
    if not ok:
        raise InputError(f"OpenCV could not compress a {encoding} image of shape {image.shape}")
    return data.tobytes(), fmt


def decode_compressed(data, fmt: str, where: str = "compressed image") -> tuple[np.ndarray, str]:
    """JPEG/PNG bytes (any buffer) with their ``format`` string -> (owned array, ROS encoding of its layout:
    mono8, mono16, bgr8 or bgra8). ``where`` names the input in error messages."""
    fmt = str(fmt)
    if "compresseddepth" in fmt.lower().replace(" ", ""):
        raise InputError(f"{where} has format {fmt!r}: compressedDepth is not supported, use the 'compressed' "
                         "transport (JPEG/PNG)")
    raw = np.frombuffer(bytes(data), np.uint8)
    if raw.size == 0:
        raise InputError(f"{where} ({fmt!r}) has no data")
    if bytes(raw[:2]) == _JPEG_START and _JPEG_END not in bytes(raw[-_JPEG_END_WITHIN:]):
        raise InputError(f"{where} ({fmt!r}, {raw.size} bytes) is a truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{where} ({fmt!r}, {raw.size} bytes) is not decodable as JPEG or PNG")
    channels = 1 if image.ndim == 2 else image.shape[2]
    encoding = _LAYOUTS.get((image.dtype, channels))
    if encoding is None:
        raise InputError(f"{where} ({fmt!r}) decodes to {image.dtype} with {channels} channel(s), not an 8-bit grey or "
                         "colour or a 16-bit grey image")
    return image, encoding
