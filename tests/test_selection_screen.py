"""scripts/selection_screen.py: the held-out selection pairs, the projection onto the dev bar, the base shift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.data import read_split

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def screen(load_script):
    return load_script("selection_screen")


def _board() -> dict:
    """A scoreboard file's shape: the reference's dev means and the best published value per metric."""
    return {"means": {"v2": {"SD": 44.0, "MSE": 20.0}},
            "scoreboards": {"v2": {"metrics": [
                {"metric": "SD", "higher_is_better": True, "best": 43.0, "best_method": "SeAFusion"},
                {"metric": "MSE", "higher_is_better": False, "best": 19.0, "best_method": "DenseFuse"}]}}}


def test_projection_adds_the_selection_difference_to_the_dev_mean_and_reads_each_direction(screen):
    selection = {"v2": {"SD": 40.0, "MSE": 25.0}, "cand": {"SD": 38.5, "MSE": 23.5}}
    out = screen.project(selection, "v2", _board())
    assert out["v2"]["metrics"]["SD"]["projected"] == pytest.approx(44.0)
    assert out["v2"]["wins"] == 1  # SD 44 > 43; MSE 20 is not below 19
    cand = out["cand"]["metrics"]
    assert cand["SD"]["projected"] == pytest.approx(42.5) and not cand["SD"]["win"]
    assert cand["MSE"]["projected"] == pytest.approx(18.5) and cand["MSE"]["win"]  # lower is better
    assert out["cand"]["wins"] == 1 and out["cand"]["counted"] == 2


def test_base_shift_moves_the_base_towards_the_sources_average_by_the_weight(screen):
    ir, vi = np.full((40, 50), 50.0), np.full((40, 50), 150.0)
    fused = np.full((40, 50), 200.0)
    np.testing.assert_allclose(screen.base_shift(fused, ir, vi, 2.0, 0.5), 150.0)
    np.testing.assert_allclose(screen.base_shift(fused, ir, vi, 2.0, 0.0), 200.0)
    # detail finer than the blur stays: a checkerboard on the fused image survives a full shift of the base
    checker = (np.indices((40, 50)).sum(0) % 2) * 20.0
    shifted = screen.base_shift(fused + checker, ir, vi, 8.0, 1.0)
    assert np.ptp(shifted[10:30, 10:40]) > 19.0
    assert abs(shifted[10:30, 10:40].mean() - 100.0) < 0.5  # the checker's mean is base: it moved to the average's


def test_selection_pairs_are_outside_the_dev_split(screen):
    msrs, roadscene = screen.selection_stems("msrs"), screen.selection_stems("roadscene")
    assert len(msrs) == 65 and not set(msrs) & set(read_split(ROOT / "config/splits/msrs_dev.txt"))
    assert len(roadscene) == screen.ROADSCENE_PAIRS
    assert not set(roadscene) & set(read_split(ROOT / "config/splits/roadscene_dev.txt"))
    assert all((DATA / "MSRS" / "trainval" / "ir" / f"{s}.png").is_file() for s in msrs)
