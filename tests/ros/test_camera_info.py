"""fusion_node relays the visible camera's CameraInfo with each fused frame (real rclpy + Fast DDS).

The fused image is in the visible camera's pixel grid, so ``fusion/camera_info`` must be the visible
CameraInfo under the fused frame's header: same stamp and frame_id as the fused image, calibration
untouched; withheld (and counted) when it describes another image size; counted as missing before any
arrived. Inputs are a real MSRS pair; the CameraInfo carries made-up but distinctive intrinsics.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_harness import wait_for, wait_matched
from test_fusion_node import MS, input_probe, latest_diagnostics, make_image, stamp_of, stepwise_node

from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros


def camera_info(width: int, height: int, fx: float, binning: int = 1):
    """A CameraInfo as a calibrated driver sends it (header stamps are the driver's; the relay replaces them)."""
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob", binning_x=binning, binning_y=binning)
    info.header.frame_id = "driver_frame"
    info.k = [fx, 0.0, width / 2.0, 0.0, fx * 1.01, height / 2.0, 0.0, 0.0, 1.0]
    info.d = [-0.12, 0.03, 0.001, -0.002, 0.0]
    info.p = [fx, 0.0, width / 2.0, 0.0, 0.0, fx * 1.01, height / 2.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def test_camera_info_topic_follows_image_transport() -> None:
    from ivif_fusion.camera_info import camera_info_topic

    assert camera_info_topic("visible/image_raw") == "visible/camera_info"
    assert camera_info_topic("/cam/color/image_rect") == "/cam/color/camera_info"
    assert camera_info_topic("fusion/image") == "fusion/camera_info"
    assert camera_info_topic("image") == "camera_info"
    assert camera_info_topic("/image") == "/camera_info"


def test_image_size_applies_roi_and_binning() -> None:
    from ivif_fusion.camera_info import image_size

    assert image_size(camera_info(640, 480, 500.0)) == (640, 480)
    assert image_size(camera_info(1280, 960, 1000.0, binning=2)) == (640, 480)
    info = camera_info(1280, 960, 1000.0)
    info.roi.width, info.roi.height = 800, 600
    assert image_size(info) == (800, 600)
    info.binning_x = info.binning_y = 0  # 0 means no binning
    assert image_size(info) == (800, 600)


def test_fused_frames_carry_the_visible_camera_info(msrs_dir, graph) -> None:
    from sensor_msgs.msg import CameraInfo

    namespace = "camera_info"
    node = stepwise_node(graph, namespace, worker_queue_size=8)  # each pair goes out when the next arrives
    probe = input_probe(graph, namespace)
    probe.record(CameraInfo, "fusion/camera_info", 50)
    info_pub = probe.publisher(CameraInfo, "visible/camera_info")  # reliable, as many drivers publish it
    wait_matched(info_pub)
    fqn = node.get_fully_qualified_name()
    ir, rgb = read_thermal(msrs_dir / "ir" / "00055D.png"), read_visible(msrs_dir / "vi" / "00055D.png")
    assert rgb.shape[:2] == (480, 640)
    stamps = [12000 * 1_000_000_000 + k * 100 * MS for k in range(5)]  # pairs A..E; each pair lets the previous out

    def pair(k: int) -> None:
        probe.thermal.publish(make_image(ir, "mono8", stamps[k], "thermal_optical"))
        probe.visible.publish(make_image(rgb, "rgb8", stamps[k] + 2 * MS, "visible_optical"))

    def received_info(n: int) -> None:
        latest_diagnostics(probe, fqn, lambda v: int(v["received_camera_info"]) >= n)

    def fused(n: int) -> None:
        wait_for(lambda: len(probe.messages("fusion/image")) >= n, 30, f"{n} fused images")

    pair(0), pair(1)
    fused(1)  # A, before any CameraInfo
    right = camera_info(640, 480, 525.0)
    info_pub.publish(right)
    received_info(1)
    pair(2)
    fused(2)  # B, with the 640x480 CameraInfo
    info_pub.publish(camera_info(320, 240, 262.5))  # another resolution: must not be relayed
    received_info(2)
    pair(3)
    fused(3)  # C: CameraInfo withheld
    binned = camera_info(1280, 960, 1050.0, binning=2)  # a binned full-resolution calibration describes 640x480
    info_pub.publish(binned)
    received_info(3)
    pair(4)
    fused(4)  # D, with the binned CameraInfo
    wait_for(lambda: len(probe.messages("fusion/camera_info")) >= 2, 10, "two CameraInfo messages")
    time.sleep(0.3)  # nothing else may arrive

    images, infos = probe.messages("fusion/image"), probe.messages("fusion/camera_info")
    assert [stamp_of(m) for m in images] == [s + 2 * MS for s in stamps[:4]]
    assert [stamp_of(m) for m in infos] == [stamps[1] + 2 * MS, stamps[3] + 2 * MS]  # B and D only
    for info, image, sent in zip(infos, (images[1], images[3]), (right, binned)):
        assert info.header.frame_id == image.header.frame_id == "visible_optical"
        assert (info.width, info.height, info.binning_x, info.binning_y) == (sent.width, sent.height, sent.binning_x, sent.binning_y)
        assert np.array_equal(info.k, sent.k) and np.array_equal(info.d, sent.d) and np.array_equal(info.p, sent.p)
        assert info.distortion_model == "plumb_bob"
    values = latest_diagnostics(probe, fqn, lambda v: int(v["fused"]) == 4)
    assert {k: int(values[k]) for k in ("received_camera_info", "camera_info_published", "camera_info_missing",
                                          "camera_info_size_mismatch")} == {
        "received_camera_info": 3, "camera_info_published": 2, "camera_info_missing": 1, "camera_info_size_mismatch": 1}
    assert int(values["dropped_total"]) == 0  # a withheld CameraInfo is not a lost frame: C's image went out


def test_camera_info_can_be_switched_off(graph) -> None:
    from ivif_fusion.fusion_node import FusionNode
    from rclpy.parameter import Parameter

    node = graph.add(FusionNode(namespace="no_camera_info", context=graph.context,
                                parameter_overrides=[Parameter("publish_camera_info", value=False)]))
    assert "/no_camera_info/fusion/camera_info" not in [p.topic_name for p in node.publishers]
    assert "/no_camera_info/visible/camera_info" not in [s.topic_name for s in node.subscriptions]
    assert "/no_camera_info/fusion/image" in [p.topic_name for p in node.publishers]
