"""ROS 2's standard QoS override parameters on the nodes' topics (real rclpy + Fast DDS).

``qos_overrides.<resolved topic>.<publisher|subscription>.<history|depth|reliability>`` is how a ROS 2 user
changes a node's QoS without code (e.g. a best-effort camera driver, a best-effort fused image for a viewer
on Wi-Fi). The overrides must reach the one entity they name and no other (the two camera inputs share one
default profile), a best-effort camera must then be fused, a misspelt override must be named, and a value
ROS cannot use must stop the node with exit code 2 and a FATAL line naming it.
"""

from __future__ import annotations

import time

import pytest
from ros_harness import NodeProcess, Probe, wait_for, wait_matched
from test_fusion_node import MS, make_image, stamp_of, stepwise_node

from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros

NS = "qos_over"


def test_overrides_reach_the_named_topic_only_and_a_best_effort_camera_is_fused(graph, msrs_dir) -> None:
    from ivif_fusion.params import warn_undeclared_qos_overrides
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    node = stepwise_node(graph, NS, **{
        f"qos_overrides./{NS}/visible/image_raw.subscription.reliability": "best_effort",
        f"qos_overrides./{NS}/thermal/image_raw.subscription.depth": 7,
        f"qos_overrides./{NS}/fusion/image.publisher.reliability": "best_effort",
        f"qos_overrides./{NS}/fusion/alpha.publisher.history": "keep_all",
        f"qos_overrides.{NS}/fusion/image.publisher.depth": 3,  # no leading '/': names no topic
    })
    subs = {s.topic_name: s.qos_profile for s in node.subscriptions}
    pubs = {p.topic_name: p.qos_profile for p in node.publishers}
    thermal, visible = subs[f"/{NS}/thermal/image_raw"], subs[f"/{NS}/visible/image_raw"]
    assert (thermal.reliability, thermal.depth) == (ReliabilityPolicy.RELIABLE, 7)
    assert (visible.reliability, visible.depth) == (ReliabilityPolicy.BEST_EFFORT, 30)  # the shared default, untouched
    assert pubs[f"/{NS}/fusion/image"].reliability == ReliabilityPolicy.BEST_EFFORT
    assert pubs[f"/{NS}/fusion/image"].depth == 5
    assert pubs[f"/{NS}/fusion/alpha"].history == HistoryPolicy.KEEP_ALL
    assert pubs[f"/{NS}/fusion/alpha"].reliability == ReliabilityPolicy.RELIABLE
    assert pubs[f"/{NS}/fusion/camera_info"].reliability == ReliabilityPolicy.RELIABLE
    assert node.get_parameter(f"qos_overrides./{NS}/fusion/image.publisher.depth").value == 5  # declared, default

    warnings = warn_undeclared_qos_overrides(node)
    assert len(warnings) == 1
    assert f"'qos_overrides.{NS}/fusion/image.publisher.depth'" in warnings[0]
    assert f"did you mean 'qos_overrides./{NS}/fusion/image.publisher.depth'?" in warnings[0]

    # On the wire: a best-effort visible camera matches only because of the override, and its frames are fused;
    # the fused image reaches a best-effort subscriber and the graph reports the publisher best effort.
    probe = Probe(graph, NS)
    best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    thermal_pub = probe.publisher(Image, "thermal/image_raw")
    visible_pub = probe.publisher(Image, "visible/image_raw", best_effort)
    probe.record(Image, "fusion/image", best_effort)
    wait_matched(thermal_pub), wait_matched(visible_pub)
    fused_pub = next(p for p in node.publishers if p.topic_name == f"/{NS}/fusion/image")
    wait_matched(fused_pub)  # the best-effort recorder above
    info = probe.node.get_publishers_info_by_topic(f"/{NS}/fusion/image")
    assert [i.qos_profile.reliability for i in info] == [ReliabilityPolicy.BEST_EFFORT]

    ir, rgb = read_thermal(msrs_dir / "ir" / "00055D.png"), read_visible(msrs_dir / "vi" / "00055D.png")
    stamps = [17000 * 1_000_000_000 + k * 100 * MS for k in range(3)]
    for stamp in stamps:
        thermal_pub.publish(make_image(ir, "mono8", stamp, "thermal_optical"))
        visible_pub.publish(make_image(rgb, "rgb8", stamp + 2 * MS, "visible_optical"))
        time.sleep(0.2)
    wait_for(lambda: len(probe.messages("fusion/image")) >= 2, 30, "two fused pairs from the best-effort camera")
    assert [stamp_of(m) for m in probe.messages("fusion/image")][:2] == [stamps[0] + 2 * MS, stamps[1] + 2 * MS]


@pytest.mark.parametrize("override, value", [
    ("reliability", "bestt_effort"),  # not a policy value
    ("depth", "0"),  # keep_last of nothing
])
def test_an_override_ros_cannot_use_stops_the_node_naming_it(override: str, value: str) -> None:
    name = f"qos_overrides./qos_bad/thermal/image_raw.subscription.{override}"
    with NodeProcess("fusion_node", "qos_bad", (f"{name}:={value}",)) as proc:
        code, output = proc.finish(120)
    assert code == 2, output
    fatal = [line for line in output.splitlines() if "[FATAL]" in line]
    assert len(fatal) == 1 and name in fatal[0] and "invalid configuration" in fatal[0], output
    assert "Traceback" not in output


def test_detector_node_takes_overrides_on_its_input_and_outputs(graph) -> None:
    from ivif_fusion.detector_node import DetectorNode
    from rclpy.parameter import Parameter
    from rclpy.qos import ReliabilityPolicy

    ns = "qos_det"
    node = graph.add(DetectorNode(namespace=ns, context=graph.context, parameter_overrides=[
        Parameter(f"qos_overrides./{ns}/fusion/image.subscription.reliability", value="best_effort"),
        Parameter(f"qos_overrides./{ns}/detections/json.publisher.depth", value=2),
        Parameter("publish_json", value=True)]))  # the JSON topic exists with vision_msgs installed too
    subs = {s.topic_name: s.qos_profile for s in node.subscriptions}
    pubs = {p.topic_name: p.qos_profile for p in node.publishers}
    assert subs[f"/{ns}/fusion/image"].reliability == ReliabilityPolicy.BEST_EFFORT
    assert (pubs[f"/{ns}/detections/json"].depth, pubs[f"/{ns}/detections/json"].reliability) == (2, ReliabilityPolicy.RELIABLE)
    assert pubs["/diagnostics"].depth == 10
