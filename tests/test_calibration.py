"""ivif calibrate: recovery of known homographies on real pairs, refusals, the file format, the CLI,
the manual fallback and --calibration in ivif fuse."""

from __future__ import annotations

import dataclasses
import re

import cv2
import numpy as np
import pytest
import yaml

from fusion_core.calibration import (
    Calibration,
    CalibrationConfig,
    corner_error,
    estimate_homography,
    homography_from_points,
    load_calibration,
    naive_resize,
    nominal_scale_from_fov,
    overlap_fraction,
    save_calibration,
)
from fusion_core.calibration.features import to_grey
from fusion_core.calibration.geometry import apply, translation
from fusion_core.calibration.refine import refine, score_at
from fusion_core.calibration.synthetic import SyntheticRig
from fusion_core.cli.main import main
from fusion_core.errors import ConfigError, InputError
from fusion_core.io import read_thermal, read_visible

# A small rig so the tests stay fast: thermal 160x128 covering 80 % of a 320x180 visible frame.
RIG = SyntheticRig(thermal_size=(160, 128), visible_size=(320, 180), fov_ratio=0.8)
TW, TH, VW, VH = *RIG.thermal_size, *RIG.visible_size
HFOV = (50.0, 2 * np.degrees(np.arctan(np.tan(np.radians(25.0)) / 0.8)))  # lenses whose focal ratio gives fov_ratio 0.8
NOMINAL = nominal_scale_from_fov(TW, VW, *HFOV)
CONFIG = CalibrationConfig(nominal_scale=NOMINAL)  # what the CLI uses with --hfov
FAST = CalibrationConfig(nominal_scale=NOMINAL, coarse_width=96, refine_widths=(192, 320), candidates=2)
STEM = "00055D"  # a daytime MSRS pair with buildings, cars and people


def render(msrs_dir, stem: str, seed: int, same_modality: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thermal, visible, true H) of ``stem`` seen through RIG's random draw ``seed``."""
    ir, vi = read_thermal(msrs_dir / "ir" / f"{stem}.png"), read_visible(msrs_dir / "vi" / f"{stem}.png")
    if same_modality:
        ir = cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY)
    rng = np.random.default_rng(seed)
    h = RIG.draw(rng)
    thermal, visible = RIG.render(ir, vi, h, rng)
    return thermal, visible, h


@pytest.fixture(scope="module")
def rig_pair(msrs_dir):
    return render(msrs_dir, STEM, seed=3)


@pytest.fixture(scope="module")
def rig_estimate(rig_pair):
    thermal, visible, _ = rig_pair
    return estimate_homography([(thermal, visible)], CONFIG)


def test_nominal_scale_matches_the_rig():
    assert NOMINAL == pytest.approx(RIG.fov_ratio * VW / TW, rel=1e-9)


def test_same_modality_recovers_the_homography_to_a_pixel(msrs_dir):
    """The geometry (search, warps, coordinate conventions) is exact when both images share intensities."""
    thermal, visible, h = render(msrs_dir, STEM, seed=5, same_modality=True)
    assert corner_error(h, naive_resize(RIG.thermal_size, RIG.visible_size), RIG.thermal_size) > 30
    est = estimate_homography([(thermal, visible)], FAST)
    assert corner_error(h, est.homography, RIG.thermal_size) < 1.0
    assert est.score > 0.6


