"""fusion_node over real rclpy: non-finite thermal pixels (32FC1) never poison a frame, the AGC or the node.

A float thermal camera (or a driver marking dead pixels) can send NaN and ±inf. The node must fuse the
rest of the frame as usual, show the visible image with α = 0 where the thermal value is missing,
count what it saw, and — under the percentile AGC — keep every later clean frame intact. A frame with
no finite pixel at all is a counted bad pair. Expected pixels come from fusion_core fed the same
frames in the same order (its validity rule is tested on arrays in tests/test_invalid_thermal.py).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_harness import wait_for
from test_fusion_node import MS, input_probe, latest_diagnostics, make_image, stamp_of

from fusion_core.engine import EngineConfig, create_engine
from fusion_core.io import read_thermal, read_visible
from fusion_core.thermal import ThermalNormConfig

pytestmark = pytest.mark.ros


def poisoned(ir8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """32FC1 thermal (v / 255) with a NaN pixel, a +inf pixel and a −inf/NaN block; and its invalid mask."""
    thermal = ir8.astype(np.float32) / 255.0
    thermal[10, 20] = np.nan
    thermal[300, 400] = np.inf
    thermal[200:216, 100:124] = -np.inf
    thermal[200:204, 100:104] = np.nan
    return thermal, ~np.isfinite(thermal)


@pytest.mark.parametrize("policy", ["fixed", "percentile"])
def test_non_finite_thermal_pixels_are_invalid_not_poison(msrs_dir, graph, policy: str) -> None:
    from ivif_fusion.fusion_node import FusionNode
    from ivif_fusion.image_conversion import image_to_array
    from rclpy.parameter import Parameter

    namespace = f"bad_values_{policy}"
    node = graph.add(FusionNode(namespace=namespace, context=graph.context, parameter_overrides=[
        Parameter("thermal_policy", value=policy), Parameter("worker_queue_size", value=8),
        Parameter("diagnostics_period", value=0.25), Parameter("device", value="cpu")]))
    probe = input_probe(graph, namespace)
    reference = create_engine(EngineConfig(thermal=ThermalNormConfig(policy=policy)))

    ir8, rgb = read_thermal(msrs_dir / "ir" / "00004N.png"), read_visible(msrs_dir / "vi" / "00004N.png")
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    bad, invalid = poisoned(ir8)
    clean = ir8.astype(np.float32) / 255.0
    all_nan = np.full_like(clean, np.nan)
    frames = [bad, all_nan, clean, clean]
    base = 7000 * 1_000_000_000
    stamps = [base + k * 100 * MS for k in range(len(frames))]
    for stamp, thermal in zip(stamps, frames):
        probe.thermal.publish(make_image(thermal, "32FC1", stamp, "thermal_optical"))
        probe.visible.publish(make_image(bgr, "bgr8", stamp + 2 * MS, "visible_optical"))
        time.sleep(0.15)
    wait_for(lambda: len(probe.messages("fusion/image")) >= 3 and len(probe.messages("fusion/alpha")) >= 3, 30,
             "the poisoned and the clean pairs fused")
    time.sleep(0.3)
    fused, alphas = probe.messages("fusion/image"), probe.messages("fusion/alpha")
    assert [stamp_of(m) for m in fused] == [stamps[k] + 2 * MS for k in (0, 2, 3)]  # the all-NaN pair is dropped, counted below

    want_bad = reference.fuse(bad, bgr, "bgr")
    got_bad, got_alpha = image_to_array(fused[0]), image_to_array(alphas[0])
    assert np.array_equal(got_bad, want_bad.fused) and np.array_equal(got_alpha, want_bad.alpha)
    assert np.array_equal(got_bad[invalid], bgr[invalid]) and not got_alpha[invalid].any()  # visible there, α = 0
    far = np.ones_like(invalid)
    far[:60, :80] = far[260:340, 360:440] = far[160:256, 60:164] = False  # away from every invalid pixel
    fresh = create_engine(EngineConfig(thermal=ThermalNormConfig(policy=policy)))
    want_clean_first = fresh.fuse(clean, bgr, "bgr")  # what the untouched frame gives on a fresh engine
    assert np.abs(got_bad.astype(int) - want_clean_first.fused.astype(int))[far].max() <= 1  # the rest of the frame is intact

    with pytest.raises(Exception, match="no finite pixel"):
        reference.fuse(all_nan, bgr, "bgr")  # the reference sees the same sequence: its AGC state is left alone
    for out in fused[1:]:  # clean frames after the poisoned ones are untouched
        got_clean = image_to_array(out)
        assert np.array_equal(got_clean, reference.fuse(clean, bgr, "bgr").fused)
        assert got_clean.mean() > 20  # not black: the AGC state stayed finite
        if policy == "fixed":  # stateless: exactly what a fresh engine makes of the clean frame
            assert np.array_equal(got_clean, want_clean_first.fused)

    values = latest_diagnostics(probe, node.get_fully_qualified_name(), lambda v: int(v["fused"]) == 3)
    assert int(values["invalid_thermal_frames"]) == 1 and int(values["invalid_thermal_pixels"]) == int(invalid.sum())
    assert int(values["bad_pairs"]) == 1 and int(values["errors"]) == 0
