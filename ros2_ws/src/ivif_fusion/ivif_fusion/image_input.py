"""Camera input over either image transport: ``raw`` (sensor_msgs/Image on ``<base>``) or ``compressed``
(sensor_msgs/CompressedImage on ``<base>/compressed``, image_transport's compressed plugin: JPEG or PNG).

Why: many cameras on a robot's network, and most recorded datasets, carry only the compressed topic, and
Python has no image_transport to subscribe through; the nodes subscribe the one the user names and decode
here. Decoding costs a few milliseconds per frame on the CPU (the price of the smaller messages). JPEG is
lossy, so a compressed thermal camera loses its raw counts; its 16-bit PNG form (``mono16; png compressed``)
keeps them and decodes to uint16 as the raw topic would. ``compressedDepth`` (the depth plugin) is not an
image transport for these cameras and is refused.

Both return (array, encoding): the decoded layout's ROS encoding (compressed colour decodes to bgr8/bgra8,
OpenCV's order, whatever the camera's original encoding was), so the rest of the node works the same.
Anything undecodable raises :class:`fusion_core.errors.InputError`, counted by the nodes as a bad frame.
"""

from __future__ import annotations

import numpy as np
from fusion_core.errors import InputError

from .image_conversion import image_to_array

TRANSPORTS = ("raw", "compressed")
_JPEG_START, _JPEG_END, _JPEG_END_WITHIN = b"\xff\xd8", b"\xff\xd9", 32  # SOI, EOI (some encoders pad after it)
_DECODED = {(np.dtype(np.uint8), 1): "mono8", (np.dtype(np.uint16), 1): "mono16", (np.dtype(np.uint8), 3): "bgr8",
            (np.dtype(np.uint8), 4): "bgra8"}


def input_topic(base: str, transport: str) -> str:
    """The topic a ``transport`` subscription of ``base`` (e.g. 'visible/image_raw') uses."""
    return f"{base}/compressed" if transport == "compressed" else base


def message_type(transport: str):
    """sensor_msgs/Image or sensor_msgs/CompressedImage."""
    from sensor_msgs.msg import CompressedImage, Image

    return CompressedImage if transport == "compressed" else Image


def decode(msg, allowed: tuple[str, ...], role: str) -> tuple[np.ndarray, str]:
    """A raw or compressed image message -> (array, its ROS encoding); InputError when it is bad or its layout is not
    in ``allowed`` (e.g. a colour JPEG on the thermal input)."""
    if not hasattr(msg, "format"):  # sensor_msgs/Image
        return image_to_array(msg, allowed, role), msg.encoding
    return compressed_to_array(msg, allowed, role)


def compressed_to_array(msg, allowed: tuple[str, ...], role: str) -> tuple[np.ndarray, str]:
    """sensor_msgs/CompressedImage -> (array, encoding of the decoded layout)."""
    import cv2

    fmt = str(msg.format)
    if "compresseddepth" in fmt.lower().replace(" ", ""):
        raise InputError(f"{role} compressed image has format {fmt!r}: compressedDepth is not supported, publish the "
                         "'compressed' transport (JPEG/PNG)")
    data = np.frombuffer(bytes(msg.data), np.uint8)
    if data.size == 0:
        raise InputError(f"{role} compressed image ({fmt!r}) has no data")
    if bytes(data[:2]) == _JPEG_START and _JPEG_END not in bytes(data[-_JPEG_END_WITHIN:]):
        # refused before decoding: libjpeg itself only warns at a premature end and fills the missing rows with
        # grey; whether OpenCV then fails depends on its build (this one returns None), a grey-bottomed frame
        # would be a silent wrong answer
        raise InputError(f"{role} compressed image ({fmt!r}, {data.size} bytes) is a truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{role} compressed image ({fmt!r}, {data.size} bytes) could not be decoded as JPEG or PNG")
    encoding = _DECODED.get((image.dtype, 1 if image.ndim == 2 else image.shape[2]))
    if encoding is None or encoding not in allowed:
        layout = f"{image.dtype} with {1 if image.ndim == 2 else image.shape[2]} channel(s)"
        raise InputError(f"{role} compressed image ({fmt!r}) decodes to {layout}"
                         + (f" ({encoding})" if encoding else "") + f"; the {role} input takes {', '.join(allowed)}")
    return image, encoding