def test_cross_modal_real_pair_recovers_the_homography(rig_pair, rig_estimate):
    """Thermal vs visible: far closer than the resize, inside the error the benchmark measures.

    On real pairs the estimator's optimum and the dataset's own registration disagree by a few pixels
    (MSRS's registered IR is ~1.5 % larger than its visible image by mutual information alone;
    docs/calibration.md). This pair measures 6.1 px at the extrapolated corners and 2.0 px at the centre
    of a 320x180 visible frame (6.3 / 2.2 before the perspective prior); the bounds leave ~30 %, while
    the same-modality test above shows the machinery itself is exact."""
    thermal, visible, h = rig_pair
    assert corner_error(h, naive_resize(RIG.thermal_size, RIG.visible_size), RIG.thermal_size) > 30
    assert corner_error(h, rig_estimate.homography, RIG.thermal_size) < 8.0
    centre = np.array([[(TW - 1) / 2, (TH - 1) / 2]])
    assert np.linalg.norm(apply(h, centre) - apply(rig_estimate.homography, centre)) < 2.7
    assert 0.15 < rig_estimate.score < 1.0
    assert rig_estimate.overlap == pytest.approx(overlap_fraction(h, RIG.thermal_size, RIG.visible_size), abs=0.05)
    assert rig_estimate.homography[2, 2] == 1.0


def test_score_at_prefers_the_true_alignment(rig_pair):
    """Scores normalised at each alignment compare between alignments: the truth beats a 4 px shift."""
    thermal, visible, h = rig_pair
    grey = [(to_grey(thermal), to_grey(visible))]
    true = score_at(grey, h, VW, CONFIG)
    shifted = score_at(grey, translation(4.0, 0.0) @ h, VW, CONFIG)
    assert 0.15 < true < 1.0  # 0.27 measured
    assert shifted < 0.5 * true  # 0.09 measured


@pytest.mark.parametrize(("prior", "largest"), [(0.0, None), (100.0, 1e-4)])
def test_perspective_prior_pulls_toward_affine(rig_pair, prior, largest):
    """A strong prior leaves (almost) no perspective; none leaves the rig's own (≈ 1 % here)."""
    thermal, visible, h = rig_pair
    config = CalibrationConfig(nominal_scale=NOMINAL, refine_widths=(VW,), perspective_prior=prior)
    refined, _ = refine([(to_grey(thermal), to_grey(visible))], h, config)
    persp = np.abs(refined[2, :2] * np.array([(TW - 1) / 2, (TH - 1) / 2]) / (refined[2, 2] + refined[2, :2] @ [(TW - 1) / 2, (TH - 1) / 2]))
    if largest is None:
        assert persp.max() > 1e-3
    else:
        assert persp.max() < largest


def test_refuses_a_structureless_thermal(rig_pair):
    _, visible, _ = rig_pair
    flat = np.full((TH, TW), 120, np.uint8)
    with pytest.raises(InputError, match=r"pair 0: the thermal image has too little structure .*min_structure"):
        estimate_homography([(flat, visible)], CONFIG)


def test_leaves_out_a_structureless_pair_and_calibrates_from_the_rest(rig_pair, rig_estimate):
    """A blank thermal frame among the pairs (a lens cap, a dark frame in a folder) is named and left out; the
    calibration is then exactly the one the good pair gives alone."""
    thermal, visible, _ = rig_pair
    flat = np.full((TH, TW), 120, np.uint8)
    est = estimate_homography([(flat, visible), (thermal, visible)], CONFIG)
    assert (est.pairs, est.used) == (1, (1,))
    assert len(est.skipped) == 1 and est.skipped[0].startswith("pair 0: the thermal image has too little structure")
    np.testing.assert_array_equal(est.homography, rig_estimate.homography)
    assert est.score == rig_estimate.score


def test_refuses_when_no_pair_has_structure(rig_pair):
    _, visible, _ = rig_pair
    flat = np.full((TH, TW), 120, np.uint8)
    with pytest.raises(InputError, match=r"pair 0: the thermal .*; pair 1: the visible image has too little structure"):
        estimate_homography([(flat, visible), (visible[..., 0].copy()[:TH, :TW], np.full_like(visible, 60))], CONFIG)


