"""sensor_msgs/Image <-> numpy: every encoding, row padding, byte order, zero-copy, and the failure table."""

from __future__ import annotations

import numpy as np
import pytest
from ros_harness import ROS_PKG  # noqa: F401  (puts the ROS package on sys.path)

from fusion_core.camera_formats import CAMERA_FORMATS
from fusion_core.errors import InputError

pytestmark = pytest.mark.ros

from ivif_fusion.image_conversion import (  # noqa: E402
    ENCODINGS, THERMAL_ENCODINGS, VISIBLE_ENCODINGS, array_to_image, encoding_for, image_to_array)


def hand_made(array: np.ndarray, encoding: str, pad: int = 0, big_endian: bool = False):
    """An Image built byte by byte, independent of array_to_image."""
    from sensor_msgs.msg import Image

    dtype = array.dtype.newbyteorder(">" if big_endian else "<") if array.dtype.itemsize > 1 else array.dtype
    rows = np.ascontiguousarray(array.astype(dtype)).reshape(array.shape[0], -1).view(np.uint8)
    data = np.full((rows.shape[0], rows.shape[1] + pad), 0xAB, np.uint8)  # padding bytes must be ignored
    data[:, : rows.shape[1]] = rows
    return Image(height=array.shape[0], width=array.shape[1], encoding=encoding, is_bigendian=big_endian,
                 step=data.shape[1], data=data.tobytes())


def sample(encoding: str, h: int = 5, w: int = 7) -> np.ndarray:
    info = ENCODINGS[encoding]
    rng = np.random.default_rng(len(encoding))
    shape = (h, w) if info.channels == 1 else (h, w, info.channels)
    if info.dtype.kind == "f":
        return rng.random(shape, dtype=np.float32) * 300.0 - 20.0
    return rng.integers(0, np.iinfo(info.dtype).max, shape, endpoint=True).astype(info.dtype)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("pad,big_endian", [(0, False), (5, False), (0, True), (6, True)])
def test_decode_every_encoding(encoding: str, pad: int, big_endian: bool) -> None:
    array = sample(encoding)
    out = image_to_array(hand_made(array, encoding, pad, big_endian))
    assert out.dtype == ENCODINGS[encoding].dtype and out.dtype.isnative
    assert out.shape == array.shape
    assert np.array_equal(out, array)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_round_trip_through_array_to_image(encoding: str) -> None:
    array = sample(encoding, 4, 9)
    msg = array_to_image(array, encoding)
    row_bytes = 9 * ENCODINGS[encoding].channels * ENCODINGS[encoding].dtype.itemsize
    assert (msg.height, msg.width, msg.step, msg.encoding, len(msg.data)) == (4, 9, row_bytes, encoding, 4 * row_bytes)
    assert np.array_equal(image_to_array(msg), array)


def test_native_order_is_zero_copy_even_with_padding() -> None:
    msg = hand_made(sample("bgr8"), "bgr8", pad=3)
    out = image_to_array(msg)
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))
    assert not out.flags.c_contiguous  # padding skipped by strides, not copied
    little16 = hand_made(sample("mono16"), "mono16")
    assert np.shares_memory(image_to_array(little16), np.frombuffer(little16.data, np.uint8))
    big16 = hand_made(sample("mono16"), "mono16", big_endian=True)
    assert not np.shares_memory(image_to_array(big16), np.frombuffer(big16.data, np.uint8))  # swapped copy


def test_big_endian_values_are_read_as_numbers() -> None:
    from sensor_msgs.msg import Image

    msg = Image(height=1, width=2, encoding="mono16", is_bigendian=True, step=4, data=bytes([0x01, 0x02, 0xFF, 0x00]))
    assert image_to_array(msg).tolist() == [[0x0102, 0xFF00]]
    msg.is_bigendian = False
    assert image_to_array(msg).tolist() == [[0x0201, 0x00FF]]


