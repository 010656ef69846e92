"""Tuning the thermal range while fusion_node runs (real rclpy + Fast DDS), through the parameter service that
``ros2 param set`` and rqt_reconfigure call.

A 16-bit thermal camera whose counts span 1000–2020 (derived from a real MSRS IR image: 1000 + 4·v; no 16-bit
data exists in ../shared/data) is fused with the default full range, then with ``thermal_low``/``thermal_high``
set to its range, then with the percentile AGC: each published fused image must be exactly fusion_core's fusion
of the same arrays under the setting in force (the AGC starting afresh), and /diagnostics must report the range
the frame was mapped by. Bad values are refused with the start-up check's reason and change nothing.
"""

from __future__ import annotations

import numpy as np
import pytest
from ros_harness import Probe, wait_for, wait_matched
from test_detector_tuning import set_remotely
from test_lifecycle import stamp_of, stamped

from fusion_core.engine import EngineConfig, create_engine
from fusion_core.io import read_thermal, read_visible
from fusion_core.thermal import ThermalNormConfig

pytestmark = pytest.mark.ros

NS = "thermal_tune"


def test_thermal_range_and_agc_retuned_while_running(graph, msrs_dir, capfd) -> None:
    from ivif_fusion.fusion_node import FusionNode
    from ivif_fusion.image_conversion import image_to_array
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from sensor_msgs.msg import Image

    node = graph.add(FusionNode(namespace=NS, context=graph.context, parameter_overrides=[
        Parameter("inter_message_lower_bound_thermal", value=0.0), Parameter("inter_message_lower_bound_visible", value=0.0),
        Parameter("worker_queue_size", value=4)]))
    probe = Probe(graph, NS)
    probe.thermal, probe.visible = probe.publisher(Image, "thermal/image_raw"), probe.publisher(Image, "visible/image_raw")
    probe.record(Image, "fusion/image", 20)
    wait_matched(probe.thermal), wait_matched(probe.visible)
    client = AsyncParameterClient(probe.node, f"/{NS}/fusion_node")
    assert client.wait_for_services(10)

    ir8, rgb = read_thermal(msrs_dir / "ir" / "00004N.png"), read_visible(msrs_dir / "vi" / "00004N.png")
    counts = (1000 + 4 * ir8.astype(np.uint16)).astype(np.uint16)  # a 16-bit camera's 1000..2020

    def fused_at(sec: int) -> np.ndarray:
        """Publish the pair at ``sec`` s (and a thermal frame 0.1 s later, so the pair is complete) -> fused pixels."""
        stamp = sec * 1_000_000_000
        probe.thermal.publish(stamped(counts, "mono16", stamp, "ir"))
        probe.visible.publish(stamped(rgb, "rgb8", stamp, "cam"))
        probe.thermal.publish(stamped(counts, "mono16", stamp + 100_000_000, "ir"))
        wait_for(lambda: any(stamp_of(m) == stamp for m in probe.messages("fusion/image")), 30, f"the pair at {sec} s")
        return image_to_array([m for m in probe.messages("fusion/image") if stamp_of(m) == stamp][0])

    def expected(thermal: ThermalNormConfig) -> np.ndarray:
        return create_engine(EngineConfig(thermal=thermal)).fuse(counts, rgb, "rgb").fused  # a fresh engine: no AGC memory

    capfd.readouterr()
    full = fused_at(10)
    assert np.array_equal(full, expected(ThermalNormConfig()))
    assert node.diagnostic_values()["thermal_range"] == "0 to 65535"
    assert "uint16 thermal frames span 1008 to 12" in capfd.readouterr().err  # logged before the fused image went out

    [result] = set_remotely(client, graph, thermal_low=1000.0)  # alone, against thermal_high 0 (= full range)
    assert not result.successful and "thermal high (0.0) must be greater than low (1000.0)" in result.reason
    assert "or both at once" in result.reason and node.engine.config.thermal == ThermalNormConfig()
    future = client.set_parameters_atomically([Parameter("thermal_low", value=1000.0), Parameter("thermal_high", value=2020.0)])
    wait_for(future.done, 10, "the parameter service to set thermal_low and thermal_high together")
    assert future.result().result.successful
    ranged = fused_at(20)
    assert "thermal frames span" not in capfd.readouterr().err  # checked again after the change: the range fits now
    assert np.array_equal(ranged, expected(ThermalNormConfig(low=1000.0, high=2020.0)))
    def follows_thermal(fused: np.ndarray) -> float:
        return float(np.corrcoef(fused.mean(axis=2).ravel(), ir8.ravel())[0, 1])

    assert follows_thermal(ranged) > follows_thermal(full) + 0.15  # the night scene's thermal content shows now (0.17 -> 0.39)
    assert node.diagnostic_values()["thermal_range"] == "1000 to 2020"

    refused = {
        "thermal_low": (3000.0, "thermal high (2020.0) must be greater than low (3000.0)"),
        "thermal_policy": ("agc", "thermal policy 'agc' is not one of fixed, percentile"),
        "thermal_smoothing": (1.5, ""),  # outside the declared range
        "slop": (0.05, "read-only"),
    }
    for name, (value, reason) in refused.items():
        [result] = set_remotely(client, graph, **{name: value})
        assert not result.successful and reason in result.reason, (name, result.reason)
    assert (node.get_parameter("thermal_low").value, node.get_parameter("thermal_policy").value) == (1000.0, "fixed")
    assert np.array_equal(fused_at(30), ranged)  # nothing changed

    [result] = set_remotely(client, graph, thermal_policy="percentile")
    assert result.successful
    agc = ThermalNormConfig(policy="percentile", low=1000.0, high=2020.0)
    assert np.array_equal(fused_at(40), expected(agc))  # the AGC's first frame: its own percentiles, no memory
    reported = [float(v) for v in node.diagnostic_values()["thermal_range"].split(" to ")]
    percentiles = np.percentile(counts[::4, ::4].astype(float), [1.0, 99.0])  # the AGC's 1st/99th on its 4x subsample
    assert np.allclose(reported, percentiles, atol=0.5), (reported, percentiles)  # a night scene: 1008 to 1236

    # back to the full range: warned again at once, because the setting changed (not after the 60 s period)
    future = client.set_parameters_atomically([Parameter("thermal_policy", value="fixed"), Parameter("thermal_low", value=0.0),
                                               Parameter("thermal_high", value=0.0)])
    wait_for(future.done, 10, "the parameter service to restore the full range")
    assert future.result().result.successful
    capfd.readouterr()
    assert np.array_equal(fused_at(50), full)
    assert "uint16 thermal frames span 1008 to 12" in capfd.readouterr().err


def test_range_check_warns_at_the_first_frame_on_change_and_then_once_a_period() -> None:
    from ivif_fusion.thermal_tuning import ThermalRangeCheck

    class Logger:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def warning(self, text: str) -> None:
            self.lines.append(text)

    now = [0.0]
    logger = Logger()
    check = ThermalRangeCheck(logger, period=60.0, clock=lambda: now[0])
    flat = np.full((64, 80), 21000, np.uint16) + np.arange(80, dtype=np.uint16)
    full, ranged = ThermalNormConfig(), ThermalNormConfig(low=20900.0, high=21100.0)
    for t in (0.0, 1.0, 59.0):
        now[0] = t
        check.check(flat, full)
    assert len(logger.lines) == 1 and "set thermal_low and thermal_high to about that span" in logger.lines[0]
    now[0] = 60.0
    check.check(flat, full)  # still flat a period later: said again
    now[0] = 61.0
    assert check.check(flat, ranged) is None  # changed: checked at once, and fine
    check.check(flat, full)  # changed back: checked at once
    assert len(logger.lines) == 3
