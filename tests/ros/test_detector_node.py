"""detector_node over real rclpy + Fast DDS: a fused MSRS image in, detections and an annotated image out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ros_harness import Probe, diagnostic_values, wait_for, wait_matched

from fusion_core.detection import Detector, DetectorConfig, draw_detections
from fusion_core.detection.evaluate import box_iou
from fusion_core.engine import EngineConfig, create_engine
from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros

STEM = "00081D"  # daytime street: five labelled people and a car


def make_image(array: np.ndarray, encoding: str, sec: int, frame_id: str):
    from ivif_fusion.image_conversion import array_to_image
    from std_msgs.msg import Header

    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = sec, 250
    return array_to_image(array, encoding, header)


@pytest.fixture(scope="module")
def fused_bgr(msrs_dir) -> np.ndarray:
    thermal, rgb = read_thermal(msrs_dir / "ir" / f"{STEM}.png"), read_visible(msrs_dir / "vi" / f"{STEM}.png")
    return create_engine(EngineConfig()).fuse(thermal, np.ascontiguousarray(rgb[:, :, ::-1]), "bgr").fused


@pytest.fixture(scope="module")
def detector_setup(graph):
    from diagnostic_msgs.msg import DiagnosticArray
    from ivif_fusion.detector_node import DetectorNode
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    node = graph.add(DetectorNode(namespace="det", context=graph.context,
                                  parameter_overrides=[Parameter("worker_queue_size", value=8),
                                                       Parameter("diagnostics_period", value=0.25)]))
    probe = Probe(graph, "det")
    probe.image = probe.publisher(Image, "fusion/image")
    probe.record(Image, "detections/image", 20)
    probe.record(String, "detections/json", 20)
    probe.record(DiagnosticArray, "/diagnostics", 50)
    if node._vision is not None:  # a real ROS install with vision_msgs
        probe.record(node._vision.Detection2DArray, "detections", 20)
    wait_matched(probe.image)
    return node, probe


def test_detections_and_annotated_image(msrs_dir, fused_bgr, detector_setup) -> None:
    from ivif_fusion.image_conversion import image_to_array

    node, probe = detector_setup
    grey = np.ascontiguousarray(fused_bgr.mean(axis=2).round().astype(np.uint8))
    bad = make_image(grey, "mono8", 12, "cam")
    bad.encoding = "16UC1"  # not an image the detector takes
    bgra = np.concatenate([fused_bgr, np.full(grey.shape + (1,), 255, np.uint8)], axis=2)
    probe.image.publish(make_image(fused_bgr, "bgr8", 10, "cam"))
    probe.image.publish(make_image(grey, "mono8", 11, "cam"))
    probe.image.publish(bad)
    probe.image.publish(make_image(bgra, "bgra8", 13, "cam"))
    wait_for(lambda: len(probe.messages("detections/json")) >= 3 and len(probe.messages("detections/image")) >= 3, 60,
             "detections of three images")

    reference = Detector(DetectorConfig())
    expected = ((fused_bgr, "bgr"), (grey, "mono"), (fused_bgr, "bgr"))  # bgra8: the alpha channel is dropped
    for msg, annotated, (image, order) in zip(probe.messages("detections/json"), probe.messages("detections/image"), expected):
        doc = json.loads(msg.data)
        want = reference.detect(image, order)
        assert doc["stamp"]["nanosec"] == 250 and doc["frame_id"] == "cam" and (doc["width"], doc["height"]) == (640, 480)
        assert [d["class_name"] for d in doc["detections"]] == [d.class_name for d in want]
        got_boxes = np.array([d["box_xyxy"] for d in doc["detections"]])
        assert np.allclose(got_boxes, [d.box_xyxy for d in want], atol=0.01)
        assert np.allclose([d["score"] for d in doc["detections"]], [d.score for d in want], atol=1e-4)
        assert annotated.encoding == "bgr8" and annotated.header.stamp == msg_stamp(doc)
        assert np.array_equal(image_to_array(annotated), draw_detections(image, want, order))

    colour = json.loads(probe.messages("detections/json")[0].data)["detections"]
    assert len(colour) >= 3 and all(0.3 <= d["score"] <= 1.0 for d in colour)
    assert {d["class_name"] for d in colour} <= {"person", "bicycle", "car"}
    # Plausible: most labelled people are found (IoU >= 0.5 with a detected person box).
    rows = [r.split() for r in (msrs_dir / "labels_det_vi" / f"{STEM}.txt").read_text().splitlines() if r.strip()]
    people = np.array([[(cx - w / 2) * 640, (cy - h / 2) * 480, (cx + w / 2) * 640, (cy + h / 2) * 480]
                       for c, cx, cy, w, h in ((int(r[0]), *map(float, r[1:])) for r in rows) if c == 0])
    found = [np.max(box_iou(np.array(d["box_xyxy"]), people)) >= 0.5 for d in colour if d["class_name"] == "person"]
    assert sum(found) >= 3, f"{sum(found)} of {len(people)} labelled people found"
    annotated = image_to_array(probe.messages("detections/image")[0])
    changed = np.any(annotated != fused_bgr, axis=2).mean()
    assert 0.001 < changed < 0.2  # boxes and labels drawn, the rest untouched

    def counted() -> bool:
        for msg in reversed(probe.messages("/diagnostics")):
            values = diagnostic_values(msg, f"{node.get_fully_qualified_name()}: detector")
            if values:
                return values["bad_frames"] == "1" and values["processed"] == "3" and values["received"] == "4"
        return False

    wait_for(counted, 10, "/diagnostics counting 4 received, 3 processed, 1 bad frame")
    if node._vision is not None:
        arrays = probe.messages("detections")
        assert len(arrays[0].detections) == len(colour)
        first = arrays[0].detections[0]
        x1, y1, x2, y2 = colour[0]["box_xyxy"]
        assert first.results[0].hypothesis.class_id == colour[0]["class_name"]
        assert abs(first.bbox.center.position.x - (x1 + x2) / 2) < 0.01 and abs(first.bbox.size_x - (x2 - x1)) < 0.01


def msg_stamp(doc: dict):
    from builtin_interfaces.msg import Time

    return Time(sec=doc["stamp"]["sec"], nanosec=doc["stamp"]["nanosec"])


def test_detects_on_the_compressed_fused_image(fused_bgr, graph) -> None:
    """A detector on another machine subscribes fusion/image/compressed: it detects on the JPEG as decoded, and the
    annotated image comes back in the decoded (bgr8) layout."""
    from fusion_core.compressed_image import decode_compressed, encode_compressed
    from ivif_fusion.detector_node import DetectorNode
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import String

    node = graph.add(DetectorNode(namespace="det_jpeg", context=graph.context,
                                  parameter_overrides=[Parameter("input_transport", value="compressed")]))
    assert node._sub.topic_name == "/det_jpeg/fusion/image/compressed"
    probe = Probe(graph, "det_jpeg")
    jpeg_pub = probe.publisher(CompressedImage, "fusion/image/compressed")
    probe.record(String, "detections/json", 5)
    wait_matched(jpeg_pub)
    data, fmt = encode_compressed(fused_bgr, "bgr8", 90)
    msg = CompressedImage(format=fmt, data=data)
    msg.header.frame_id, msg.header.stamp.sec = "cam", 21
    jpeg_pub.publish(msg)
    wait_for(lambda: probe.messages("detections/json"), 60, "detections of the JPEG")
    doc = json.loads(probe.messages("detections/json")[0].data)
    decoded, encoding = decode_compressed(data, fmt)
    want = Detector(DetectorConfig()).detect(decoded, "bgr")
    assert encoding == "bgr8" and doc["stamp"]["sec"] == 21 and doc["frame_id"] == "cam"
    assert [d["class_name"] for d in doc["detections"]] == [d.class_name for d in want] and len(want) >= 3
    assert np.allclose([d["box_xyxy"] for d in doc["detections"]], [d.box_xyxy for d in want], atol=0.01)
