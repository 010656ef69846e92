"""fusion_node's in-process detector over real rclpy + Fast DDS: real MSRS pairs in, fused images and
detections out with the visible header, boxes equal to the Detector run on the published fused image,
every fused frame detected or counted; with detector.enabled false (the default) no detections at all."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ros_harness import Probe, diagnostic_values, wait_for, wait_matched

from fusion_core.detection import Detector, DetectorConfig, draw_detections
from fusion_core.errors import ConfigError
from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros

MS = 1_000_000
STEMS = ("00081D", "00055D", "00004N")  # a daytime street with people and a car first
BOUND = 0.05  # s: inter_message_lower_bound of both inputs, so each pair goes out without waiting for the next


def image(array: np.ndarray, encoding: str, stamp: int, frame_id: str):
    from ivif_fusion.image_conversion import array_to_image
    from std_msgs.msg import Header

    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(stamp, 1_000_000_000)
    return array_to_image(array, encoding, header)


def start(graph, namespace: str, *params):
    """A FusionNode in ``namespace`` (+ parameter overrides) and a probe publishing its inputs and recording
    fusion/image, detections/json, detections/image and /diagnostics."""
    from diagnostic_msgs.msg import DiagnosticArray
    from ivif_fusion.fusion_node import FusionNode
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    overrides = [Parameter("worker_queue_size", value=16), Parameter("diagnostics_period", value=0.25),
                 Parameter("inter_message_lower_bound_thermal", value=BOUND),
                 Parameter("inter_message_lower_bound_visible", value=BOUND)]
    overrides += [Parameter(name, value=value) for name, value in params]
    node = graph.add(FusionNode(namespace=namespace, context=graph.context, parameter_overrides=overrides))
    probe = Probe(graph, namespace)
    probe.thermal, probe.visible = probe.publisher(Image, "thermal/image_raw"), probe.publisher(Image, "visible/image_raw")
    for msg_type, topic in ((Image, "fusion/image"), (String, "detections/json"), (Image, "detections/image"),
                            (DiagnosticArray, "/diagnostics")):
        probe.record(msg_type, topic, 50)
    wait_matched(probe.thermal), wait_matched(probe.visible)
    return node, probe


def publish_pairs(probe: Probe, msrs_dir, base_s: int, output: str) -> list[int]:
    """One MSRS pair per stem, 100 ms apart; thermal stamped 3 ms before its visible frame, so an output
    stamped with the visible header is told apart. Each pair waits for the previous pair's message on
    ``output``, so no newest-wins hand-off can replace a frame, however slow the machine. Returns the
    visible stamps (ns)."""
    stamps = []
    for k, stem in enumerate(STEMS):
        wait_for(lambda: len(probe.messages(output)) >= k, 60, f"{output} of pair {k - 1}")
        rgb = read_visible(msrs_dir / "vi" / f"{stem}.png")
        stamp = base_s * 1_000_000_000 + k * 100 * MS
        probe.thermal.publish(image(read_thermal(msrs_dir / "ir" / f"{stem}.png"), "mono8", stamp - 3 * MS, "thermal_optical"))
        probe.visible.publish(image(np.ascontiguousarray(rgb[:, :, ::-1]), "bgr8", stamp, "visible_optical"))
        stamps.append(stamp)
    return stamps


def stamp_of(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def json_stamp(doc: dict) -> int:
    return doc["stamp"]["sec"] * 1_000_000_000 + doc["stamp"]["nanosec"]


def counted(probe: Probe, node, condition) -> dict[str, str]:
    """The newest /diagnostics values of ``node`` once ``condition(values)`` holds."""
    found: dict[str, str] = {}

    def ready() -> bool:
        nonlocal found
        for msg in reversed(probe.messages("/diagnostics")):
            values = diagnostic_values(msg, f"{node.get_fully_qualified_name()}: fusion")
            if values:
                found = values
                return condition(values)
        return False

    wait_for(ready, 10, f"/diagnostics of {node.get_fully_qualified_name()} meeting the expected counts")
    return found


@pytest.mark.parametrize("own_thread", [False, True], ids=["fusion_worker", "own_thread"])
def test_detections_of_the_fused_image_with_the_visible_header(graph, msrs_dir, own_thread: bool) -> None:
    from ivif_fusion.image_conversion import image_to_array

    node, probe = start(graph, f"fdet{int(own_thread)}", ("detector.enabled", True), ("detector.own_thread", own_thread),
                        ("detector.publish_image", True))
    stamps = publish_pairs(probe, msrs_dir, base_s=2000, output="detections/json")
    wait_for(lambda: len(probe.messages("detections/json")) >= len(stamps) and len(probe.messages("detections/image")) >= len(stamps),
             60, f"detections of {len(stamps)} pairs")
    fused = probe.messages("fusion/image")
    assert [stamp_of(m.header) for m in fused] == stamps and {m.header.frame_id for m in fused} == {"visible_optical"}

    reference = Detector(DetectorConfig())  # the node's defaults: shipped YOLOX-nano, 416, 0.3, person/bicycle/car
    total = 0
    for out, msg, annotated in zip(fused, probe.messages("detections/json"), probe.messages("detections/image")):
        doc = json.loads(msg.data)
        assert json_stamp(doc) == stamp_of(out.header) and doc["frame_id"] == "visible_optical"
        assert (doc["width"], doc["height"]) == (out.width, out.height) == (640, 480)
        pixels = image_to_array(out)  # what subscribers of fusion/image see: the boxes must be the detector's on it
        want = reference.detect(pixels, "bgr")
        assert [d["class_name"] for d in doc["detections"]] == [d.class_name for d in want]
        assert np.allclose(np.array([d["box_xyxy"] for d in doc["detections"]]).reshape(-1, 4),
                           np.array([d.box_xyxy for d in want]).reshape(-1, 4), atol=0.01)
        assert np.allclose([d["score"] for d in doc["detections"]], [d.score for d in want], atol=1e-4)
        assert annotated.header == out.header and annotated.encoding == "bgr8"
        assert np.array_equal(image_to_array(annotated), draw_detections(pixels, want, "bgr"))
        total += len(want)
    first = json.loads(probe.messages("detections/json")[0].data)["detections"]
    assert sum(d["class_name"] == "person" for d in first) >= 3  # 00081D: the street scene is really detected

    values = counted(probe, node, lambda v: v["detected"] == str(len(stamps)))
    assert (values["fused"], values["detected"], values["detections"]) == (str(len(stamps)), str(len(stamps)), str(total))
    assert values["detector_errors"] == values["dropped_detector"] == "0"
    assert values["detector_own_thread"] == str(own_thread) and values["vision_msgs"] == str(node.detection.outputs.vision is not None)
    assert 0 < float(values["detect_p50_ms"]) <= float(values["detect_p99_ms"])
    if node.detection.outputs.vision is None:  # no vision_msgs here: json is the detections topic, nothing else
        assert probe.node.count_publishers(f"/fdet{int(own_thread)}/detections") == 0


def test_a_failed_detection_is_counted_and_the_fused_image_still_goes_out(graph, msrs_dir) -> None:
    node, probe = start(graph, "fdeterr", ("detector.enabled", True))
    real_detect, calls = node.detection.detector.detect, []

    def second_fails(image, order):  # the detector raising on one frame (e.g. a model/runtime error)
        calls.append(order)
        if len(calls) == 2:
            raise RuntimeError("onnxruntime: out of memory")
        return real_detect(image, order)

    node.detection.detector.detect = second_fails
    stamps = publish_pairs(probe, msrs_dir, base_s=3000, output="fusion/image")
    wait_for(lambda: len(probe.messages("detections/json")) >= 2 and len(probe.messages("fusion/image")) >= 3, 60,
             "3 fused images and 2 detections")
    assert [stamp_of(m.header) for m in probe.messages("fusion/image")] == stamps
    assert [json_stamp(json.loads(m.data)) for m in probe.messages("detections/json")] == [stamps[0], stamps[2]]
    values = counted(probe, node, lambda v: v["detector_errors"] == "1" and v["detected"] == "2")
    assert (values["fused"], values["errors"]) == ("3", "0")  # the fusion itself did not fail
    assert probe.messages("detections/image") == []  # detector.publish_image defaults to false in-process


def test_disabled_detector_publishes_no_detections(graph, msrs_dir) -> None:
    node, probe = start(graph, "fplain")  # detector.enabled: false, the default
    assert node.detection is None
    stamps = publish_pairs(probe, msrs_dir, base_s=4000, output="fusion/image")
    wait_for(lambda: len(probe.messages("fusion/image")) >= len(stamps), 60, "the fused images")
    values = counted(probe, node, lambda v: v["fused"] == str(len(stamps)))
    assert (values["detected"], values["detections"], values["detector_errors"]) == ("0", "0", "0")
    assert "detect_p50_ms" not in values
    for topic in ("detections", "detections/json", "detections/image"):
        assert probe.node.count_publishers(f"/fplain/{topic}") == 0, topic
    assert probe.messages("detections/json") == [] and probe.messages("detections/image") == []


@pytest.mark.parametrize("name,value,message", [
    ("detector.input_size", 100, "^in-process detector \\(fusion_node parameters detector.\\*\\): detector parameters: "
                                 "input_size must be a positive multiple of 32"),
    ("detector.classes", ["person", "unicorn"], "detector.\\*\\): detector parameters: classes \\['unicorn'\\] are not COCO"),
    ("detector.device", "tpu", "^parameter 'detector.device' is 'tpu'; valid values: cpu, cuda, auto$"),
    ("detector.score_threshold", 1.5, "^parameter 'detector.score_threshold'.*out of range"),
    ("detector.model_path", "/nonexistent/yolox.onnx", "^parameter 'detector.model_path': detector model_path "
                                                       "/nonexistent/yolox.onnx does not exist"),
])
def test_bad_detector_parameter_stops_start_up(graph, name, value, message) -> None:
    from ivif_fusion.fusion_node import FusionNode
    from rclpy.parameter import Parameter

    with pytest.raises(ConfigError, match=message):
        FusionNode(namespace="fbad", context=graph.context,
                   parameter_overrides=[Parameter("detector.enabled", value=True), Parameter(name, value=value)])
