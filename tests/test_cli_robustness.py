"""Bad input to the ``ivif`` commands: a clear one-line error (exit 2) or a printed, counted warning — never a
traceback, a partial output that looks complete, or a silently wrong result. Each case is one a robustness
audit of the CLI found doing otherwise. Inputs are real MSRS pairs, reduced to 160x120 to stay fast.
"""

from __future__ import annotations

import logging
import pathlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fusion_core.cli.main import main
from fusion_core.io import read_thermal, read_visible

STEMS = ("00004N", "00055D")


@pytest.fixture(scope="module")
def small(msrs_dir, tmp_path_factory) -> Path:
    """ir/, vi/ (two MSRS pairs at 160x120) and lab/ (their IR boxes) under one folder."""
    root = tmp_path_factory.mktemp("small")
    for side in ("ir", "vi", "lab"):
        (root / side).mkdir()
    for stem in STEMS:
        cv2.imwrite(str(root / "ir" / f"{stem}.png"), cv2.resize(read_thermal(msrs_dir / "ir" / f"{stem}.png"), (160, 120)))
        vi = cv2.resize(read_visible(msrs_dir / "vi" / f"{stem}.png"), (160, 120))
        cv2.imwrite(str(root / "vi" / f"{stem}.png"), cv2.cvtColor(vi, cv2.COLOR_RGB2BGR))
        label = msrs_dir / "labels_det_ir" / f"{stem}.txt"
        if label.is_file():
            (root / "lab" / f"{stem}.txt").write_text(label.read_text())
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.out, out.err


