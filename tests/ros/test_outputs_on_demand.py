"""fusion_node's optional image outputs cost nothing while nobody watches (real rclpy + Fast DDS).

``fusion/alpha`` and ``fusion/image/compressed`` (JPEG, image_transport's format) are made only while they
have subscribers: a pair fused before anyone subscribes them publishes neither, the next pair after a
subscriber has matched publishes both; the JPEG is exactly fusion_core's encoding of the fused image that
went out on ``fusion/image``.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from ros_harness import Probe, wait_for, wait_matched
from test_fusion_node import MS, latest_diagnostics, make_image, stamp_of, stepwise_node

from fusion_core.compressed_image import encode_compressed
from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros


def test_alpha_and_jpeg_only_while_subscribed(graph, msrs_dir) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from ivif_fusion.image_conversion import image_to_array
    from sensor_msgs.msg import CompressedImage, Image

    ns = "on_demand"
    node = stepwise_node(graph, ns, jpeg_quality=80)
    probe = Probe(graph, ns)
    thermal, visible = probe.publisher(Image, "thermal/image_raw"), probe.publisher(Image, "visible/image_raw")
    probe.record(Image, "fusion/image", 20)
    probe.record(DiagnosticArray, "/diagnostics", 50)
    wait_matched(thermal), wait_matched(visible)
    ir, rgb = read_thermal(msrs_dir / "ir" / "00055D.png"), read_visible(msrs_dir / "vi" / "00055D.png")
    stamps = [16000 * 1_000_000_000 + k * 100 * MS for k in range(3)]

    def pair(k: int) -> None:
        thermal.publish(make_image(ir, "mono8", stamps[k], "thermal_optical"))
        visible.publish(make_image(rgb, "rgb8", stamps[k] + 2 * MS, "visible_optical"))

    pair(0), pair(1)
    wait_for(lambda: len(probe.messages("fusion/image")) >= 1, 30, "the first fused pair")  # pair 0, unwatched outputs
    probe.record(Image, "fusion/alpha", 20)
    probe.record(CompressedImage, "fusion/image/compressed", 20)
    publishers = {p.topic_name: p for p in node.publishers}
    for topic in (f"/{ns}/fusion/alpha", f"/{ns}/fusion/image/compressed"):
        wait_for(lambda topic=topic: publishers[topic].get_subscription_count() >= 1, 10, f"a subscriber on {topic}")
    pair(2)  # lets pair 1 out, now watched
    wait_for(lambda: probe.messages("fusion/alpha") and probe.messages("fusion/image/compressed"), 30, "alpha and JPEG")
    time.sleep(0.3)

    fused = probe.messages("fusion/image")
    alphas, jpegs = probe.messages("fusion/alpha"), probe.messages("fusion/image/compressed")
    assert [stamp_of(m) for m in fused] == [stamps[0] + 2 * MS, stamps[1] + 2 * MS]
    assert [stamp_of(m) for m in alphas] == [stamp_of(m) for m in jpegs] == [stamps[1] + 2 * MS]  # not pair 0's
    jpeg = jpegs[0]
    want, fmt = encode_compressed(image_to_array(fused[1]), "rgb8", 80)
    assert jpeg.format == fmt == "rgb8; jpeg compressed bgr8" and bytes(jpeg.data) == want
    assert jpeg.header.frame_id == "visible_optical"
    decoded = cv2.imdecode(np.frombuffer(bytes(jpeg.data), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.abs(decoded.astype(int) - image_to_array(fused[1]).astype(int)).mean() < 3
    values = latest_diagnostics(probe, node.get_fully_qualified_name(), lambda v: int(v["fused"]) == 2)
    assert int(values["compressed_published"]) == 1
