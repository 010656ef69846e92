"""scripts/selection_vs_dev.py: selection-screen detection gains against dev gains, from the committed JSON."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def selection_vs_dev(load_script):
    return load_script("selection_vs_dev")


def test_the_committed_figures_are_read_as_the_docs_state_them(selection_vs_dev) -> None:
    result = selection_vs_dev.compare()
    rows = {r["name"]: r for r in result["rows"]}
    # docs/evaluation.md, "Anchored detection": selection 0.3583 vs v2 0.3294; dev 0.4628 vs 0.4549
    assert rows["v3anchorroidet"]["selection_minus_v2"] == pytest.approx(0.3583 - 0.3294, abs=1e-4)
    assert rows["v3anchorroidet"]["dev_minus_v2"] == pytest.approx(0.4628 - 0.4549, abs=1e-4)
    assert result["candidates"] == len(selection_vs_dev.CANDIDATES)
    assert result["passed_rule"] == sum(r["selection_minus_v2"] >= 0.02 for r in result["rows"])


def test_gains_are_differences_to_v2_in_each_file(selection_vs_dev, tmp_path: Path) -> None:
    """Move one candidate's selection and dev mAP by known amounts: exactly its two gains move."""
    eval_dir = tmp_path / "eval"
    shutil.copytree(REPO / "docs" / "eval", eval_dir)
    _, sel_file, folder, dev_file = next(c for c in selection_vs_dev.CANDIDATES if c[0] == "v3wide")
    sel = json.loads((eval_dir / sel_file).read_text())
    for f in sel["folders"]:
        if Path(f["images"]).parent.name == folder:
            f["map50"] += 0.05
    (eval_dir / sel_file).write_text(json.dumps(sel))
    dev = json.loads((eval_dir / dev_file).read_text())
    dev["map50"]["v2"] -= 0.01  # v2 lower: every candidate in this file gains 0.01
    (eval_dir / dev_file).write_text(json.dumps(dev))
    before = {r["name"]: r for r in selection_vs_dev.compare()["rows"]}
    after = {r["name"]: r for r in selection_vs_dev.compare(eval_dir)["rows"]}
    assert after["v3wide"]["selection_minus_v2"] == pytest.approx(before["v3wide"]["selection_minus_v2"] + 0.05)
    assert after["v3wide"]["dev_minus_v2"] == pytest.approx(before["v3wide"]["dev_minus_v2"] + 0.01)
    assert after["v3widetone"]["dev_minus_v2"] == pytest.approx(before["v3widetone"]["dev_minus_v2"] + 0.01)
    assert after["v3roidet"] == before["v3roidet"]


def test_the_correlation_among_passed_candidates_uses_only_those(selection_vs_dev) -> None:
    result = selection_vs_dev.compare()
    passed = [r for r in result["rows"] if r["selection_minus_v2"] >= 0.02]
    assert 0 < len(passed) < len(result["rows"])
    assert result["passed_pearson_r"] == pytest.approx(statistics.correlation(
        [r["selection_minus_v2"] for r in passed], [r["dev_minus_v2"] for r in passed]))
    assert result["passed_pearson_r"] != pytest.approx(result["pearson_r"], abs=0.05)
