"""The scoreboard against published methods: --fused NAME=DIR parsing, win counting with metric directions,
paired bootstrap intervals, stem checks, and the Markdown/JSON that scripts/render_evaluation.py writes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fusion_core.cli.evaluate import parse_fused
from fusion_core.errors import ConfigError, InputError
from fusion_core.metrics import HIGHER_IS_BETTER
from fusion_core.metrics.scoreboard import check_stems, counted_metrics, method_mean, paired_interval, score

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (["out/fused"], {"fused": "out/fused"}),
        (["v2=out/v2", "SeAFusion=../anchors/SeAFusion/MSRS_dev"],
         {"v2": "out/v2", "SeAFusion": "../anchors/SeAFusion/MSRS_dev"}),
        (["runs/a=b/fused"], {"fused": "runs/a=b/fused"}),  # '/' before '=': a path, not a name
        (["v3.1-x=dir=with=eq"], {"v3.1-x": "dir=with=eq"}),  # split at the first '=' only
        (["out/fused", "v2=out/v2"], {"fused": "out/fused", "v2": "out/v2"}),
    ],
)
def test_parse_fused(specs: list[str], expected: dict[str, str]) -> None:
    assert parse_fused(specs, ["max"]) == {k: Path(v) for k, v in expected.items()}


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["a", "b"], r"--fused names 'fused' twice \(a and b\)"),
        (["v2=a", "v2=b"], r"--fused names 'v2' twice"),
        (["max=a"], r"--fused name 'max' is also a --baseline"),
        (["v2="], r"--fused 'v2=': empty folder"),
    ],
)
def test_parse_fused_fail(specs: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_fused(specs, ["max"])


def _table(values: dict[str, dict[str, list[float | None]]], stems: list[str] | None = None) -> dict:
    """method -> metric -> per-image list  ==>  method -> stem -> metric -> value (the ivif eval JSON shape)."""
    out: dict = {}
    for method, metrics in values.items():
        n = len(next(iter(metrics.values())))
        names = stems or [f"s{i}" for i in range(n)]
        out[method] = {s: {m: metrics[m][i] for m in metrics} for i, s in enumerate(names)}
    return out


# Means: EN ours 6.0, A 5.0, B 7.0 (B best, ours loses); MSE (lower is better) ours 10, A 20, B 30 (A best, ours wins);
# SSIM ours 0.5 = A 0.5 (a tie is not a win); ROI-SSIM undefined on one image of ours and A.
TABLE = _table({
    "ours": {"EN": [5.0, 6.0, 7.0], "MSE": [10.0, 9.0, 11.0], "SSIM": [0.4, 0.5, 0.6], "ROI-SSIM": [0.7, None, 0.9]},
    "A": {"EN": [5.0, 5.0, 5.0], "MSE": [20.0, 21.0, 19.0], "SSIM": [0.5, 0.5, 0.5], "ROI-SSIM": [0.6, None, 0.6]},
    "B": {"EN": [7.0, 7.5, 6.5], "MSE": [30.0, 30.0, 30.0], "SSIM": [0.1, 0.2, 0.3], "ROI-SSIM": [0.5, 0.5, 0.5]},
})


def test_wins_follow_metric_directions() -> None:
    board = score(TABLE, "ours", ["A", "B"], ["EN", "MSE", "SSIM", "ROI-SSIM"], HIGHER_IS_BETTER, reps=500)
    got = {v.metric: (v.best_method, v.best, v.ours, v.win) for v in board.verdicts}
    assert got["EN"] == ("B", 7.0, 6.0, False)
    assert got["MSE"] == ("A", 20.0, 10.0, True)  # lower is better: the smallest published MSE is the bar
    assert got["SSIM"][3] is False and got["SSIM"][1] == pytest.approx(0.5)  # tie with A: no win
    assert got["ROI-SSIM"][:3] == ("A", pytest.approx(0.6), pytest.approx(0.8)) and got["ROI-SSIM"][3]
    assert board.wins == 2 and board.won == ["MSE", "ROI-SSIM"]
    v = {v.metric: v for v in board.verdicts}
    # margins are ours - best per image, over the images where both are defined
    assert v["EN"].margin.mean == pytest.approx(-1.0) and v["EN"].margin.n == 3
    assert v["MSE"].margin.mean == pytest.approx(-10.0) and v["MSE"].clear  # negative = better for MSE
    assert v["ROI-SSIM"].margin.n == 2 and v["ROI-SSIM"].margin.mean == pytest.approx(0.2)
    record = board.to_dict()
    assert record["wins"] == 2 and record["counted"] == 4 and record["metrics"][1]["higher_is_better"] is False


def test_counted_metrics_drop_undefined() -> None:
    table = _table({"ours": {"EN": [1.0, 2.0], "ROI-SSIM": [None, None]}, "A": {"EN": [1.0, 1.0], "ROI-SSIM": [0.5, None]}})
    assert counted_metrics(table, ["ours", "A"], ["EN", "SD", "ROI-SSIM"]) == ("EN",)  # SD absent, ROI-SSIM all None for ours
    assert method_mean(table["A"], "ROI-SSIM") == 0.5 and math.isnan(method_mean(table["ours"], "ROI-SSIM"))


def test_interval_matches_a_direct_bootstrap() -> None:
    diff = np.array([0.3, -0.1, 0.2, 0.5, 0.0, 0.4, -0.2, 0.1])
    iv = paired_interval(diff, reps=2000, seed=0)
    boot = diff[np.random.default_rng(0).integers(0, 8, size=(2000, 8))].mean(axis=1)
    assert (iv.low, iv.high) == pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])))
    assert iv.mean == pytest.approx(0.15) and iv.n == 8 and iv.reps == 2000 and iv.low < 0.15 < iv.high
    assert paired_interval(diff, seed=0) == iv and paired_interval(diff, seed=1) != iv  # seeded, reproducible
    const = paired_interval([0.25] * 5, reps=50)
    assert (const.low, const.mean, const.high) == pytest.approx((0.25, 0.25, 0.25))


def test_interval_width_is_that_of_a_mean() -> None:
    diff = np.random.default_rng(3).normal(1.0, 2.0, size=400)
    iv = paired_interval(diff, reps=2000, seed=0)
    half = 1.96 * diff.std(ddof=1) / math.sqrt(diff.size)  # normal-theory half width, ~0.196
    assert iv.low < diff.mean() < iv.high
    assert (iv.high - iv.low) / 2 == pytest.approx(half, rel=0.1)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: paired_interval([]), InputError, "no paired images"),
        (lambda: paired_interval([1.0, math.inf]), InputError, "1 non-finite paired difference"),
        (lambda: paired_interval([1.0], reps=0), ConfigError, "reps must be >= 1, got 0"),
        (lambda: paired_interval([1.0], level=1.0), ConfigError, r"level must lie in \(0, 1\)"),
        (lambda: score(TABLE, "ours", ["A", "C"], ["EN"], HIGHER_IS_BETTER), ConfigError,
         "method 'C' is not in the table; available: ours, A, B"),
        (lambda: score(TABLE, "ours", [], ["EN"], HIGHER_IS_BETTER), ConfigError, "no published methods"),
        (lambda: score(TABLE, "ours", ["ours", "A"], ["EN"], HIGHER_IS_BETTER), ConfigError, "both as ours and as published"),
        (lambda: score(TABLE, "ours", ["A"], ["XX"], HIGHER_IS_BETTER), ConfigError, "metric 'XX' has no direction"),
    ],
)
def test_scoreboard_failures(call, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_mismatched_stems_are_named() -> None:
    table = dict(TABLE)
    table["C"] = {s: dict(v) for s, v in TABLE["A"].items() if s != "s1"} | {"s9": dict(TABLE["A"]["s0"])}
    with pytest.raises(InputError, match=r"method 'C' was scored on other images than 'ours': missing 1 e.g. 's1'; "
                                          r"extra 1 e.g. 's9'"):
        score(table, "ours", ["A", "C"], ["EN"], HIGHER_IS_BETTER)
    assert check_stems(TABLE, ["ours", "A", "B"]) == ["s0", "s1", "s2"]


def test_render_scoreboard(tmp_path: Path) -> None:
    """The script's Markdown win line and JSON record, from an ivif-eval-shaped JSON built by hand."""
    per_pair = {m: {s: {k: v for k, v in row.items()} for s, row in rows.items()} for m, rows in TABLE.items()}
    for rows in per_pair.values():  # a baseline-like extra row and the metrics the scoreboard does not count
        for row in rows.values():
            row["PSNR"] = 20.0
    per_pair["max"] = per_pair["A"]
    report = {"pairs": 3, "roi_pairs": 2, "higher_is_better": HIGHER_IS_BETTER,
              "methods": {m: {"per_pair": rows} for m, rows in per_pair.items()}}
    src = tmp_path / "eval_msrs.json"
    src.write_text(json.dumps(report))
    out = subprocess.run([sys.executable, str(ROOT / "scripts/render_evaluation.py"), "--scoreboard", str(src), "--ours", "ours",
                          "--published", "A,B", "--json-dir", str(tmp_path / "docs"), "--reps", "200"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "**MSRS dev** — 3 pairs, ROI-SSIM over the 2 with IR boxes; 3 counted metrics" in out  # MSE/PSNR not counted
    assert "`ours` against the best published method per metric: **1/3 wins** (ROI-SSIM)" in out
    assert "| max | baseline | 5.000 | **0.500** |" not in out and "| max | baseline | 5.000 | 0.500 | 0.600 |" in out
    assert "| EN ↑ | 6.000 | 7.000 (B) | -1.0000 |" in out
    record = json.loads((tmp_path / "docs/scoreboard_msrs.json").read_text())
    assert record["metrics"] == ["EN", "SSIM", "ROI-SSIM"] and record["baselines"] == ["max"]
    assert record["scoreboards"]["ours"]["wins"] == 1 and record["bootstrap"]["reps"] == 200


def _eval_json(path: Path, methods: dict, pairs: int = 3, roi_pairs: int = 2) -> Path:
    path.write_text(json.dumps({"pairs": pairs, "roi_pairs": roi_pairs, "higher_is_better": HIGHER_IS_BETTER,
                                "methods": {m: {"per_pair": rows} for m, rows in methods.items()}}))
    return path


def _render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts/render_evaluation.py"), *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_render_merges_runs_of_one_set(tmp_path: Path) -> None:
    """A model scored in a later run on the same pairs joins the set's table; overlaps and other pairs are refused."""
    first = _eval_json(tmp_path / "eval_msrs.json", {"A": TABLE["A"], "B": TABLE["B"]})
    later = _eval_json(tmp_path / "candidate_msrs.json", {"ours": TABLE["ours"]})
    done = _render("--scoreboard", str(first), str(later), "--ours", "ours", "--candidates", "ours", "--published", "A,B",
                   "--reps", "100")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("**MSRS dev**") == 1 and "| ours | candidate | 6.000 |" in done.stdout
    assert "`ours` (candidate, not shipped) against the best published method per metric: **1/3 wins** (ROI-SSIM)" in done.stdout
    clash = _eval_json(tmp_path / "clash_msrs.json", {"A": TABLE["A"]})
    done = _render("--scoreboard", str(first), str(clash), "--ours", "A", "--published", "B")
    assert done.returncode != 0 and f"method 'A' is in both {first} and {clash}" in done.stderr
    other = _eval_json(tmp_path / "other_msrs.json", {"ours": TABLE["ours"]}, pairs=4)
    done = _render("--scoreboard", str(first), str(other), "--ours", "ours", "--published", "A,B")
    assert done.returncode != 0 and "scored 4 pairs (2 with boxes)" in done.stderr and "not the same pairs" in done.stderr


def _bars_files(folder: Path, roadscene_models: tuple[str, ...] = ("v2", "cand")) -> Path:
    """scoreboard_{msrs,roadscene,detection}.json as scripts/scoreboard.sh writes them, reduced to what --bars reads."""
    wins = {"msrs": {"v2": 8, "cand": 7}, "roadscene": {"v2": 3, "cand": 7}}
    counted = {"msrs": 10, "roadscene": 9}
    for name in ("msrs", "roadscene"):
        models = ("v2", "cand") if name == "msrs" else roadscene_models
        (folder / f"scoreboard_{name}.json").write_text(json.dumps(
            {"ours": list(models), "candidates": ["cand"],
             "scoreboards": {m: {"wins": wins[name][m], "counted": counted[name]} for m in models}}))
    (folder / "scoreboard_detection.json").write_text(json.dumps({"differences": {
        "v2": {"vs_seafusion_colour": {"observed": 0.025, "ci95": [0.001, 0.05]}},
        "cand": {"vs_seafusion_colour": {"observed": 0.03, "ci95": [-0.01, 0.06]}}}}))
    return folder


def test_bars_table_checks_every_bar_of_issue_12(tmp_path: Path) -> None:
    """A bar is met at the threshold itself (8 of 10, 7 of 9); detection needs the margin and an interval above 0."""
    done = _render("--bars", str(_bars_files(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "| v2 | 8/10 **met** | 3/9 | +0.025 [+0.001, +0.050] **met** | 2 of 3 |" in done.stdout
    assert "| cand (candidate) | 7/10 | 7/9 **met** | +0.030 [-0.010, +0.060] | 1 of 3 |" in done.stdout


def test_bars_table_refuses_a_model_missing_from_a_set(tmp_path: Path) -> None:
    done = _render("--bars", str(_bars_files(tmp_path, roadscene_models=("v2",))))
    assert done.returncode != 0 and "'cand' is in scoreboard_msrs.json but not in scoreboard_roadscene.json" in done.stderr
    done = _render("--bars", str(tmp_path / "nowhere"))
    assert done.returncode != 0 and "is missing; run scripts/scoreboard.sh first" in done.stderr