def test_refuses_a_low_contrast_night_pair(msrs_dir):
    """MSRS 01230N (a faint night thermal image) was once calibrated 441 px off in the benchmark.

    With the acceptance checks off its best alignment is far off, so it must be refused. Which check refuses it
    depends on the CPU (floating-point results of the image pipeline and the optimiser differ slightly between
    hosts): on the Intel Xeon where this test was written the structure or score check did; on an AMD EPYC its
    score is 0.204, just over min_score 0.2, and the ambiguity check refuses it (margin 0.008, a tenth of
    min_margin). Any of the three is a correct refusal; none may let it through."""
    thermal, visible, truth = render(msrs_dir, "01230N", seed=3)
    unchecked = estimate_homography([(thermal, visible)],
                                    dataclasses.replace(CONFIG, min_score=0.0, min_margin=0.0, min_structure=0.0))
    assert corner_error(unchecked.homography, truth, (TW, TH)) > 50  # 106 px here: a refusal is needed
    with pytest.raises(InputError, match=r"(too little structure|do not share enough structure|ambiguous: two clearly different)"):
        estimate_homography([(thermal, visible)], CONFIG)


def test_refuses_unrelated_scenes(msrs_dir, rig_pair):
    thermal, _, _ = rig_pair
    _, other_visible, _ = render(msrs_dir, "00158D", seed=3)
    with pytest.raises(InputError, match=r"(do not share enough structure|ambiguous)"):
        estimate_homography([(thermal, other_visible)], FAST)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([], "at least one thermal/visible image pair"),
        ([(np.zeros((8, 8), np.uint8), np.zeros((64, 64), np.uint8))], r"thermal image 0: .*at least 16x16"),
        ("sizes", r"pair 1: .*all pairs must come from one rig"),
    ],
)
def test_refuses_bad_inputs(rig_pair, pairs, message):
    if pairs == "sizes":
        thermal, visible, _ = rig_pair
        pairs = [(thermal, visible), (thermal[: TH // 2], visible)]
    with pytest.raises(InputError, match=message):
        estimate_homography(pairs, CONFIG)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale_range": (1.5, 0.6)}, "scale_range must be 0 < low < high"),
        ({"nominal_scale": -1.0}, "nominal_scale must be > 0"),
        ({"max_rotation_deg": 90.0}, r"max_rotation_deg must be in \[0, 45\]"),
        ({"refine_widths": (64,)}, "refine_widths >= coarse_width"),
        ({"min_overlap": 0.0}, r"min_overlap must be in \(0, 1\]"),
        ({"final_model": "projective"}, "final_model must be one of affine, homography, got 'projective'"),
        ({"perspective_prior": -0.1}, "perspective_prior must be >= 0, got -0.1"),
    ],
)
def test_config_rejects(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        CalibrationConfig(**kwargs)


def test_file_round_trip_is_a_ros_params_file(tmp_path, rig_estimate):
    h = rig_estimate.homography
    calib = Calibration(tuple(h.ravel()), (TW, TH), (VW, VH), 0.42, 'auto: "quoted" text')
    path = save_calibration(tmp_path / "calib.yaml", calib, ["inputs: test"])
    text = path.read_text()
    assert text.startswith("# ivif calibrate, ") and "# inputs: test" in text
    doc = yaml.safe_load(text)
    assert list(doc) == ["/**"] and list(doc["/**"]) == ["ros__parameters"]
    params = doc["/**"]["ros__parameters"]
    assert params["homography"] == list(h.ravel())  # exact floats (repr)
    assert params["calibration"] == {"thermal_size": [TW, TH], "visible_size": [VW, VH], "score": 0.42,
                                     "method": 'auto: "quoted" text'}
    assert load_calibration(path) == calib


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/**:\n  ros__parameters:\n    homography: [1, 0, 0]\n", "lacks /\\*\\*.ros__parameters.homography"),
        ("/**: [unclosed\n", "is not valid YAML"),
        ("/**:\n  ros__parameters:\n    homography: [1, 0, 0, 0, 1, 0, 0, 0]\n    calibration: {thermal_size: [1, 1], "
         "visible_size: [1, 1], score: 1, method: x}\n", "needs 9 finite numbers"),
    ],
)
def test_load_rejects(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_calibration(path)


@pytest.fixture()
def rig_files(tmp_path, rig_pair):
    thermal, visible, _ = rig_pair
    for side, image in (("ir", thermal), ("vi", cv2.cvtColor(visible, cv2.COLOR_RGB2BGR))):
        (tmp_path / side).mkdir()
        cv2.imwrite(str(tmp_path / side / f"{STEM}.png"), image)
    return tmp_path


def test_cli_writes_the_estimate(rig_files, rig_estimate, capsys):
    out, overlay = rig_files / "calib.yaml", rig_files / "overlay.png"
    argv = ["calibrate", "--ir", str(rig_files / "ir" / f"{STEM}.png"), "--vi", str(rig_files / "vi" / f"{STEM}.png"),
            "--out", str(out), "--overlay", str(overlay), "--hfov", str(HFOV[0]), str(HFOV[1])]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"alignment score {rig_estimate.score:.3f}" in printed
    assert "calibrated from one pair: pairs of several scenes" in printed
    residual = re.search(r"edge residual after calibration: median ([\d.]+) px, .* in (\d+) of the (\d+) tiles", printed)
    assert residual and float(residual[1]) < 4.0 and 0 < int(residual[2]) <= int(residual[3]) <= 48
    assert residual[0] in out.read_text()  # the file's quality comment says it too
    calib = load_calibration(out)
    np.testing.assert_allclose(calib.matrix, rig_estimate.homography, rtol=1e-6, atol=1e-6)
    assert (calib.thermal_size, calib.visible_size) == ((TW, TH), (VW, VH))
    assert calib.score == pytest.approx(rig_estimate.score, abs=1e-6)
    assert cv2.imread(str(overlay)).shape == (360, 1280, 3)  # two 640-wide panels (enlarged)


def _rig_file(path, h: np.ndarray) -> str:
    save_calibration(path, Calibration(tuple(float(v) for v in h.ravel()), (TW, TH), (VW, VH), 1.0, "test"))
    return str(path)


def test_cli_check_passes_the_true_calibration_and_fails_a_bumped_one(rig_files, rig_pair, capsys):
    """``--check`` measures an existing file on the pairs: the rig's own homography holds, the same moved 15 px
    (a bumped mount) does not, and nothing but the overlay is written."""
    _, _, h = rig_pair
    ir, vi = str(rig_files / "ir"), str(rig_files / "vi")
    good = _rig_file(rig_files / "good.yaml", h)
    overlay = rig_files / "check.png"
    before = sorted(p.name for p in rig_files.iterdir())
    assert main(["calibrate", "--check", good, "--ir", ir, "--vi", vi, "--max-residual", "3", "--overlay", str(overlay)]) == 0
    printed = capsys.readouterr().out
    median = float(re.search(r"edge residual after calibration: median ([\d.]+) px", printed)[1])
    assert median < 3.0 and "calibration check passed" in printed
    assert sorted(p.name for p in rig_files.iterdir()) == sorted([*before, "check.png"])
    bumped = _rig_file(rig_files / "bumped.yaml", translation(15.0, 0.0) @ h)
    assert main(["calibrate", "--check", bumped, "--ir", ir, "--vi", vi, "--max-residual", "3"]) == 3
    assert "calibration check failed" in capsys.readouterr().out
    assert main(["calibrate", "--check", bumped, "--ir", ir, "--vi", vi]) == 0  # no limit: a report only


def test_cli_check_refusals(rig_files, rig_pair, capsys):
    _, _, h = rig_pair
    ir, vi = str(rig_files / "ir"), str(rig_files / "vi")
    other = rig_files / "other.yaml"
    save_calibration(other, Calibration(tuple(float(v) for v in h.ravel()), (TW * 2, TH * 2), (VW, VH), 1.0, "test"))
    assert main(["calibrate", "--check", str(other), "--ir", ir, "--vi", vi]) == 2
    assert "was made for thermal 320x256" in capsys.readouterr().err
    good = _rig_file(rig_files / "good.yaml", h)
    assert main(["calibrate", "--check", good, "--ir", ir, "--vi", vi, "--out", str(rig_files / "x.yaml")]) == 2
    assert main(["calibrate", "--ir", ir, "--vi", vi, "--out", str(rig_files / "x.yaml"), "--max-residual", "3"]) == 2
    assert main(["calibrate", "--ir", ir, "--vi", vi]) == 2
    assert "--out is required" in capsys.readouterr().err
    assert not (rig_files / "x.yaml").exists()


def test_cli_refusal_writes_nothing(tmp_path, rig_pair, capsys):
    _, visible, _ = rig_pair
    cv2.imwrite(str(tmp_path / "t.png"), np.full((TH, TW), 90, np.uint8))
    cv2.imwrite(str(tmp_path / "v.png"), visible)
    out = tmp_path / "calib.yaml"
    assert main(["calibrate", "--ir", str(tmp_path / "t.png"), "--vi", str(tmp_path / "v.png"), "--out", str(out)]) == 2
    assert "too little structure" in capsys.readouterr().err
    assert not out.exists()


def test_cli_leaves_out_a_blank_pair_of_a_folder(rig_files, rig_estimate, capsys):
    """A folder with a blank frame beside a good pair: the blank one is reported, the file is the good pair's
    calibration, and the overlay shows the pair that was used."""
    cv2.imwrite(str(rig_files / "ir" / "00000_blank.png"), np.full((TH, TW), 90, np.uint8))  # sorts first
    cv2.imwrite(str(rig_files / "vi" / "00000_blank.png"), np.full((VH, VW, 3), 60, np.uint8))
    out, overlay = rig_files / "calib.yaml", rig_files / "overlay.png"
    argv = ["calibrate", "--ir", str(rig_files / "ir"), "--vi", str(rig_files / "vi"), "--out", str(out),
            "--overlay", str(overlay), "--hfov", str(HFOV[0]), str(HFOV[1])]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "left out pair 0: the thermal image has too little structure" in printed
    assert "calibrated from one pair" in printed  # the blank one left out, one pair is what calibrated
    calib = load_calibration(out)
    np.testing.assert_allclose(calib.matrix, rig_estimate.homography, rtol=1e-6, atol=1e-6)
    assert "1 pair(s) (1 of 2 left out: too little structure)" in calib.method
    assert cv2.imread(str(overlay)).std() > 10  # the used pair's images (std 50), not the blank pair's (7)


def test_cli_manual_points(rig_files, rig_pair, capsys):
    _, _, h = rig_pair
    thermal_pts = np.array([[5.0, 6.0], [150.0, 10.0], [155.0, 120.0], [8.0, 125.0], [80.0, 64.0]])
    visible_pts = apply(h, thermal_pts)
    csv = rig_files / "pts.csv"
    csv.write_text("x_t,y_t,x_v,y_v\n" + "".join(f"{a},{b},{c},{d}  # point\n" for (a, b), (c, d) in zip(thermal_pts, visible_pts)))
    out = rig_files / "manual.yaml"
    argv = ["calibrate", "--ir", str(rig_files / "ir"), "--vi", str(rig_files / "vi"), "--out", str(out), "--points", str(csv)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert re.search(r"point 5: residual 0\.00 px", printed) and "rms 0.00 px" in printed
    calib = load_calibration(out)
    np.testing.assert_allclose(calib.matrix, h, rtol=1e-6, atol=1e-6)
    assert calib.score == 1.0 and calib.method.startswith("manual: 5 points")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[0, 0, 1, 1], [5, 0, 6, 1], [0, 5, 1, 6]], "at least 4 point pairs, got 3"),
        ([[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]], "do not determine a homography"),
    ],
)
def test_points_rejected(rows, message):
    pts = np.asarray(rows, dtype=np.float64)
    with pytest.raises(InputError, match=message):
        homography_from_points(pts[:, :2], pts[:, 2:])


def test_points_file_bad_line(tmp_path):
    from fusion_core.calibration import read_points

    path = tmp_path / "pts.csv"
    path.write_text("1,2,3,4\n1,2,x,4\n")
    with pytest.raises(InputError, match=r"pts.csv:2: expected four numbers"):
        read_points(path)


def test_fuse_with_calibration_equals_engine_with_homography(rig_files, rig_pair):
    from fusion_core import create_engine
    from fusion_core.engine import EngineConfig
    from fusion_core.registration import RegistrationConfig

    thermal, visible, h = rig_pair
    calib = rig_files / "calib.yaml"
    save_calibration(calib, Calibration(tuple(h.ravel()), (TW, TH), (VW, VH), 1.0, "truth"))
    out = rig_files / "out"
    base = ["fuse", "--ir", str(rig_files / "ir"), "--vi", str(rig_files / "vi"), "--backend", "torch", "--device", "cpu"]
    assert main(base + ["--out", str(rig_files / "plain")]) == 2  # 160x128 vs 320x180: aspect ratios differ, no resize possible
    assert main(base + ["--out", str(out), "--calibration", str(calib)]) == 0
    engine = create_engine(EngineConfig(backend="torch", device="cpu", registration=RegistrationConfig(homography=tuple(h.ravel()))))
    expected = engine.fuse(read_thermal(rig_files / "ir" / f"{STEM}.png"), read_visible(rig_files / "vi" / f"{STEM}.png"))
    fused = cv2.cvtColor(cv2.imread(str(out / "fused" / f"{STEM}.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(fused, expected.fused)


def write_camera_bag(path, thermal, visible, visible_delay_ns: int):
    """A two-camera bag at 10 Hz: frame i of each list of (array, encoding), the visible one ``visible_delay_ns``
    after the thermal one (stamp and log time)."""
    from fusion_core.replay.bagio import BagWriter
    from fusion_core.replay.codec import IMAGE_MSGTYPE, encode_image

    with BagWriter(path) as writer:
        writer.add_topic("/thermal/image_raw", IMAGE_MSGTYPE)
        writer.add_topic("/visible/image_raw", IMAGE_MSGTYPE)
        for i, ((t, t_encoding), (v, v_encoding)) in enumerate(zip(thermal, visible)):
            stamp = 1_000_000_000 + i * 100_000_000
            writer.write("/thermal/image_raw", stamp, encode_image(t, t_encoding, stamp, "t"))
            writer.write("/visible/image_raw", stamp + visible_delay_ns, encode_image(v, v_encoding, stamp + visible_delay_ns, "v"))
    return path


def test_pairs_from_bag_pairs_by_stamp_and_spreads(tmp_path):
    from fusion_core.calibration.sources import pairs_from_bag

    rng = np.random.default_rng(0)
    thermal = [rng.integers(0, 65535, (24, 32), dtype=np.uint16) for _ in range(5)]
    visible = [rng.integers(0, 255, (36, 64, 3), dtype=np.uint8) for _ in range(5)]
    bag = write_camera_bag(tmp_path / "bag", [(t, "mono16") for t in thermal],
                           [(v[..., ::-1].copy(), "bgr8") for v in visible], visible_delay_ns=3_000_000)
    pairs = pairs_from_bag(bag, "thermal/image_raw", "/visible/image_raw", max_pairs=3)
    assert len(pairs) == 3
    for (t, v), i in zip(pairs, (0, 2, 4)):  # spread over the recording
        assert np.array_equal(t, thermal[i]) and t.dtype == np.uint16
        assert np.array_equal(v, visible[i])  # bgr8 turned into RGB
    with pytest.raises(InputError, match="has no topic '/nope'"):
        pairs_from_bag(bag, "/nope", "/visible/image_raw", max_pairs=3)


def test_pairs_from_bag_names_and_takes_a_thermal_stamp_offset(tmp_path):
    """Visible stamps 45 ms after the thermal ones (beyond the 20 ms slop): no pair, and the error names the
    correction; with it, every frame pairs with its own partner."""
    from fusion_core.calibration.sources import pairs_from_bag

    rng = np.random.default_rng(1)
    thermal = [rng.integers(0, 255, (24, 32), dtype=np.uint8) for _ in range(12)]
    visible = [rng.integers(0, 255, (24, 32, 3), dtype=np.uint8) for _ in range(12)]
    bag = write_camera_bag(tmp_path / "bag", [(t, "mono8") for t in thermal], [(v, "rgb8") for v in visible],
                           visible_delay_ns=45_000_000)
    with pytest.raises(InputError, match=re.escape("thermal stamps are 45.0 ms before the visible ones")) as refused:
        pairs_from_bag(bag, "/thermal/image_raw", "/visible/image_raw", max_pairs=3)
    assert "set --thermal-stamp-offset to 0.0450 (now 0)" in str(refused.value)
    pairs = pairs_from_bag(bag, "/thermal/image_raw", "/visible/image_raw", max_pairs=3, thermal_stamp_offset=0.045)
    for (t, v), i in zip(pairs, (0, 6, 11)):
        assert np.array_equal(t, thermal[i]) and np.array_equal(v, visible[i])


def test_ambiguous_refusal_says_how_far_apart_the_rival_alignments_are():
    """Stripes of period 40 px: shifting the thermal frame by a period aligns it as well, so the search finds
    rival alignments a period or more apart, and the refusal names that distance for the user to judge."""
    stripes = np.where(np.sin(2 * np.pi * np.arange(VW) / 40.0) > 0, 200, 50).astype(np.uint8)
    visible = np.repeat(np.broadcast_to(stripes, (VH, VW))[..., None], 3, axis=2).copy()
    h = np.array([[NOMINAL, 0.0, 20.0], [0.0, NOMINAL, 10.0], [0.0, 0.0, 1.0]])
    thermal = 255 - cv2.warpPerspective(visible[..., 0], np.linalg.inv(h), (TW, TH))  # hot = dark, as often
    with pytest.raises(InputError, match=r"ambiguous: two clearly different alignments") as refusal:
        estimate_homography([(thermal, visible)], CONFIG)
    found = re.search(r"(\d+) px apart at the thermal corners \((\d+\.\d)% of the visible width\)", str(refusal.value))
    assert found, str(refusal.value)
    px, percent = int(found.group(1)), float(found.group(2))
    assert px > 0.02 * VW  # only clearly different alignments are rivals
    assert percent == pytest.approx(100.0 * px / VW, abs=0.2)
    # with the margin check off the same search comes back, and its rivals hold what the refusal named
    est = estimate_homography([(thermal, visible)], dataclasses.replace(CONFIG, min_margin=0.0))
    assert len(est.rivals) == CONFIG.candidates - 1
    counted = [r for r in est.rivals if r.counted]
    nearest = min(counted, key=lambda r: r.score_gap)
    assert round(nearest.apart_px) == px
    assert nearest.score_gap == pytest.approx(est.margin, abs=1e-12) and est.margin < CONFIG.min_margin
    assert all(r.score_gap >= 0.0 and r.counted == (r.apart_px > 0.02 * VW) for r in est.rivals)


def test_an_accepted_estimate_records_its_rivals(rig_estimate):
    """On the real rig pair the other first-level candidates converge onto the winner's alignment (within a pixel,
    same score to 1e-4), so none counts as a rival and the margin is the winner's own score."""
    assert len(rig_estimate.rivals) == CONFIG.candidates - 1
    assert all(not r.counted and r.apart_px < 1.0 and 0.0 <= r.score_gap < 1e-4 for r in rig_estimate.rivals)
    assert rig_estimate.margin >= CONFIG.min_margin