def test_an_output_path_that_cannot_be_written_is_one_line(small, tmp_path, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, _, err = run(capsys, "fuse", "--ir", small / "ir", "--vi", small / "vi", "--out", blocker)
    assert code == 2 and f"ivif fuse: error: cannot use {blocker}/fused: Not a directory" in err
    code, out, err = run(capsys, "eval", "--ir", small / "ir", "--vi", small / "vi", "--baseline", "average", "--json", tmp_path)
    assert code == 2 and "--json" in err and "is a folder" in err and "metrics" not in out  # refused before scoring


def test_calibrate_writes_nothing_when_the_overlay_cannot_be_written(small, tmp_path, capsys) -> None:
    points = tmp_path / "pts.csv"
    points.write_text("0,0,0,0\n159,0,159,0\n159,119,159,119\n0,119,0,119\n")
    out = tmp_path / "calib.yaml"
    for overlay, message in ((tmp_path, "is a folder"), (tmp_path / "overlay.txt", "must end in one of")):
        code, _, err = run(capsys, "calibrate", "--ir", small / "ir", "--vi", small / "vi", "--points", points, "--out", out,
                           "--overlay", overlay)
        assert code == 2 and message in err and not out.exists()


def test_binary_files_where_text_is_read(small, tmp_path, capsys) -> None:
    binary = tmp_path / "model.pt"
    binary.write_bytes(b"PK\x03\x04\x80\x81\xfe\xff" * 8)
    code, _, err = run(capsys, "fuse", "--ir", small / "ir", "--vi", small / "vi", "--out", tmp_path / "o", "--calibration", binary)
    assert code == 2 and "is not a text (YAML) file" in err
    code, _, err = run(capsys, "calibrate", "--ir", small / "ir", "--vi", small / "vi", "--out", tmp_path / "c.yaml",
                       "--points", binary)
    assert code == 2 and "is not a text (CSV) file" in err


def test_convert_checkpoint_handles_what_old_checkpoints_hold(tmp_path, capsys) -> None:
    from fusion_core.checkpoint import DEFAULT_MODEL_PATH

    old = torch.load(DEFAULT_MODEL_PATH, weights_only=True)
    old["meta"] = {**old["meta"], "data_root": pathlib.PurePosixPath("/data/msrs"), "seed": np.int64(3)}
    torch.save(old, tmp_path / "old.pt")
    code, _, err = run(capsys, "convert-checkpoint", tmp_path / "old.pt", tmp_path)
    assert code == 2 and "is a folder, not a checkpoint file" in err
    assert run(capsys, "convert-checkpoint", tmp_path / "old.pt", tmp_path / "new.pt")[0] == 0
    meta = torch.load(tmp_path / "new.pt", weights_only=True)["meta"]
    assert meta["data_root"] == "/data/msrs" and meta["seed"] == 3 and type(meta["seed"]) is int


def test_options_checked_before_the_work(small, tmp_path, capsys) -> None:
    cases = [
        (["fuse", "--ir", small / "ir", "--vi", small / "vi", "--out", tmp_path / "o", "--thermal-policy", "percentile",
          "--thermal-range", "0", "100"], "--thermal-range applies to --thermal-policy fixed only"),
        (["detect", "--images", small / "vi", "--labels", small / "lab", "--seed", "-1"], "--seed must be >= 0"),
        (["bench", "--quick", "--backend", "onnxruntime", "--size", "64x48", "--threads", "0"], "--threads must be >= 1"),
        (["detect", "--images", small / "vi", "--labels", small / "lab", "--draw-threshold", "nan"], "--draw-threshold must be"),
        (["detect", "--images", small / "vi", "--labels", small / "lab", "--reps", "0"], "--reps must be >= 1"),
        (["make-bag", "--ir", small / "ir", "--vi", small / "vi", "--out", tmp_path / "b1", "--seed", "-1"], "seed must be >= 0"),
        (["make-bag", "--ir", small / "ir", "--vi", small / "vi", "--out", tmp_path / "b2", "--rate", "1e-9"],
         "run past the largest ROS time"),
    ]
    for argv, message in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2 and message in err, (argv, err)
    assert not (tmp_path / "b1").exists() and not (tmp_path / "b2").exists()


def test_make_bag_leaves_no_partial_bag(small, tmp_path, capsys) -> None:
    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        for stem in STEMS:
            (tmp_path / side / f"{stem}.png").write_bytes((small / side / f"{stem}.png").read_bytes())
    data = (tmp_path / "ir" / f"{STEMS[1]}.png").read_bytes()
    (tmp_path / "ir" / f"{STEMS[1]}.png").write_bytes(data[: len(data) // 2])  # the second pair's thermal is cut off
    code, _, err = run(capsys, "make-bag", "--ir", tmp_path / "ir", "--vi", tmp_path / "vi", "--out", tmp_path / "bag")
    assert code == 2 and "cannot read thermal image" in err
    assert not (tmp_path / "bag").exists()  # not a valid-looking bag with the first pair only
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "make-bag", "--ir", small / "ir", "--vi", small / "vi", "--out", tmp_path / "existing")
    assert code == 2 and "exists already" in err and (tmp_path / "existing" / "keep.txt").read_text() == "mine"


def test_replay_says_why_nothing_was_fused(tmp_path, capsys) -> None:
    pytest.importorskip("rosbags")
    for side, shape in (("ir", (20, 300)), ("vi", (300, 20, 3))):  # aspect ratios that cannot be registered
        (tmp_path / side).mkdir()
        cv2.imwrite(str(tmp_path / side / "p.png"), np.full(shape, 120, np.uint8))
    assert run(capsys, "make-bag", "--ir", tmp_path / "ir", "--vi", tmp_path / "vi", "--out", tmp_path / "bag")[0] == 0
    code, out, err = run(capsys, "replay", tmp_path / "bag", "--out", tmp_path / "out", "--no-metrics", "--labels", tmp_path / "no")
    assert code == 2 and "--labels" in err and "is not a directory" in err
    code, out, err = run(capsys, "replay", tmp_path / "bag", "--out", tmp_path / "out", "--no-metrics")
    assert code == 1 and "1 pair(s) could not be fused, e.g. pair at visible stamp" in out and "aspect" in out
    assert "no pair of" in err and "was fused" in err


def test_fuse_warns_when_thermal_adds_nothing(small, tmp_path, capsys, caplog) -> None:
    off = tmp_path / "off.yaml"
    off.write_text("/**:\n  ros__parameters:\n    homography: [1.0, 0.0, 5000.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]\n"
                   "    calibration:\n      thermal_size: [160, 120]\n      visible_size: [160, 120]\n      score: 1.0\n"
                   "      method: 'typed'\n")
    code, out, _ = run(capsys, "fuse", "--ir", small / "ir", "--vi", small / "vi", "--out", tmp_path / "o1", "--calibration", off)
    assert code == 0 and "warning: 2 pair(s) had no thermal pixel inside the visible frame" in out
    assert np.array_equal(read_visible(tmp_path / "o1" / "fused" / f"{STEMS[0]}.png"), read_visible(small / "vi" / f"{STEMS[0]}.png"))
    code, out, _ = run(capsys, "fuse", "--ir", small / "ir", "--vi", small / "vi", "--out", tmp_path / "o2",
                       "--thermal-range", "1000", "2000")
    assert code == 0 and "warning: 2 pair(s) had every thermal pixel outside --thermal-range 1000 2000" in out
    for side in ("ir", "vi"):
        (tmp_path / "jet" / side).mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "jet" / "ir" / "p.png"), cv2.applyColorMap(read_thermal(small / "ir" / f"{STEMS[1]}.png"),
                                                                           cv2.COLORMAP_JET))
    cv2.imwrite(str(tmp_path / "jet" / "vi" / "p.png"), cv2.imread(str(small / "vi" / f"{STEMS[1]}.png")))
    with caplog.at_level(logging.WARNING, logger="fusion_core.io"):
        assert run(capsys, "fuse", "--ir", tmp_path / "jet" / "ir", "--vi", tmp_path / "jet" / "vi", "--out", tmp_path / "o3")[0] == 0
    assert any("is in colour" in r.getMessage() and "p.png" in r.getMessage() for r in caplog.records)


