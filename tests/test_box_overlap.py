"""scripts/box_overlap.py: the share of one class's box pixels under another class's boxes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def box_overlap(load_script):
    return load_script("box_overlap")


def _labels(folder: Path) -> Path:
    """100×100 images: 'rider' has a bicycle (20×20 at 40..60) whose left half a person box (30..50 × 0..60) covers;
    'alone' a bicycle no person touches; 'skip' a fully covered bicycle, left out by --exclude."""
    folder.mkdir()
    (folder / "rider.txt").write_text("1 0.50 0.50 0.20 0.20\n0 0.40 0.30 0.20 0.60\n")
    (folder / "alone.txt").write_text("1 0.20 0.80 0.10 0.10\n0 0.80 0.20 0.10 0.10\n")
    (folder / "skip.txt").write_text("1 0.50 0.50 0.20 0.20\n0 0.50 0.50 0.40 0.40\n")
    return folder


def test_shares_and_counts_on_known_boxes(box_overlap, tmp_path: Path) -> None:
    labels = _labels(tmp_path / "labels")
    result = box_overlap.overlap(labels, inner=1, outer=0, shape=(100, 100), exclude={"skip"})
    assert (result["images"], result["images_with_overlap"], result["inner_boxes"]) == (2, 1, 2)
    assert result["inner_boxes_at_least_30pct"] == 1
    assert result["mean_share"] == pytest.approx(0.25)  # the rider's bicycle half covered (0.5), the other 0
    assert box_overlap.overlap(labels, 1, 0, (100, 100), set())["images_with_overlap"] == 2


def test_cli_writes_its_json_and_refuses_a_missing_folder(box_overlap, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = _labels(tmp_path / "labels")
    out = tmp_path / "overlap.json"
    assert box_overlap.main(["--labels", str(labels), "--inner", "1", "--outer", "0", "--size", "100", "100",
                             "--json", str(out)]) == 0
    assert json.loads(out.read_text())["inner_boxes"] == 3
    with pytest.raises(SystemExit):
        box_overlap.main(["--labels", str(tmp_path / "none"), "--inner", "1", "--outer", "0"])
    assert "is not a folder" in capsys.readouterr().err
