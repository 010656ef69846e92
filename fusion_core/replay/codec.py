"""sensor_msgs/Image <-> numpy for bag files (and sensor_msgs/CompressedImage, :func:`decode_frame` and
:func:`encode_compressed_image`), through rosbags' own message types (no ROS install needed).

A rosbag2 stores each message as CDR bytes; rosbags' typestore (de)serialises them with pure Python.
This module is the bag-side twin of the ROS package's ``image_conversion`` (which works on rclpy
messages and cannot be imported without a ROS install); both read the one encoding table,
:mod:`fusion_core.image_encodings`. It honours ``step`` (row padding) and ``is_bigendian``; Bayer mosaics and
packed YUV 4:2:2 come out as bgr8 frames (:mod:`fusion_core.camera_formats`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..camera_formats import CAMERA_FORMATS, to_bgr8
from ..compressed_image import MSGTYPE as COMPRESSED_MSGTYPE
from ..compressed_image import decode_compressed, encode_compressed
from ..errors import ConfigError, InputError
from ..image_encodings import ENCODINGS, layout_of

IMAGE_MSGTYPE = "sensor_msgs/msg/Image"
INPUT_MSGTYPES = (IMAGE_MSGTYPE, COMPRESSED_MSGTYPE)  # what a camera topic of a bag may carry

@dataclass(frozen=True)
class Frame:
    """One decoded image message. ``image``: (H, W) or (H, W, C) in the encoding's dtype and channel order."""

    image: np.ndarray
    encoding: str
    stamp_ns: int
    frame_id: str

    @property
    def order(self) -> str | None:
        """Channel order for :meth:`FusionEngine.fuse` (``None`` for 16-bit and float images, thermal only)."""
        return ENCODINGS[self.encoding].order


def require_rosbags() -> None:
    """ConfigError with the install command when the optional ``rosbags`` package is missing."""
    import importlib.util

    if importlib.util.find_spec("rosbags") is None:
        raise ConfigError("bag replay needs the 'rosbags' package: pip install -e '.[replay]' (scripts/setup.sh does this)")


