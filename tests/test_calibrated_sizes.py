"""A calibration file carries the frame sizes its homography was estimated for: ``--calibration`` makes
the engine refuse pairs of other sizes (a homography maps pixels of one resolution only), and replay's
live graph hands fusion_node the same registration and smoothing as the offline engine."""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from fusion_core.calibration import Calibration, save_calibration
from fusion_core.cli._common import add_engine_options, engine_config_from_args
from fusion_core.cli.main import main
from fusion_core.io import read_thermal, read_visible

H = (0.75, 0.0, 100.0, 0.0, 0.75, 60.0, 0.0, 0.0, 1.0)


def _engine_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_engine_options(parser)
    return parser.parse_args(list(argv))


def test_calibration_option_sets_homography_sizes_and_smoothing(tmp_path) -> None:
    path = save_calibration(tmp_path / "calib.yaml", Calibration(H, (640, 512), (1280, 720), 0.8, "test"))
    config = engine_config_from_args(_engine_args("--calibration", str(path), "--alpha-smoothing", "0.7",
                                                  "--alpha-motion-threshold", "0.05"))
    assert config.registration.homography == H
    assert config.registration.calibrated_sizes == ((640, 512), (1280, 720))
    assert (config.alpha_smoothing, config.alpha_motion_threshold) == (0.7, 0.05)
    plain = engine_config_from_args(_engine_args())
    assert plain.registration.homography is None and plain.alpha_smoothing == 0.0


def test_fuse_refuses_pairs_of_other_sizes_than_calibrated(msrs_dir, tmp_path, capsys) -> None:
    """The MSRS pair is 640x480 / 640x480; a file calibrated for 640x512 -> 1280x720 must not be applied to it."""
    path = save_calibration(tmp_path / "calib.yaml", Calibration(H, (640, 512), (1280, 720), 0.8, "test"))
    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        src = msrs_dir / side / "00004N.png"
        cv2.imwrite(str(tmp_path / side / "00004N.png"), cv2.imread(str(src), cv2.IMREAD_UNCHANGED))
    base = ["fuse", "--ir", str(tmp_path / "ir"), "--vi", str(tmp_path / "vi"), "--backend", "onnxruntime", "--device", "cpu"]
    assert main(base + ["--out", str(tmp_path / "bad"), "--calibration", str(path)]) == 2
    err = capsys.readouterr().err
    assert "calibrated for thermal 640x512 and visible 1280x720" in err and "thermal 640x480 and visible 640x480" in err
    right = save_calibration(tmp_path / "right.yaml", Calibration(H, (640, 480), (640, 480), 0.8, "test"))
    assert main(base + ["--out", str(tmp_path / "good"), "--calibration", str(right)]) == 0
    fused = cv2.cvtColor(cv2.imread(str(tmp_path / "good" / "fused" / "00004N.png")), cv2.COLOR_BGR2RGB)
    rgb = read_visible(msrs_dir / "vi" / "00004N.png")
    assert np.array_equal(fused[:60], rgb[:60]) and np.array_equal(fused[:, :100], rgb[:, :100])  # outside: visible
    assert not np.array_equal(fused[100:400, 150:550], rgb[100:400, 150:550])  # inside: fused with thermal
    assert read_thermal(msrs_dir / "ir" / "00004N.png").shape == (480, 640)


def test_demo_calibrated_rig_section(tmp_path) -> None:
    """The demo's calibrated pair: the file it writes holds the estimate for the rig's sizes, the corner error it
    reports is the file's homography against the seeded true rig, and the pictures it shows exist."""
    from fusion_core.calibration import corner_error, load_calibration
    from fusion_core.calibration.synthetic import SyntheticRig
    from fusion_core.cli._demo_calibration import RIG_SEED, calibrated_rig_section
    from fusion_core.cli.demo import SAMPLE
    from fusion_core.engine import EngineConfig

    rig = calibrated_rig_section(SAMPLE, tmp_path, EngineConfig(backend="onnxruntime", device="cpu"))
    calibration = load_calibration(rig.file)
    assert (calibration.thermal_size, calibration.visible_size) == (SyntheticRig().thermal_size, SyntheticRig().visible_size)
    h_true = SyntheticRig().draw(np.random.default_rng(RIG_SEED))
    assert rig.corner_error_px == corner_error(h_true, calibration.matrix, calibration.thermal_size)
    assert 0.3 < rig.coverage < 1.0  # the narrower thermal lens leaves visible-only borders
    images = [b[1] for b in rig.blocks if b[0] == "img"]
    assert images and all((tmp_path / name).stat().st_size > 10_000 for name in images)
    assert f"**{rig.corner_error_px:.2f} px**" in " ".join(b[1] for b in rig.blocks if b[0] == "p")
