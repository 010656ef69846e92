"""fusion_node over real rclpy with an unregistered rig: the field-of-view rule and its report.

The thermal camera is mapped into the visible frame by a homography that leaves part of the visible
frame uncovered (thermal scaled by 0.75 and shifted). Outside the footprint the published fused image
must be the visible image bit for bit with α = 0; inside, exactly what fusion_core makes of the pair;
/diagnostics must report the footprint's coverage and bounding box. The rule itself is tested on
arrays in tests/test_fov.py; here it is the node's parameters, pixels and report.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_harness import Probe, wait_for
from test_fusion_node import MS, input_probe, latest_diagnostics, make_image, stamp_of, stepwise_node

from fusion_core.engine import EngineConfig, create_engine
from fusion_core.io import read_thermal, read_visible
from fusion_core.registration import RegistrationConfig

pytestmark = pytest.mark.ros

SHRINK_AND_SHIFT = (0.75, 0.0, 100.0, 0.0, 0.75, 60.0, 0.0, 0.0, 1.0)  # thermal 640x480 -> visible x 100..579, y 60..419


@pytest.mark.parametrize("smoothing", [0.0, 0.8])
def test_outside_the_thermal_footprint_is_visible_and_reported(msrs_dir, graph, smoothing: float) -> None:
    from ivif_fusion.fusion_node import FusionNode
    from ivif_fusion.image_conversion import image_to_array
    from rclpy.parameter import Parameter

    namespace = f"footprint_{int(smoothing * 10)}"
    node = graph.add(FusionNode(namespace=namespace, context=graph.context, parameter_overrides=[
        Parameter("homography", value=list(SHRINK_AND_SHIFT)), Parameter("alpha_smoothing", value=smoothing),
        Parameter("worker_queue_size", value=8), Parameter("diagnostics_period", value=0.25),
        Parameter("device", value="cpu"), Parameter("backend", value="onnxruntime")]))
    assert node.engine.config.alpha_smoothing == smoothing
    probe = input_probe(graph, namespace)
    reference = create_engine(EngineConfig(backend="onnxruntime", device="cpu", alpha_smoothing=smoothing,
                                           registration=RegistrationConfig(homography=SHRINK_AND_SHIFT)))

    stems = ("00004N", "00055D", "00004N")  # the last pair only lets the second one out of the pairing
    stamps = [9000 * 1_000_000_000 + k * 100 * MS for k in range(len(stems))]
    pairs = []
    for stamp, stem in zip(stamps, stems):
        ir, rgb = read_thermal(msrs_dir / "ir" / f"{stem}.png"), read_visible(msrs_dir / "vi" / f"{stem}.png")
        pairs.append((ir, rgb))
        probe.thermal.publish(make_image(ir, "mono8", stamp, "thermal_optical"))
        probe.visible.publish(make_image(rgb, "rgb8", stamp + 2 * MS, "visible_optical"))
        time.sleep(0.15)
    wait_for(lambda: len(probe.messages("fusion/image")) >= 2 and len(probe.messages("fusion/alpha")) >= 2, 30,
             "the first two pairs fused")
    pairs = pairs[:2]
    fused, alphas = probe.messages("fusion/image")[:2], probe.messages("fusion/alpha")[:2]
    assert [stamp_of(m) for m in fused] == [s + 2 * MS for s in stamps[:2]]

    footprint = reference.registrar.footprint((480, 640), (480, 640))
    outside = ~footprint.covered
    assert footprint.bbox == (100, 60, 579, 419) and abs(footprint.coverage - 480 * 360 / (640 * 480)) < 1e-9
    for (ir, rgb), msg, alpha_msg in zip(pairs, fused, alphas):
        want = reference.fuse(ir, rgb, "rgb")  # same sequence in the same order: the smoothing state agrees
        got, got_alpha = image_to_array(msg), image_to_array(alpha_msg)
        assert np.array_equal(got, want.fused) and np.array_equal(got_alpha, want.alpha)
        assert np.array_equal(got[outside], rgb[outside]) and not got_alpha[outside].any()
        assert got_alpha[~outside].mean() > 5  # inside, thermal takes part
        assert want.thermal_coverage == pytest.approx(footprint.coverage)

    values = latest_diagnostics(probe, node.get_fully_qualified_name(), lambda v: int(v["fused"]) >= 2)
    assert float(values["thermal_footprint_coverage"]) == pytest.approx(footprint.coverage, abs=1e-3)  # 3 decimals
    assert values["thermal_footprint_bbox"] == "100,60,579,419"
    assert float(values["thermal_coverage"]) == pytest.approx(footprint.coverage, abs=1e-3)
    time.sleep(0.1)


def test_calibration_file_is_a_params_file_the_node_loads(msrs_dir, graph, tmp_path) -> None:
    """The YAML ``ivif calibrate`` writes, passed as ``--params-file``: the node takes its homography and
    calibrated sizes; a pair at the calibrated sizes fuses with the field-of-view rule, a pair at another
    thermal resolution is refused as a counted bad pair (never fused misaligned)."""
    import cv2
    from fusion_core.calibration import Calibration, save_calibration
    from ivif_fusion.fusion_node import FusionNode
    from ivif_fusion.image_conversion import image_to_array
    from rclpy.parameter import Parameter

    path = save_calibration(tmp_path / "calib.yaml", Calibration(SHRINK_AND_SHIFT, (640, 480), (640, 480), 0.9, "test rig"))
    namespace = "footprint_calibration_file"
    node = graph.add(FusionNode(namespace=namespace, context=graph.context,
                                cli_args=["--ros-args", "--params-file", str(path)], parameter_overrides=[
        Parameter("worker_queue_size", value=8), Parameter("diagnostics_period", value=0.25),
        Parameter("device", value="cpu"), Parameter("backend", value="onnxruntime")]))
    assert node.params.homography == SHRINK_AND_SHIFT
    assert node.params.calibrated_sizes == ((640, 480), (640, 480))
    probe = input_probe(graph, namespace)

    ir, rgb = read_thermal(msrs_dir / "ir" / "00004N.png"), read_visible(msrs_dir / "vi" / "00004N.png")
    small_ir = cv2.resize(ir, (320, 240), interpolation=cv2.INTER_AREA)  # the thermal camera switched resolution
    stamps = [9500 * 1_000_000_000 + k * 100 * MS for k in range(3)]
    for stamp, thermal in zip(stamps, (ir, small_ir, ir)):
        probe.thermal.publish(make_image(thermal, "mono8", stamp, "thermal_optical"))
        probe.visible.publish(make_image(rgb, "rgb8", stamp + 2 * MS, "visible_optical"))
        time.sleep(0.15)
    values = latest_diagnostics(probe, node.get_fully_qualified_name(), lambda v: int(v["bad_pairs"]) == 1, timeout=30)
    assert int(values["fused"]) >= 1 and int(values["errors"]) == 0
    fused = probe.messages("fusion/image")
    assert stamp_of(fused[0]) == stamps[0] + 2 * MS and stamps[1] + 2 * MS not in [stamp_of(m) for m in fused]
    outside = ~node.engine.registrar.footprint((480, 640), (480, 640)).covered
    got = image_to_array(fused[0])
    assert np.array_equal(got[outside], rgb[outside]) and outside.sum() == 640 * 480 - 480 * 360


def test_replay_node_params_make_the_node_fuse_like_the_engine(graph) -> None:
    """fusion_node_params(engine config) given to a real fusion_node gives back the same registration, smoothing
    and thermal settings, so live replay with --calibration/--alpha-smoothing fuses like the offline reference."""
    from fusion_core.replay.offline import ReplayConfig
    from fusion_core.replay.runner import fusion_node_params
    from ivif_fusion.fusion_node import FusionNode
    from rclpy.parameter import Parameter

    engine = EngineConfig(backend="onnxruntime", device="cpu", alpha_smoothing=0.6, alpha_motion_threshold=0.05,
                          registration=RegistrationConfig(homography=SHRINK_AND_SHIFT, calibrated_sizes=((640, 480), (640, 480))))
    params = fusion_node_params(engine, ReplayConfig())
    node = graph.add(FusionNode(namespace="replay_params", context=graph.context,
                                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
    got = node.params.engine_config()
    assert got.registration == engine.registration
    assert (got.alpha_smoothing, got.alpha_motion_threshold) == (0.6, 0.05)
    assert (got.backend, got.device, got.thermal.policy) == ("onnxruntime", "cpu", engine.thermal.policy)



def test_the_footprint_outline_is_latched_and_follows_the_frame_size(msrs_dir, graph) -> None:
    """fusion/thermal_footprint: the outline of each new frame-size combination, with the header of its first
    fused pair; a subscriber that comes later still gets the newest one (transient local)."""
    import cv2
    from geometry_msgs.msg import PolygonStamped
    from ivif_fusion.qos import latched_qos

    from fusion_core.registration import Registrar

    namespace = "footprint_outline"
    stepwise_node(graph, namespace, homography=list(SHRINK_AND_SHIFT), worker_queue_size=8)  # pair k out with k + 1
    probe = input_probe(graph, namespace)
    probe.record(PolygonStamped, "fusion/thermal_footprint", latched_qos())
    ir, rgb = read_thermal(msrs_dir / "ir" / "00055D.png"), read_visible(msrs_dir / "vi" / "00055D.png")
    small_rgb = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA)
    stamps = [9500 * 1_000_000_000 + k * 100 * MS for k in range(4)]
    for stamp, visible in zip(stamps, (rgb, rgb, small_rgb, rgb)):  # the last only lets the third out
        probe.thermal.publish(make_image(ir, "mono8", stamp, "thermal_optical"))
        probe.visible.publish(make_image(visible, "rgb8", stamp + 2 * MS, "visible_optical"))
        time.sleep(0.2)
    wait_for(lambda: len(probe.messages("fusion/image")) >= 3 and len(probe.messages("fusion/thermal_footprint")) >= 2,
             30, "three fused pairs and two footprints")
    registrar = Registrar(RegistrationConfig(homography=SHRINK_AND_SHIFT))
    full, small = registrar.footprint((480, 640), (480, 640)).outline(), registrar.footprint((480, 640), (240, 320)).outline()
    assert sorted(full) == [(100.0, 60.0), (100.0, 419.0), (579.0, 60.0), (579.0, 419.0)]
    assert sorted(small) == [(100.0, 60.0), (100.0, 239.0), (319.0, 60.0), (319.0, 239.0)]  # clipped by the frame

    def points(msg) -> list[tuple[float, float, float]]:
        return [(p.x, p.y, p.z) for p in msg.polygon.points]

    early = probe.messages("fusion/thermal_footprint")
    assert [stamp_of(m) for m in early] == [stamps[0] + 2 * MS, stamps[2] + 2 * MS]  # not again for the same sizes
    assert points(early[0]) == [(x, y, 0.0) for x, y in full] and points(early[1]) == [(x, y, 0.0) for x, y in small]
    assert {m.header.frame_id for m in early} == {"visible_optical"}

    late = Probe(graph, namespace, "late")
    late.record(PolygonStamped, "fusion/thermal_footprint", latched_qos())
    wait_for(lambda: late.messages("fusion/thermal_footprint"), 10, "the latched footprint")
    time.sleep(0.3)
    [latched] = late.messages("fusion/thermal_footprint")
    assert stamp_of(latched) == stamps[2] + 2 * MS and points(latched) == points(early[1])
