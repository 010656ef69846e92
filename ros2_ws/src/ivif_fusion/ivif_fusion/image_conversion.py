"""sensor_msgs/Image <-> numpy without cv_bridge.

Supported encodings (ROS ``sensor_msgs/image_encodings`` names):

=========  ========  ========  ==========================
encoding   dtype     channels  engine order (visible)
=========  ========  ========  ==========================
mono8      uint8     1         mono
8UC1       uint8     1         mono
mono16     uint16    1         (thermal only)
16UC1      uint16    1         (thermal only)
32FC1      float32   1         (thermal only)
rgb8       uint8     3         rgb
bgr8       uint8     3         bgr
rgba8      uint8     4         rgba
bgra8      uint8     4         bgra
bayer_*8   uint8     1         (visible: to bgr8)
yuv422*    uint8     2         (visible: to bgr8)
=========  ========  ========  ==========================

``bayer_rggb8``/``bggr8``/``gbrg8``/``grbg8`` and ``yuv422`` (UYVY) / ``yuv422_yuy2`` are read here as stored;
:func:`ivif_fusion.image_input.decode` turns them into bgr8 (:mod:`fusion_core.camera_formats`).

:func:`image_to_array` honours ``step`` (row padding) and ``is_bigendian``. When the byte order is
native it returns a view on the message's buffer (zero-copy; row padding is skipped by strides, so
the view may be non-contiguous); a foreign byte order costs one copy. Anything malformed raises
:class:`fusion_core.errors.InputError`, which the nodes count as a bad frame.
"""

from __future__ import annotations

import array
import sys
from dataclasses import dataclass

import numpy as np
from fusion_core.camera_formats import CAMERA_FORMATS
from fusion_core.errors import InputError


@dataclass(frozen=True)
class EncodingInfo:
    dtype: np.dtype
    channels: int
    order: str  # FusionEngine.fuse visible_order / Detector order for this layout ('mono' for 1 channel)


ENCODINGS: dict[str, EncodingInfo] = {
    "mono8": EncodingInfo(np.dtype(np.uint8), 1, "mono"),
    "8UC1": EncodingInfo(np.dtype(np.uint8), 1, "mono"),
    "mono16": EncodingInfo(np.dtype(np.uint16), 1, "mono"),
    "16UC1": EncodingInfo(np.dtype(np.uint16), 1, "mono"),
    "32FC1": EncodingInfo(np.dtype(np.float32), 1, "mono"),
    "rgb8": EncodingInfo(np.dtype(np.uint8), 3, "rgb"),
    "bgr8": EncodingInfo(np.dtype(np.uint8), 3, "bgr"),
    "rgba8": EncodingInfo(np.dtype(np.uint8), 4, "rgba"),
    "bgra8": EncodingInfo(np.dtype(np.uint8), 4, "bgra"),
    # Bayer mosaics and packed YUV 4:2:2 (fusion_core.camera_formats): read as stored here, converted to bgr8
    # by image_input.decode before anything fuses or detects them
    **{encoding: EncodingInfo(np.dtype(np.uint8), channels, "camera") for encoding, channels in CAMERA_FORMATS.items()},
}
THERMAL_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1", "32FC1")
VISIBLE_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", *CAMERA_FORMATS)
_ORDER_TO_ENCODING = {"mono": "mono8", "rgb": "rgb8", "bgr": "bgr8", "rgba": "rgba8", "bgra": "bgra8"}
_NATIVE_BIG = sys.byteorder == "big"


def encoding_info(encoding: str, allowed: tuple[str, ...] | None = None, role: str = "image") -> EncodingInfo:
    """Layout of ``encoding``; InputError naming the valid ones when it is unknown or not in ``allowed``."""
    valid = allowed if allowed is not None else tuple(ENCODINGS)
    if encoding not in valid:
        raise InputError(f"{role} encoding {encoding!r} is not supported; use one of {', '.join(valid)}")
    return ENCODINGS[encoding]


def image_to_array(msg, allowed: tuple[str, ...] | None = None, role: str = "image") -> np.ndarray:
    """sensor_msgs/Image -> (H, W) or (H, W, C) array in the encoding's dtype, native byte order.

    ``allowed`` restricts the encodings (e.g. :data:`THERMAL_ENCODINGS`); ``role`` names the input in
    error messages. The result shares memory with ``msg.data`` when no byte swap is needed.
    """
    info = encoding_info(msg.encoding, allowed, role)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * info.channels * info.dtype.itemsize
    if height < 1 or width < 1:
        raise InputError(f"{role} image is empty ({width}x{height})")
    if step < row_bytes:
        raise InputError(f"{role} image step {step} is smaller than width*channels*bytes = {row_bytes} ({msg.encoding}, width {width})")
    buffer = memoryview(msg.data).cast("B") if not isinstance(msg.data, (bytes, bytearray)) else memoryview(msg.data)
    if len(buffer) != step * height:
        raise InputError(f"{role} image data has {len(buffer)} bytes, expected step*height = {step}*{height} = {step * height}")
    dtype = info.dtype.newbyteorder(">" if msg.is_bigendian else "<") if info.dtype.itemsize > 1 else info.dtype
    shape: tuple[int, ...] = (height, width) if info.channels == 1 else (height, width, info.channels)
    strides: tuple[int, ...] = (step, info.channels * dtype.itemsize) + ((dtype.itemsize,) if info.channels > 1 else ())
    arr = np.ndarray(shape, dtype=dtype, buffer=buffer, strides=strides)
    if dtype.itemsize > 1 and bool(msg.is_bigendian) != _NATIVE_BIG:
        arr = arr.astype(info.dtype)  # byte swap into a new, native-order array
    return arr


def encoding_for(array_: np.ndarray, order: str) -> str:
    """The ROS encoding of a uint8 engine/detector output in channel ``order`` (grey -> mono8)."""
    if array_.ndim == 2 or (array_.ndim == 3 and array_.shape[2] == 1):
        return "mono8"
    if order not in _ORDER_TO_ENCODING:
        raise InputError(f"channel order {order!r} has no ROS encoding; use one of {', '.join(_ORDER_TO_ENCODING)}")
    return _ORDER_TO_ENCODING[order]


def array_to_image(array_: np.ndarray, encoding: str, header=None):
    """(H, W) / (H, W, C) array -> sensor_msgs/Image (dense rows, native byte order), one copy of the pixels."""
    from sensor_msgs.msg import Image

    info = encoding_info(encoding)
    expected_ndim = 2 if info.channels == 1 else 3
    if array_.ndim == 3 and info.channels == 1 and array_.shape[2] == 1:
        array_ = array_[:, :, 0]
    if array_.ndim != expected_ndim or (info.channels > 1 and array_.shape[2] != info.channels):
        raise InputError(f"array of shape {array_.shape} does not fit encoding {encoding!r} ({info.channels} channel(s))")
    if array_.dtype != info.dtype:
        raise InputError(f"array dtype {array_.dtype} does not fit encoding {encoding!r} (needs {info.dtype})")
    array_ = np.ascontiguousarray(array_)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(array_.shape[0]), int(array_.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = _NATIVE_BIG if info.dtype.itemsize > 1 else False
    msg.step = msg.width * info.channels * info.dtype.itemsize
    data = array.array("B")
    data.frombytes(array_.reshape(-1).view(np.uint8))
    msg.data = data
    return msg


def stamp_ns(stamp) -> int:
    """builtin_interfaces/Time (a header stamp) -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
