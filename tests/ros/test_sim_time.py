"""fusion_node on simulated time (``use_sim_time``, a bag played with ``ros2 bag play --clock``), real rclpy.

A recorded bag's stamps are hours or years old; only on the /clock topic's time do the node's latency
figures (``age_*``, ``detections_age_*`` in /diagnostics) mean what they say. With /clock held at a known
instant, every age must be exactly that instant minus the visible stamp.
"""

from __future__ import annotations

import time

import pytest
from ros_harness import Probe, wait_for, wait_matched
from test_fusion_node import MS, make_image, stamp_of, stepwise_node

from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros

NS = "simtime"
BASE = 21000 * 1_000_000_000  # the bag's first stamp, ns
CLOCK = BASE + 1000 * MS  # /clock, held here


def test_ages_are_measured_on_the_clock_topic(graph, msrs_dir) -> None:
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    node = stepwise_node(graph, NS, use_sim_time=True, **{"detector.enabled": True})
    probe = Probe(graph, NS)
    clock_pub = probe.node.create_publisher(Clock, "/clock", 10)
    thermal, visible = probe.publisher(Image, "thermal/image_raw"), probe.publisher(Image, "visible/image_raw")
    probe.record(Image, "fusion/image", 10)
    wait_matched(thermal), wait_matched(visible), wait_matched(clock_pub)
    clock = Clock()
    clock.clock.sec, clock.clock.nanosec = divmod(CLOCK, 1_000_000_000)

    def clock_is_set() -> bool:
        clock_pub.publish(clock)
        return node.get_clock().now().nanoseconds == CLOCK

    wait_for(clock_is_set, 10, "fusion_node to take /clock")
    ir, rgb = read_thermal(msrs_dir / "ir" / "00055D.png"), read_visible(msrs_dir / "vi" / "00055D.png")
    stamps = [BASE + k * 100 * MS for k in range(3)]
    for stamp in stamps:
        thermal.publish(make_image(ir, "mono8", stamp, "thermal_optical"))
        visible.publish(make_image(rgb, "rgb8", stamp + 2 * MS, "visible_optical"))
        time.sleep(0.2)
    wait_for(lambda: len(probe.messages("fusion/image")) >= 2 and int(node.counters.snapshot()["detected"]) >= 2, 60,
             "two pairs fused and detected")

    assert [stamp_of(m) for m in probe.messages("fusion/image")][:2] == [stamps[0] + 2 * MS, stamps[1] + 2 * MS]
    want = [(CLOCK - stamps[1] - 2 * MS) / 1e6, (CLOCK - stamps[0] - 2 * MS) / 1e6]  # 898 and 998 ms
    assert node.age_ms.percentiles(0, 100) == pytest.approx(want, abs=1e-6)
    assert node.detection.age_ms.percentiles(0, 100) == pytest.approx(want, abs=1e-6)
