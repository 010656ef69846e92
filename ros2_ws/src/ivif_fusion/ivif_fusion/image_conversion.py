"""sensor_msgs/Image <-> numpy without cv_bridge.

The encodings and their layouts are fusion_core's one table (:mod:`fusion_core.image_encodings`), shared with
bag replay so a camera that works live also works from its bag: mono8/8UC1, mono16/16UC1 and 32FC1 (thermal),
rgb8/bgr8/8UC3/rgba8/bgra8 and mono8 (visible), and the Bayer (``bayer_*8``) and packed YUV 4:2:2 (``yuv422``,
``yuv422_yuy2``) camera formats, which are read here as stored and turned into bgr8 by
:func:`ivif_fusion.image_input.decode` (:mod:`fusion_core.camera_formats`).

:func:`image_to_array` honours ``step`` (row padding) and ``is_bigendian``. When the byte order is
native it returns a view on the message's buffer (zero-copy; row padding is skipped by strides, so
the view may be non-contiguous); a foreign byte order costs one copy. Anything malformed raises
:class:`fusion_core.errors.InputError`, which the nodes count as a bad frame.
"""

from __future__ import annotations

import array
import sys

import numpy as np
from fusion_core.errors import InputError
from fusion_core.image_encodings import ENCODINGS, ORDER_ENCODING, THERMAL_ENCODINGS, VISIBLE_ENCODINGS, layout_of

__all__ = ["ENCODINGS", "THERMAL_ENCODINGS", "VISIBLE_ENCODINGS", "array_to_image", "encoding_for", "image_to_array",
           "stamp_ns"]
_NATIVE_BIG = sys.byteorder == "big"


def image_to_array(msg, allowed: tuple[str, ...] | None = None, role: str = "image") -> np.ndarray:
    """sensor_msgs/Image -> (H, W) or (H, W, C) array in the encoding's dtype, native byte order.

    ``allowed`` restricts the encodings (e.g. :data:`THERMAL_ENCODINGS`); ``role`` names the input in
    error messages. The result shares memory with ``msg.data`` when no byte swap is needed.
    """
    info = layout_of(msg.encoding, allowed, role)
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
    if order not in ORDER_ENCODING:
        raise InputError(f"channel order {order!r} has no ROS encoding; use one of {', '.join(ORDER_ENCODING)}")
    return ORDER_ENCODING[order]


def array_to_image(array_: np.ndarray, encoding: str, header=None):
    """(H, W) / (H, W, C) array -> sensor_msgs/Image (dense rows, native byte order), one copy of the pixels."""
    from sensor_msgs.msg import Image

    info = layout_of(encoding)
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
