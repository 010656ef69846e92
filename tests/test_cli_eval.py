"""``ivif eval`` on three real MSRS pairs: the printed table, the JSON report, baselines, and failures."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fusion_core.baselines import fuse_baseline_image
from fusion_core.boxes import roi_mask_for
from fusion_core.cli.main import main
from fusion_core.io import read_thermal, read_visible, to_luminance, write_image
from fusion_core.metrics import METRICS, compute_all

STEMS = ("00004N", "00008N", "00587D")  # 00587D has an empty IR label file: no boxes, no ROI-SSIM


@pytest.fixture(scope="module")
def data(msrs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tmp/{ir,vi,boxes}: three MSRS pairs; tmp/fused: their average-baseline images written as PNG."""
    root = tmp_path_factory.mktemp("eval")
    for sub, src, ext in (("ir", "ir", "png"), ("vi", "vi", "png"), ("boxes", "labels_det_ir", "txt")):
        (root / sub).mkdir()
        for stem in STEMS:
            shutil.copy(msrs_dir / src / f"{stem}.{ext}", root / sub / f"{stem}.{ext}")
    for stem in STEMS:
        thermal, visible = read_thermal(root / "ir" / f"{stem}.png"), read_visible(root / "vi" / f"{stem}.png")
        write_image(root / "fused" / f"{stem}.png", fuse_baseline_image("average", thermal, visible))
    return root


