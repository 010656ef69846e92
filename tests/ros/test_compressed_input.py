"""Compressed camera input (image_transport's 'compressed' plugin: JPEG/PNG in sensor_msgs/CompressedImage).

Decoding is checked against OpenCV on a real MSRS pair (16-bit PNG thermal comes back to the count, a JPEG
visible to OpenCV's decode of the same bytes); fusion_node on the ``/compressed`` topics over real rclpy
must publish exactly what fusion_core makes of the decoded arrays, and count undecodable frames as bad.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from ros_harness import Probe, wait_for, wait_matched
from test_fusion_node import MS, latest_diagnostics, stamp_of, stepwise_node

from fusion_core.engine import EngineConfig, create_engine
from fusion_core.errors import InputError
from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros

THERMAL = ("mono8", "8UC1", "mono16", "16UC1", "32FC1")
VISIBLE = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1")


def compressed(image: np.ndarray, ext: str, fmt: str, stamp: int = 0, frame_id: str = ""):
    from sensor_msgs.msg import CompressedImage

    ok, data = cv2.imencode(ext, image)
    assert ok
    msg = CompressedImage(format=fmt, data=data.tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
    msg.header.frame_id = frame_id
    return msg


@pytest.fixture(scope="module")
def pair(msrs_dir):
    ir8, rgb = read_thermal(msrs_dir / "ir" / "00055D.png"), read_visible(msrs_dir / "vi" / "00055D.png")
    return ir8.astype(np.uint16) * 200 + 1000, np.ascontiguousarray(rgb[:, :, ::-1])  # raw-count thermal, bgr visible


def test_decode_keeps_16_bit_png_counts_and_decodes_jpeg_as_opencv(pair) -> None:
    from ivif_fusion.image_input import compressed_to_array

    ir16, bgr = pair
    array, encoding = compressed_to_array(compressed(ir16, ".png", "mono16; png compressed mono16"), THERMAL, "thermal")
    assert encoding == "mono16" and array.dtype == np.uint16 and np.array_equal(array, ir16)
    msg = compressed(bgr, ".jpg", "rgb8; jpeg compressed bgr8")
    array, encoding = compressed_to_array(msg, VISIBLE, "visible")
    assert encoding == "bgr8" and np.array_equal(array, cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR))
    assert np.abs(array.astype(int) - bgr).mean() < 3  # a JPEG of the visible image, in bgr order
    grey, encoding = compressed_to_array(compressed(bgr[:, :, 0], ".png", "mono8; png compressed mono8"), VISIBLE, "visible")
    assert encoding == "mono8" and np.array_equal(grey, bgr[:, :, 0])


@pytest.mark.parametrize("fmt, data, message", [
    ("jpeg", b"", "has no data"),
    ("jpeg", b"\xff\xd8 not really a jpeg \xff\xd9", "not decodable as JPEG or PNG"),
    ("png", b"\x89PNG not really a png", "not decodable as JPEG or PNG"),
    ("mono16; compressedDepth png", b"\x00" * 16, "compressedDepth is not supported"),
])
def test_decode_refuses_bad_messages(fmt, data, message) -> None:
    from ivif_fusion.image_input import compressed_to_array
    from sensor_msgs.msg import CompressedImage

    with pytest.raises(InputError, match=message):
        compressed_to_array(CompressedImage(format=fmt, data=data), VISIBLE, "visible")


def test_decode_refuses_a_cut_off_jpeg(pair) -> None:
    """A JPEG cut at 90 % is refused by its missing end-of-image marker, whatever the OpenCV build would decode."""
    from ivif_fusion.image_input import compressed_to_array

    msg = compressed(pair[1], ".jpg", "bgr8; jpeg compressed bgr8")
    msg.data = bytes(msg.data)[: len(msg.data) * 9 // 10]
    with pytest.raises(InputError, match="truncated JPEG"):
        compressed_to_array(msg, VISIBLE, "visible")


def test_decode_refuses_a_colour_thermal_image(pair) -> None:
    from ivif_fusion.image_input import compressed_to_array

    with pytest.raises(InputError, match=r"decodes to bgr8; the thermal input takes mono8"):
        compressed_to_array(compressed(pair[1], ".jpg", "bgr8; jpeg compressed bgr8"), THERMAL, "thermal")


def test_fusion_node_fuses_compressed_topics(graph, pair) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from ivif_fusion.image_conversion import image_to_array
    from sensor_msgs.msg import CompressedImage, Image

    ir16, bgr = pair
    node = stepwise_node(graph, "compressed", thermal_transport="compressed", visible_transport="compressed",
                         worker_queue_size=8)
    assert [s.topic_name for s in node.subscriptions if "image_raw" in s.topic_name] == [
        "/compressed/thermal/image_raw/compressed", "/compressed/visible/image_raw/compressed"]
    probe = Probe(graph, "compressed")
    thermal = probe.publisher(CompressedImage, "thermal/image_raw/compressed")
    visible = probe.publisher(CompressedImage, "visible/image_raw/compressed")
    probe.record(Image, "fusion/image", 20)
    probe.record(DiagnosticArray, "/diagnostics", 50)
    wait_matched(thermal), wait_matched(visible)

    base = 14000 * 1_000_000_000
    sent_visible = []
    for k in range(3):  # pair k lets pair k-1 out; pair 1's visible frame is corrupt
        thermal.publish(compressed(ir16, ".png", "mono16; png compressed mono16", base + k * 100 * MS, "thermal_optical"))
        msg = compressed(bgr, ".jpg", "rgb8; jpeg compressed bgr8", base + k * 100 * MS + 2 * MS, "visible_optical")
        if k == 1:
            msg.data = bytes(msg.data)[: len(msg.data) // 2]  # cut off at the source
        sent_visible.append(msg)
        visible.publish(msg)
        time.sleep(0.1)
    wait_for(lambda: len(probe.messages("fusion/image")) >= 1, 30, "the first fused pair")
    time.sleep(0.5)
    fused = probe.messages("fusion/image")
    assert [stamp_of(m) for m in fused] == [base + 2 * MS]  # pair 1 had no valid visible frame; pair 2 waits for a successor
    decoded = cv2.imdecode(np.frombuffer(bytes(sent_visible[0].data), np.uint8), cv2.IMREAD_COLOR)
    want = create_engine(EngineConfig()).fuse(ir16, decoded, "bgr")
    assert fused[0].encoding == "bgr8" and fused[0].header.frame_id == "visible_optical"
    assert np.array_equal(image_to_array(fused[0]), want.fused)
    values = latest_diagnostics(probe, node.get_fully_qualified_name(), lambda v: int(v["received_visible"]) == 3)
    assert (int(values["bad_visible"]), int(values["bad_thermal"]), int(values["fused"])) == (1, 0, 1)
