"""Cameras that stamp at different moments (real rclpy + Fast DDS): fusion_node measures the offset, says what to set
when it keeps pairs from forming, and ``thermal_stamp_offset`` makes them pair.

The thermal stamps of a real MSRS pair sequence are 45 ms after the visible ones (a thermal core stamping at the end
of its transfer), at 10 Hz, with the default 20 ms slop: no pair can form. The node must report the offset in
/diagnostics (``stamp_offset_ms``), warn with the correction, and with that correction fuse every pair, stamped
with the visible stamps, the offset then measured as 0.
"""

from __future__ import annotations

import math
import time

import pytest
from ros_harness import Probe, wait_matched
from test_lifecycle import stamp_of, stamped

from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros

MS = 1_000_000
PAIRS = 30


def run(graph, msrs_dir, namespace: str, capfd, **params) -> tuple[list[int], list[int], dict, str]:
    """Publish PAIRS pairs at 10 Hz with thermal stamped 45 ms late -> (visible stamps, fused stamps, last
    diagnostics values, the node's log)."""
    from ivif_fusion.fusion_node import FusionNode
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    node = graph.add(FusionNode(namespace=namespace, context=graph.context, parameter_overrides=[
        Parameter("diagnostics_period", value=1.0), Parameter("worker_queue_size", value=PAIRS),
        *[Parameter(name, value=value) for name, value in params.items()]]))
    probe = Probe(graph, namespace)
    thermal_pub, visible_pub = probe.publisher(Image, "thermal/image_raw"), probe.publisher(Image, "visible/image_raw")
    probe.record(Image, "fusion/image", PAIRS)
    wait_matched(thermal_pub), wait_matched(visible_pub)
    ir8, rgb = read_thermal(msrs_dir / "ir" / "00055D.png"), read_visible(msrs_dir / "vi" / "00055D.png")
    capfd.readouterr()
    visible = [(2000 + k // 10) * 1_000_000_000 + (k % 10) * 100 * MS for k in range(PAIRS)]
    for stamp in visible:
        thermal_pub.publish(stamped(ir8, "mono8", stamp + 45 * MS, "ir"))
        visible_pub.publish(stamped(rgb, "rgb8", stamp, "cam"))
        time.sleep(0.1)
    time.sleep(1.5)  # a diagnostics report after the last frames
    log = capfd.readouterr().err
    fused = [stamp_of(m) for m in probe.messages("fusion/image")]
    values = node.diagnostic_values()
    graph.remove(node)
    return visible, fused, values, log


def test_an_offset_beyond_slop_is_measured_and_named(graph, msrs_dir, capfd) -> None:
    visible, fused, values, log = run(graph, msrs_dir, "offset_late", capfd)
    assert fused == [] and int(values["pairs"]) == 0
    assert int(values["unpaired_thermal_no_partner"]) + int(values["unpaired_visible_no_partner"]) >= PAIRS
    assert abs(float(values["stamp_offset_ms"]) - 45.0) < 0.01
    assert ("thermal stamps are 45.0 ms after the visible ones (median over recent frames), more than the pairing slop "
            "of 20 ms, so pairs cannot form: if the cameras stamp at different moments, set thermal_stamp_offset to "
            "-0.0450 (now 0)") in log, log


def test_the_named_correction_pairs_every_frame(graph, msrs_dir, capfd) -> None:
    visible, fused, values, log = run(graph, msrs_dir, "offset_fixed", capfd, thermal_stamp_offset=-0.045)
    assert fused == visible[:len(fused)] and len(fused) >= PAIRS - 1  # the last pair may wait for a next frame
    assert abs(float(values["stamp_offset_ms"])) < 0.01 and not math.isnan(float(values["stamp_offset_ms"]))
    assert "thermal stamps are" not in log
