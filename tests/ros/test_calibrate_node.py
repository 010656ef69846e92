"""calibrate_node over real rclpy + Fast DDS: live camera topics in, the calibration file out, then exit.

The rig is the small synthetic one of tests/test_calibration.py (thermal 160x128 over 80 % of a 320x180
visible frame) applied to two real MSRS day scenes with one random rig error, published as a camera pair
would be: the node must keep the pairs the spacing rule selects, write the homography the estimator
finds for exactly those pairs (close to the rig's true one), and refuse with exit 3 and nothing written
when the thermal image has no structure or no pair ever arrives.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from ros_harness import NodeProcess, Probe, wait_for
from test_fusion_node import MS, make_image

from fusion_core.calibration import CalibrationConfig, corner_error, estimate_homography, load_calibration, nominal_scale_from_fov
from fusion_core.calibration.synthetic import SyntheticRig
from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros

RIG = SyntheticRig(thermal_size=(160, 128), visible_size=(320, 180), fov_ratio=0.8)
HFOV = (50.0, 2 * np.degrees(np.arctan(np.tan(np.radians(25.0)) / 0.8)))  # lenses whose focal ratio gives fov_ratio 0.8
STEMS = ("00055D", "00099D")  # day scenes with buildings, cars and people
S = 1_000_000_000


@pytest.fixture(scope="module")
def rig(msrs_dir):
    """(true H, [(thermal, visible RGB)] of each scene) through one rig error."""
    h = RIG.draw(np.random.default_rng(3))
    pairs = []
    for k, stem in enumerate(STEMS):
        ir, vi = read_thermal(msrs_dir / "ir" / f"{stem}.png"), read_visible(msrs_dir / "vi" / f"{stem}.png")
        pairs.append(RIG.render(ir, vi, h, np.random.default_rng(10 + k)))
    return h, pairs


def start(namespace: str, tmp_path, *params: str) -> NodeProcess:
    node = NodeProcess("calibrate_node", namespace, (f"output:={tmp_path / 'calib.yaml'}",) + params)
    node.wait_output("collecting")
    return node


def publisher_probe(graph, namespace: str) -> Probe:
    from sensor_msgs.msg import Image

    probe = Probe(graph, namespace)
    probe.thermal, probe.visible = probe.publisher(Image, "thermal/image_raw"), probe.publisher(Image, "visible/image_raw")
    for pub in (probe.thermal, probe.visible):
        wait_for(lambda pub=pub: pub.get_subscription_count() >= 1, 30, f"calibrate_node on {pub.topic_name}")
    return probe


def send(probe: Probe, stamp: int, thermal: np.ndarray, visible: np.ndarray, bgr: bool = False) -> None:
    probe.thermal.publish(make_image(thermal, "mono8", stamp, "thermal_optical"))
    if bgr:
        probe.visible.publish(make_image(np.ascontiguousarray(visible[:, :, ::-1]), "bgr8", stamp + 2 * MS, "visible_optical"))
    else:
        probe.visible.publish(make_image(visible, "rgb8", stamp + 2 * MS, "visible_optical"))
    time.sleep(0.05)


def test_calibrates_from_live_topics_and_exits(graph, rig, tmp_path) -> None:
    h_true, pairs = rig
    (t0, v0), (t1, v1) = pairs
    overlay = tmp_path / "overlay.png"
    with start("calib_ok", tmp_path, "pairs:=2", "interval:=0.5", f"overlay:={overlay}",
               f"hfov:=[{HFOV[0]}, {HFOV[1]}]") as node:
        probe = publisher_probe(graph, "calib_ok")
        base = 100 * S
        # kept: 0 s (first) and 0.6 s (>= 0.5 s after it); 0.1 s is too close; 0.7 s only lets 0.6 s out
        send(probe, base, t0, v0)
        send(probe, base + 100 * MS, t1, v1)
        send(probe, base + 600 * MS, t1, v1, bgr=True)  # a bgr8 camera: the node hands the estimator RGB
        send(probe, base + 700 * MS, t0, v0)
        code, output = node.finish(180)
    assert code == 0, output
    assert "pair 1/2 at visible stamp" in output and "pair 2/2 at visible stamp" in output
    calib = load_calibration(tmp_path / "calib.yaml")
    text = (tmp_path / "calib.yaml").read_text()
    assert f"2 pair(s) at visible stamps {base + 2 * MS}, {base + 602 * MS} ns" in text
    want = estimate_homography([(t0, v0), (t1, v1)],
                               CalibrationConfig(nominal_scale=nominal_scale_from_fov(RIG.thermal_size[0], RIG.visible_size[0], *HFOV)))
    assert corner_error(want.homography, calib.matrix, RIG.thermal_size) < 0.05  # the estimator's answer for those pairs
    assert corner_error(h_true, calib.matrix, RIG.thermal_size) < 8.0  # and near the rig (test_calibration: ~6 px)
    assert (calib.thermal_size, calib.visible_size) == (RIG.thermal_size, RIG.visible_size)
    assert calib.score == pytest.approx(want.score, abs=1e-3) and "2 pair(s)" in calib.method
    assert cv2.imread(str(overlay)).shape == (360, 1280, 3)
    assert "Traceback" not in output


def _calibration_file(path, h: np.ndarray) -> str:
    from fusion_core.calibration import Calibration, save_calibration

    save_calibration(path, Calibration(tuple(float(v) for v in h.ravel()), RIG.thermal_size, RIG.visible_size, 1.0, "test"))
    return str(path)


@pytest.mark.parametrize("bump_px, want", [(0.0, 0), (15.0, 3)])
def test_check_mode_measures_an_existing_calibration(graph, rig, tmp_path, bump_px, want) -> None:
    """``check``: the rig's own homography passes ``max_residual``; the same moved 15 px (a bumped mount) exits 3;
    neither writes a calibration."""
    from fusion_core.calibration.geometry import translation

    h_true, pairs = rig
    (t0, v0), (t1, v1) = pairs
    checked = _calibration_file(tmp_path / "rig.yaml", translation(bump_px, 0.0) @ h_true)
    overlay = tmp_path / "check.png"
    ns = f"calib_check_{int(bump_px)}"
    with start(ns, tmp_path, "pairs:=2", "interval:=0.5", f"check:={checked}", "max_residual:=3.0",
               f"overlay:={overlay}") as node:
        probe = publisher_probe(graph, ns)
        send(probe, 400 * S, t0, v0)
        send(probe, 400 * S + 600 * MS, t1, v1)
        send(probe, 400 * S + 700 * MS, t0, v0)  # lets the 0.6 s pair out of the pairer
        code, output = node.finish(120)
    assert code == want, output
    assert f"checked {checked} on 2 pair(s): edge residual after calibration: median" in output
    assert ("calibration check passed" in output) == (want == 0)
    assert ("calibration check failed" in output) == (want == 3)
    assert not (tmp_path / "calib.yaml").exists() and cv2.imread(str(overlay)).shape == (360, 1280, 3)
    assert "Traceback" not in output


def test_check_mode_refuses_an_unreadable_file(tmp_path) -> None:
    node = NodeProcess("calibrate_node", "calib_check_bad", (f"check:={tmp_path / 'missing.yaml'}",))
    with node:
        code, output = node.finish(60)
    assert code == 2, output
    assert "parameter 'check': cannot read calibration file" in output


def test_refuses_a_thermal_image_without_structure(graph, rig, tmp_path) -> None:
    _, pairs = rig
    blank = np.full(pairs[0][0].shape, 90, np.uint8)
    with start("calib_blank", tmp_path, "pairs:=1") as node:
        probe = publisher_probe(graph, "calib_blank")
        send(probe, 200 * S, blank, pairs[0][1])
        send(probe, 200 * S + 100 * MS, blank, pairs[0][1])
        code, output = node.finish(120)
    assert code == 3, output
    assert "calibration refused, nothing written" in output and "too little structure" in output
    assert not (tmp_path / "calib.yaml").exists() and "Traceback" not in output


def test_gives_up_when_no_pair_arrives(tmp_path) -> None:
    with start("calib_silent", tmp_path, "timeout:=1.0") as node:
        code, output = node.finish(60)
    assert code == 3, output
    assert "no thermal/visible pair within 1.0 s (received 0 thermal and 0 visible frame(s)" in output
    assert not (tmp_path / "calib.yaml").exists()


def test_gives_up_naming_a_stamp_offset(graph, rig, tmp_path) -> None:
    """A thermal camera stamping 45 ms late: no pair within the timeout, and the refusal says which
    thermal_stamp_offset would pair the frames."""
    _, pairs = rig
    thermal, visible = pairs[0]
    with start("calib_late", tmp_path, "timeout:=4.0") as node:
        probe = publisher_probe(graph, "calib_late")
        for k in range(12):
            stamp = 300 * S + k * 100 * MS
            probe.thermal.publish(make_image(thermal, "mono8", stamp + 45 * MS, "thermal_optical"))
            probe.visible.publish(make_image(visible, "rgb8", stamp, "visible_optical"))
            time.sleep(0.05)
        code, output = node.finish(60)
    assert code == 3, output
    assert "received 12 thermal and 12 visible frame(s)" in output
    assert "thermal stamps are 45.0 ms after the visible ones" in output and "set thermal_stamp_offset to -0.0450 (now 0)" in output
    assert not (tmp_path / "calib.yaml").exists()


@pytest.mark.parametrize("value, want", [([0.0, 0.0], None), ([50.0, 70.0], (50.0, 70.0)), ([50.0], "thermal, visible"),
                                         ([0.0, 70.0], "two angles"), ([50.0, 180.0], "two angles")])
def test_hfov_parameter(value, want) -> None:
    from ivif_fusion.calibrate_node import parse_hfov

    from fusion_core.errors import ConfigError

    if isinstance(want, str):
        with pytest.raises(ConfigError, match=want):
            parse_hfov(value)
    else:
        assert parse_hfov(value) == want
