"""Camera input over either image transport: ``raw`` (sensor_msgs/Image on ``<base>``) or ``compressed``
(sensor_msgs/CompressedImage on ``<base>/compressed``, image_transport's compressed plugin: JPEG or PNG).

Why: many cameras on a robot's network, and most recorded datasets, carry only the compressed topic, and
Python has no image_transport to subscribe through; the nodes subscribe the one the user names and decode
here with fusion_core's decoder (:mod:`fusion_core.compressed_image`: its rules, e.g. colour decodes to bgr8,
16-bit PNG keeps a thermal camera's counts, a cut-off JPEG is refused). Decoding is CPU work for every frame (the
price of the smaller messages).

:func:`decode` returns (array, encoding) for either transport, so the rest of the node works the same; a raw
Bayer mosaic or YUV 4:2:2 frame comes back as bgr8 (:mod:`fusion_core.camera_formats`), so the fused image of
such a camera is bgr8.
Anything undecodable raises :class:`fusion_core.errors.InputError`, counted by the nodes as a bad frame.
"""

from __future__ import annotations

import numpy as np
from fusion_core.camera_formats import CAMERA_FORMATS, to_bgr8
from fusion_core.compressed_image import decode_compressed
from fusion_core.errors import InputError

from .image_conversion import image_to_array

TRANSPORTS = ("raw", "compressed")


def input_topic(base: str, transport: str) -> str:
    """The topic a ``transport`` subscription of ``base`` (e.g. 'visible/image_raw') uses."""
    return f"{base}/compressed" if transport == "compressed" else base


def message_type(transport: str):
    """sensor_msgs/Image or sensor_msgs/CompressedImage."""
    from sensor_msgs.msg import CompressedImage, Image

    return CompressedImage if transport == "compressed" else Image


def compressed_message(array, encoding: str, header, jpeg_quality: int):
    """An output image as sensor_msgs/CompressedImage (JPEG; fusion_core's encoder, image_transport's format)."""
    from fusion_core.compressed_image import encode_compressed
    from sensor_msgs.msg import CompressedImage

    data, fmt = encode_compressed(array, encoding, jpeg_quality)
    return CompressedImage(header=header, format=fmt, data=data)


def decode(msg, allowed: tuple[str, ...], role: str) -> tuple[np.ndarray, str]:
    """A raw or compressed image message -> (array, its ROS encoding); InputError when it is bad or its layout is not
    in ``allowed`` (e.g. a colour JPEG on the thermal input)."""
    if not hasattr(msg, "format"):  # sensor_msgs/Image
        array = image_to_array(msg, allowed, role)
        if msg.encoding in CAMERA_FORMATS:  # a Bayer mosaic or YUV 4:2:2: demosaic / unpack, as bag replay does
            return to_bgr8(array, msg.encoding, f"{role} image"), "bgr8"
        return array, msg.encoding
    return compressed_to_array(msg, allowed, role)


def compressed_to_array(msg, allowed: tuple[str, ...], role: str) -> tuple[np.ndarray, str]:
    """sensor_msgs/CompressedImage -> (array, encoding of the decoded layout), by fusion_core's decoder (the one
    ``ivif replay`` uses on bags); InputError also when that layout is not one ``allowed`` for this input."""
    image, encoding = decode_compressed(msg.data, msg.format, f"{role} compressed image")
    if encoding not in allowed:
        raise InputError(f"{role} compressed image ({msg.format!r}) decodes to {encoding}; the {role} input takes "
                         f"{', '.join(allowed)}")
    return image, encoding