@lru_cache(maxsize=1)
def typestore() -> Any:
    """The rosbags typestore for ROS 2 Kilted (the distribution of the project's rclpy wheels)."""
    require_rosbags()
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def encode_image(image: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> bytes:
    """Serialise ``image`` as a CDR sensor_msgs/Image (little-endian, no row padding).

    ``image`` must match ``encoding``: uint8 (H, W) for mono8, uint16 (H, W) for mono16, uint8
    (H, W, 3) for rgb8/bgr8 (already in that channel order) and so on.
    """
    if encoding not in ENCODINGS:
        raise ConfigError(f"image encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
    dtype, channels = ENCODINGS[encoding].dtype, ENCODINGS[encoding].channels
    shape_ok = image.ndim == 2 if channels == 1 else (image.ndim == 3 and image.shape[2] == channels)
    if image.dtype != dtype or not shape_ok:
        want = "(H, W)" if channels == 1 else f"(H, W, {channels})"
        raise InputError(f"encoding {encoding!r} needs a {dtype} {want} array, got {image.dtype} {image.shape}")
    ts = typestore()
    height, width = image.shape[:2]
    data = np.ascontiguousarray(image).astype(dtype.newbyteorder("<"), copy=False)
    msg = ts.types[IMAGE_MSGTYPE](
        header=_header(stamp_ns, frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels * dtype.itemsize,
        data=data.reshape(-1).view(np.uint8),
    )
    return bytes(ts.serialize_cdr(msg, IMAGE_MSGTYPE))


def encode_compressed_image(image: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> bytes:
    """Serialise ``image`` (as :func:`encode_image` takes it) as a CDR sensor_msgs/CompressedImage the way
    image_transport's compressed plugin would (:func:`fusion_core.compressed_image.encode_compressed`)."""
    header = _header(stamp_ns, frame_id)
    data, fmt = encode_compressed(image, encoding)
    ts = typestore()
    msg = ts.types[COMPRESSED_MSGTYPE](header=header, format=fmt, data=np.frombuffer(data, np.uint8))
    return bytes(ts.serialize_cdr(msg, COMPRESSED_MSGTYPE))


def _header(stamp_ns: int, frame_id: str) -> Any:
    """A rosbags std_msgs/Header; InputError for a negative stamp (builtin_interfaces/Time cannot hold one)."""
    if stamp_ns < 0:
        raise InputError(f"stamp must be >= 0 ns, got {stamp_ns}")
    t = typestore().types
    return t["std_msgs/msg/Header"](
        stamp=t["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
        frame_id=frame_id)


def decode_header(raw: bytes | memoryview, msgtype: str = IMAGE_MSGTYPE) -> tuple[int, str]:
    """(stamp ns, frame_id) of any message with a std_msgs/Header named ``header``."""
    msg = typestore().deserialize_cdr(raw, msgtype)
    return stamp_to_ns(msg.header.stamp), str(msg.header.frame_id)


def decode_frame(raw: bytes | memoryview, msgtype: str, where: str = "image") -> Frame:
    """A camera message of either :data:`INPUT_MSGTYPES` -> :class:`Frame` (a compressed one in its decoded layout:
    mono8, mono16, bgr8 or bgra8; :mod:`fusion_core.compressed_image`)."""
    if msgtype != COMPRESSED_MSGTYPE:
        return decode_image(raw, where)
    try:
        msg = typestore().deserialize_cdr(raw, COMPRESSED_MSGTYPE)
    except Exception as exc:  # rosbags raises several types on truncated or foreign data
        raise InputError(f"{where}: not a decodable sensor_msgs/CompressedImage ({type(exc).__name__}: {exc})") from exc
    image, encoding = decode_compressed(msg.data, msg.format, where)
    return Frame(image, encoding, stamp_to_ns(msg.header.stamp), str(msg.header.frame_id))


def decode_image(raw: bytes | memoryview, where: str = "image") -> Frame:
    """CDR sensor_msgs/Image -> :class:`Frame`. ``where`` (topic, file) goes into error messages.

    The pixels are copied out of ``raw`` (one copy, ~0.3 ms for 640×480 RGB) so the frame owns a
    writable array and ``raw`` can be freed.
    """
    try:
        msg = typestore().deserialize_cdr(raw, IMAGE_MSGTYPE)
    except Exception as exc:  # rosbags raises several types on truncated or foreign data
        raise InputError(f"{where}: not a decodable sensor_msgs/Image ({type(exc).__name__}: {exc})") from exc
    encoding = str(msg.encoding)
    layout = layout_of(encoding, role=f"{where}: image")
    dtype, channels = layout.dtype, layout.channels
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    data = np.asarray(msg.data, dtype=np.uint8)
    if height < 1 or width < 1:
        raise InputError(f"{where}: image is empty ({width}x{height})")
    if step < row_bytes:
        raise InputError(f"{where}: step {step} is smaller than width*channels*bytes = {row_bytes} for {encoding}")
    if data.size < step * (height - 1) + row_bytes:
        raise InputError(f"{where}: data holds {data.size} bytes, {encoding} {width}x{height} with step {step} needs "
                         f"{step * (height - 1) + row_bytes}")
    rows = np.lib.stride_tricks.as_strided(data, shape=(height, row_bytes), strides=(step, 1))
    if step != row_bytes:
        rows = np.ascontiguousarray(rows)
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    image = rows.view(wire).reshape((height, width, channels) if channels > 1 else (height, width))
    if encoding in CAMERA_FORMATS:  # a Bayer or YUV 4:2:2 camera: its pixels, as the live node makes them
        image, encoding = to_bgr8(image, encoding, where), "bgr8"
    elif wire != dtype or not image.flags.writeable:
        image = image.astype(dtype)  # own, writable, native-order pixels (torch refuses read-only buffers)
    return Frame(image, encoding, stamp_to_ns(msg.header.stamp), str(msg.header.frame_id))