def test_detect_counts_images_without_a_label_file(small, tmp_path, capsys) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / f"{STEMS[0]}.txt").write_text((small / "lab" / f"{STEMS[0]}.txt").read_text())
    code, out, _ = run(capsys, "detect", "--images", small / "vi", "--labels", tmp_path / "lab", "--json", tmp_path / "d.json")
    assert code == 0 and "1 of 2 images have no label file and count as images without objects" in out and STEMS[1] in out
    import json

    assert json.loads((tmp_path / "d.json").read_text())["images_without_label_file"] == [STEMS[1]]


def test_broken_links_and_impossible_sizes(small, tmp_path, capsys) -> None:
    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "a.png").write_bytes((small / side / f"{STEMS[0]}.png").read_bytes())
        (tmp_path / side / "b.png").symlink_to(tmp_path / "nowhere.png")  # e.g. a dataset on a drive not mounted
    code, _, err = run(capsys, "fuse", "--ir", tmp_path / "ir", "--vi", tmp_path / "vi", "--out", tmp_path / "o")
    assert code == 2 and "b.png is a broken link" in err and not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):
        main(["bench", "--quick", "--size", "100000x100000"])
    assert "each side must be at most 8192 px" in capsys.readouterr().err


def test_eval_names_an_unreadable_fused_file_as_fused(small, tmp_path, capsys) -> None:
    fused = tmp_path / "v9"
    fused.mkdir()
    for stem in STEMS:
        (fused / f"{stem}.png").write_bytes(b"not a png")
    code, _, err = run(capsys, "eval", "--ir", small / "ir", "--vi", small / "vi", "--fused", f"v9={fused}")
    assert code == 2 and f"cannot read fused image of 'v9' {fused / STEMS[0]}.png" in err and "visible" not in err
