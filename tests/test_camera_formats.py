"""Bayer mosaics and packed YUV 4:2:2 -> bgr8 (fusion_core.camera_formats), on a real MSRS visible image.

The pattern table is checked the only way that does not trust a naming convention: a mosaic is sampled from
a real image in each ROS pattern, and only the table's code must bring the image back; the YUV layouts are
packed from the image with the BT.601 video-range formulas and must come back to about a grey level. The bag
codec must hand replay the same bgr8 frame the live node makes.
"""

from __future__ import annotations

import numpy as np
import pytest

from fusion_core.camera_formats import BAYER_TO_BGR, CAMERA_FORMATS, to_bgr8
from fusion_core.errors import InputError
from fusion_core.io import read_visible

CHANNEL = {"r": 0, "g": 1, "b": 2}


@pytest.fixture(scope="module")
def rgb(msrs_dir) -> np.ndarray:
    return read_visible(msrs_dir / "vi" / "00055D.png")


def mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """What a sensor with the 2x2 colour filter ``pattern`` (e.g. 'rggb', row by row) records of ``rgb``."""
    out = np.empty(rgb.shape[:2], np.uint8)
    for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        out[dy::2, dx::2] = rgb[dy::2, dx::2, CHANNEL[pattern[k]]]
    return out


def pack_yuv422(rgb: np.ndarray, layout: str) -> np.ndarray:
    """(H, W, 2) packed 4:2:2 of ``rgb``, BT.601 video range, chroma averaged over each pixel pair."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.257 * r + 0.504 * g + 0.098 * b + 16
    u = -0.148 * r - 0.291 * g + 0.439 * b + 128
    v = 0.439 * r - 0.368 * g - 0.071 * b + 128
    u2, v2 = (u[:, 0::2] + u[:, 1::2]) / 2, (v[:, 0::2] + v[:, 1::2]) / 2
    planes = (u2, y[:, 0::2], v2, y[:, 1::2]) if layout == "uyvy" else (y[:, 0::2], u2, y[:, 1::2], v2)
    packed = np.empty((rgb.shape[0], rgb.shape[1] * 2), np.uint8)
    for k, plane in enumerate(planes):
        packed[:, k::4] = np.clip(np.round(plane), 0, 255)
    return packed.reshape(rgb.shape[0], rgb.shape[1], 2)


def error(bgr: np.ndarray, rgb: np.ndarray) -> float:
    return float(np.abs(bgr[:, :, ::-1].astype(int) - rgb).mean())


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_each_bayer_pattern_is_demosaiced_by_its_own_code_only(rgb, pattern: str) -> None:
    sensor = mosaic(rgb, pattern)
    errors = {encoding: error(to_bgr8(sensor, encoding), rgb) for encoding in BAYER_TO_BGR}
    own = f"bayer_{pattern}8"
    assert errors[own] < 3.0, errors
    assert all(e > 9.0 for name, e in errors.items() if name != own), errors
    assert to_bgr8(sensor, own).shape == rgb.shape


@pytest.mark.parametrize("encoding, layout, other", [("yuv422", "uyvy", "yuv422_yuy2"), ("yuv422_yuy2", "yuyv", "yuv422")])
def test_packed_yuv422_is_unpacked_in_its_byte_order(rgb, encoding: str, layout: str, other: str) -> None:
    packed = pack_yuv422(rgb, layout)
    assert error(to_bgr8(packed, encoding), rgb) < 1.0
    assert error(to_bgr8(packed, other), rgb) > 30.0  # the other byte order is not a near miss


@pytest.mark.parametrize("image, encoding, message", [
    (np.zeros((4, 5, 2), np.uint8), "yuv422", "width 5 is odd"),
    (np.zeros((1, 8), np.uint8), "bayer_rggb8", "smaller than one 2x2 Bayer cell"),
    (np.zeros((4, 4), np.uint16), "bayer_rggb8", "needs a uint8 array with 1 channel"),
    (np.zeros((4, 4), np.uint8), "yuv422", "needs a uint8 array with 2 channel"),
    (np.zeros((4, 4), np.uint8), "bayer_rggb16", "is not a camera format"),
])
def test_impossible_layouts_are_refused(image, encoding: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        to_bgr8(image, encoding)


@pytest.mark.parametrize("encoding", sorted(CAMERA_FORMATS))
def test_bag_codec_decodes_camera_formats_to_the_same_bgr8(rgb, encoding: str) -> None:
    pytest.importorskip("rosbags", reason="rosbags is not installed (pip install -e .[replay])")
    from fusion_core.replay.codec import decode_frame, encode_image

    stored = mosaic(rgb, encoding[6:10]) if encoding.startswith("bayer") else \
        pack_yuv422(rgb, "uyvy" if encoding == "yuv422" else "yuyv")
    frame = decode_frame(encode_image(stored, encoding, 5_000_000_123, "cam"), "sensor_msgs/msg/Image", "visible")
    assert (frame.encoding, frame.order, frame.stamp_ns, frame.frame_id) == ("bgr8", "bgr", 5_000_000_123, "cam")
    assert np.array_equal(frame.image, to_bgr8(stored, encoding))