def _bad(**changes):
    msg = hand_made(sample("mono8", 4, 6), "mono8")
    for k, v in changes.items():
        setattr(msg, k, v)
    return msg


@pytest.mark.parametrize("msg,allowed,message", [
    (_bad(encoding="bayer_rggb16"), None, "image encoding 'bayer_rggb16' is not supported; use one of mono8, 8UC1"),
    (_bad(encoding="bgr8"), None, "step 6 is smaller than width\\*channels\\*bytes = 18 \\(bgr8"),
    (_bad(data=bytes(23)), None, "data has 23 bytes, expected step\\*height = 6\\*4 = 24"),
    (_bad(step=7), None, "data has 24 bytes, expected step\\*height = 7\\*4 = 28"),
    (_bad(step=5), None, "step 5 is smaller than width\\*channels\\*bytes = 6"),
    (_bad(width=0), None, "image is empty \\(0x4\\)"),
    (_bad(encoding="16UC1", step=12, data=bytes(48)), VISIBLE_ENCODINGS, "encoding '16UC1' is not supported; use one of rgb8"),
    (_bad(encoding="rgb8"), THERMAL_ENCODINGS, "encoding 'rgb8' is not supported; use one of mono8, 8UC1, mono16"),
])
def test_bad_messages_raise_input_error(msg, allowed, message) -> None:
    with pytest.raises(InputError, match=message):
        image_to_array(msg, allowed)


@pytest.mark.parametrize("shape,dtype,encoding,message", [
    ((4, 5, 3), np.uint8, "mono8", "does not fit encoding 'mono8' \\(1 channel"),
    ((4, 5), np.uint8, "rgb8", "does not fit encoding 'rgb8' \\(3 channel"),
    ((4, 5), np.uint16, "mono8", "dtype uint16 does not fit encoding 'mono8' \\(needs uint8\\)"),
    ((4, 5), np.uint8, "nv12", "image encoding 'nv12' is not supported"),
])
def test_array_to_image_rejects_mismatches(shape, dtype, encoding, message) -> None:
    with pytest.raises(InputError, match=message):
        array_to_image(np.zeros(shape, dtype), encoding)


@pytest.mark.parametrize("shape,order,encoding", [((2, 3), "bgr", "mono8"), ((2, 3, 1), "rgb", "mono8"),
                                                   ((2, 3, 3), "rgb", "rgb8"), ((2, 3, 3), "bgr", "bgr8"),
                                                   ((2, 3, 4), "rgba", "rgba8"), ((2, 3, 4), "bgra", "bgra8")])
def test_encoding_for_engine_outputs(shape, order, encoding) -> None:
    assert encoding_for(np.zeros(shape, np.uint8), order) == encoding


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_a_bag_message_decodes_to_the_same_pixels_live_and_in_replay(encoding: str) -> None:
    """The bytes rosbag2 stores for a camera frame (serialised by rosbags, as ``ivif make-bag`` writes them) read
    by rclpy and this node's decoder, and by ``ivif replay``'s decoder: the same encoding and pixels for every
    encoding of the one shared table, the Bayer and YUV camera formats converted alike (to bgr8)."""
    pytest.importorskip("rosbags", reason="rosbags is not installed (pip install -e .[replay])")
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    from fusion_core.replay.codec import decode_image, encode_image
    from ivif_fusion.image_input import decode

    array = sample(encoding, 6, 8)
    raw = encode_image(array, encoding, 1_700_000_000_123_456_789, "cam")
    live, live_encoding = decode(deserialize_message(raw, Image), tuple(ENCODINGS), "camera")
    replayed = decode_image(raw)
    assert live_encoding == replayed.encoding == ("bgr8" if encoding in CAMERA_FORMATS else encoding)
    assert live.dtype == replayed.image.dtype and np.array_equal(live, replayed.image)
    if live_encoding == encoding:  # not a converted camera format: the stored pixels themselves
        assert np.array_equal(live, array)