def _table(out: str) -> dict[str, list[str]]:
    """Rows of the printed means table, keyed by method."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["method", "EN"])
    assert lines[start].split() == ["method", *METRICS, "pairs", "roi", "pairs"]
    rows = {}
    for line in lines[start + 1:]:
        if line.startswith("metrics:"):
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


def test_eval_fused_and_baselines(data: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report_path = tmp_path / "out" / "report.json"
    rc = main(["eval", "--ir", str(data / "ir"), "--vi", str(data / "vi"), "--fused", str(data / "fused"),
               "--boxes", str(data / "boxes"), "--baseline", "average,max", "--json", str(report_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "3 pairs" in out and "ROI-SSIM over the 2 pair(s) with boxes" in out
    rows = _table(out)
    assert list(rows) == ["fused", "average", "max"]
    # the saved PNGs and the on-the-fly baseline are the same uint8 images: identical scores
    assert rows["fused"] == rows["average"]
    assert rows["fused"][-2:] == ["3", "2"]  # pairs scored, pairs with ROI boxes
    assert rows["max"] != rows["average"]

    report = json.loads(report_path.read_text())
    assert report["pairs"] == 3 and report["roi_pairs"] == 2 and report["metrics"] == list(METRICS)
    assert report["higher_is_better"]["MSE"] is False and report["higher_is_better"]["SSIM"] is True
    fused = report["methods"]["fused"]
    assert sorted(fused["per_pair"]) == list(STEMS)
    assert fused["count"]["ROI-SSIM"] == 2 and fused["count"]["EN"] == 3
    assert fused["per_pair"]["00587D"]["ROI-SSIM"] is None

    # per-pair values are exactly compute_all on the files' 0-255 luminance
    stem = "00008N"
    thermal, visible = read_thermal(data / "ir" / f"{stem}.png"), read_visible(data / "vi" / f"{stem}.png")
    image = read_visible(data / "fused" / f"{stem}.png")
    expected = compute_all(to_luminance(image), to_luminance(thermal), to_luminance(visible),
                           roi_mask_for(data / "boxes", stem, thermal.shape))
    for name in METRICS:
        assert fused["per_pair"][stem][name] == pytest.approx(expected[name], rel=1e-12), name
    # means: over all pairs, ROI-SSIM over the two with boxes; the table prints them to 4 decimals
    for name in METRICS:
        values = [row[name] for row in fused["per_pair"].values() if row[name] is not None]
        assert fused["mean"][name] == pytest.approx(sum(values) / len(values)), name
        assert float(rows["fused"][METRICS.index(name)]) == pytest.approx(fused["mean"][name], abs=6e-5), name
    assert 5 < fused["mean"]["EN"] < 8 and 0.5 < fused["mean"]["SSIM"] < 1


def test_eval_baseline_only_without_boxes(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["eval", "--ir", str(data / "ir"), "--vi", str(data / "vi"), "--baseline", "vi_only", "--limit", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "1 pairs" in out and "(no --boxes given)" in out
    row = _table(out)["vi_only"]
    assert row[METRICS.index("ROI-SSIM")] == "-" and row[-2:] == ["1", "0"]
    assert row[METRICS.index("SCD")] == "-"  # F - VI is all zeros: its correlation is undefined


@pytest.mark.parametrize(
    ("extra", "setup", "message"),
    [
        (["--fused", "{fused}"], "remove", r"no fused image for pair '00008N' in .*fused .*1 of 3 pair\(s\) missing"),
        (["--fused", "{fused}"], "shrink", r"pair '00004N' \(.*00004N.png\): images must have the same shape"),
        ([], None, "nothing to score: give --fused DIR and/or --baseline NAME"),
        (["--baseline", "average,median"], None, "unknown baseline 'median'; valid: ir_only, vi_only, average, max, laplacian"),
        (["--baseline", "max,max"], None, "--baseline lists a name twice"),
        (["--baseline", "max", "--limit", "0"], None, "--limit must be >= 1, got 0"),
        (["--baseline", "max", "--boxes", "{root}/nowhere"], None, "--boxes .*nowhere is not a directory"),
    ],
)
def test_eval_failures(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                       extra: list[str], setup: str | None, message: str) -> None:
    fused = tmp_path / "fused"
    shutil.copytree(data / "fused", fused)
    if setup == "remove":
        (fused / "00008N.png").unlink()
    elif setup == "shrink":
        write_image(fused / "00004N.png", np.zeros((100, 100), dtype=np.uint8))
    args = [a.format(fused=fused, root=tmp_path) for a in extra]
    rc = main(["eval", "--ir", str(data / "ir"), "--vi", str(data / "vi"), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert "ivif eval: error:" in err
    assert any(re.search(message, line) for line in err.splitlines()), err


def test_eval_rejects_16bit_thermal(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ir = tmp_path / "ir"
    ir.mkdir()
    for stem in STEMS:  # 16-bit thermal derived from the 8-bit file (no radiometric data is available)
        write_image(ir / f"{stem}.png", read_thermal(data / "ir" / f"{stem}.png").astype(np.uint16) * 257)
    rc = main(["eval", "--ir", str(ir), "--vi", str(data / "vi"), "--baseline", "average"])
    err = capsys.readouterr().err
    assert rc == 2 and "is uint16; the metrics are defined on 8-bit (0-255) thermal images" in err


def test_eval_several_named_fused_folders(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--fused NAME=DIR, repeated: one row per name, each scored on the same pairs; the JSON maps names to folders."""
    other = tmp_path / "other"
    for stem in STEMS:  # a second method: pixel max of the pair
        thermal, visible = read_thermal(data / "ir" / f"{stem}.png"), read_visible(data / "vi" / f"{stem}.png")
        write_image(other / f"{stem}.png", fuse_baseline_image("max", thermal, visible))
    report_path = tmp_path / "report.json"
    rc = main(["eval", "--ir", str(data / "ir"), "--vi", str(data / "vi"), "--fused", f"avg={data / 'fused'}",
               "--fused", f"mx={other}", "--baseline", "average,max", "--limit", "2", "--json", str(report_path)])
    rows = _table(capsys.readouterr().out)
    assert rc == 0 and list(rows) == ["avg", "mx", "average", "max"]
    assert rows["avg"] == rows["average"] and rows["mx"] == rows["max"] and rows["avg"] != rows["mx"]
    report = json.loads(report_path.read_text())
    assert report["fused"] == {"avg": str(data / "fused"), "mx": str(other)}
    assert sorted(report["methods"]["mx"]["per_pair"]) == list(STEMS[:2])


def test_eval_named_folder_missing_a_pair(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(data / "fused" / "00004N.png", partial / "00004N.png")
    rc = main(["eval", "--ir", str(data / "ir"), "--vi", str(data / "vi"), "--fused", f"ok={data / 'fused'}",
               "--fused", f"SeAFusion={partial}"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--fused SeAFusion: no fused image for pair '00008N' in" in err and "2 of 3 pair(s) missing" in err
