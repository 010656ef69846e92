"""Tuning the detector while it runs (real rclpy + Fast DDS), through the parameter service ``ros2 param set``
and rqt_reconfigure call.

``score_threshold``, ``nms_iou`` and ``classes`` change what the next detections keep: the published boxes
after a change must be exactly the subset the new settings allow of what the old settings found on the same
image. A value the start-up checks refuse is refused with their reason and changes nothing; every other
parameter stays read-only; fusion_node refuses ``detector.*`` changes when its detector is off.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ros_harness import Probe, wait_for, wait_matched

from fusion_core.engine import EngineConfig, create_engine
from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros

NS = "tune"


def set_remotely(client, graph, **values):
    """Set parameters through the node's set_parameters service; one SetParametersResult per value."""
    from rclpy.parameter import Parameter

    future = client.set_parameters([Parameter(name, value=value) for name, value in values.items()])
    wait_for(future.done, 10, f"the parameter service to answer {values}")
    return future.result().results


def test_detector_node_keeps_the_subset_the_new_settings_allow(graph, msrs_dir) -> None:
    from ivif_fusion.detector_node import DetectorNode
    from ivif_fusion.image_conversion import array_to_image
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header, String

    node = graph.add(DetectorNode(namespace=NS, context=graph.context, parameter_overrides=[
        Parameter("score_threshold", value=0.1), Parameter("classes", value=["person", "car"]),
        Parameter("publish_json", value=True), Parameter("worker_queue_size", value=4)]))
    probe = Probe(graph, NS)
    image_pub = probe.publisher(Image, "fusion/image")
    probe.record(String, "detections/json", 20)
    wait_matched(image_pub)
    client = AsyncParameterClient(probe.node, f"/{NS}/detector_node")
    assert client.wait_for_services(10)
    thermal, rgb = read_thermal(msrs_dir / "ir" / "00081D.png"), read_visible(msrs_dir / "vi" / "00081D.png")
    fused = create_engine(EngineConfig()).fuse(thermal, rgb, "rgb").fused

    def detections(sec: int) -> list[tuple[str, float, tuple[float, ...]]]:
        header = Header(frame_id="cam")
        header.stamp.sec = sec
        image_pub.publish(array_to_image(fused, "rgb8", header))
        wait_for(lambda: any(json.loads(m.data)["stamp"]["sec"] == sec for m in probe.messages("detections/json")), 30,
                 f"the detections of image {sec}")
        doc = [json.loads(m.data) for m in probe.messages("detections/json") if json.loads(m.data)["stamp"]["sec"] == sec][0]
        return [(d["class_name"], d["score"], tuple(d["box_xyxy"])) for d in doc["detections"]]

    before = detections(1)
    assert {"person", "car"} == {name for name, _, _ in before}
    assert min(score for _, score, _ in before) < 0.4 < max(score for _, score, _ in before)

    assert [r.successful for r in set_remotely(client, graph, score_threshold=0.4)] == [True]
    assert node.get_parameter("score_threshold").value == 0.4
    assert detections(2) == [d for d in before if d[1] >= 0.4]

    assert [r.successful for r in set_remotely(client, graph, classes=["car"])] == [True]
    assert detections(3) == [d for d in before if d[1] >= 0.4 and d[0] == "car"] != []

    refused = {
        "classes": (["cart"], "not COCO class names"),
        "score_threshold": (1.5, ""),  # outside the declared range
        "input_size": (320, "read-only"),
        "model_path": ("/elsewhere.onnx", "read-only"),
    }
    for name, (value, reason) in refused.items():
        [result] = set_remotely(client, graph, **{name: value})
        assert not result.successful and reason in result.reason, (name, result.reason)
    assert (node.get_parameter("classes").value, node.get_parameter("score_threshold").value) == (["car"], 0.4)
    assert detections(4) == [d for d in before if d[1] >= 0.4 and d[0] == "car"]

    values = node.diagnostic_values()  # what /diagnostics reports as in force
    assert (values["score_threshold"], values["nms_iou"], values["classes"]) == (0.4, 0.65, "car")
    assert [r.successful for r in set_remotely(client, graph, classes=[], score_threshold=0.1)] == [True, True]
    assert (node.detector.config.classes, node.detector.config.score_threshold) == (None, 0.1)  # [] = all 80
    assert (node.diagnostic_values()["classes"], node.diagnostic_values()["score_threshold"]) == ("all", 0.1)


def test_fusion_node_retunes_its_detector_or_refuses_when_it_has_none(graph) -> None:
    from ivif_fusion.fusion_node import FusionNode
    from rclpy.parameter import Parameter

    with_detector = graph.add(FusionNode(namespace="tune_in", context=graph.context, parameter_overrides=[
        Parameter("detector.enabled", value=True)]))
    [result] = with_detector.set_parameters([Parameter("detector.nms_iou", value=0.4)])
    assert result.successful and with_detector.detection.detector.config.nms_iou == 0.4
    assert with_detector.detection.values()["detector_nms_iou"] == 0.4
    [result] = with_detector.set_parameters([Parameter("detector.input_size", value=320)])
    assert not result.successful and with_detector.detection.detector.config.input_size == 416

    without = graph.add(FusionNode(namespace="tune_off", context=graph.context))
    [result] = without.set_parameters([Parameter("detector.score_threshold", value=0.6)])
    assert not result.successful and "the in-process detector is off" in result.reason
    assert without.get_parameter("detector.score_threshold").value == 0.3
    [result] = without.set_parameters([Parameter("slop", value=0.05)])
    assert not result.successful and "read-only" in result.reason
    assert np.isclose(without.get_parameter("slop").value, 0.02)
