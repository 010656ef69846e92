"""The overlap error (fusion_core.calibration.geometry.overlap_displacement, scripts/calibration_overlap_error.py)
measures only the thermal pixels the reference puts inside the visible frame, in visible pixels."""

from __future__ import annotations

import numpy as np

from fusion_core.calibration.geometry import overlap_displacement, scaling, translation
from fusion_core.calibration.synthetic import SyntheticRig

THERMAL, VISIBLE = (64, 48), (128, 96)


def test_a_shift_is_its_length_at_every_fused_pixel() -> None:
    h_ref = scaling(2.0)  # the thermal frame fills the visible one exactly
    d = overlap_displacement(h_ref, translation(3.0, 4.0) @ h_ref, THERMAL, VISIBLE, step=4)
    assert d.size == (64 // 4) * (48 // 4)
    np.testing.assert_allclose(d, 5.0)
    assert not overlap_displacement(h_ref, h_ref, THERMAL, VISIBLE).any()


def test_thermal_pixels_outside_the_visible_frame_do_not_count() -> None:
    """The reference moves the thermal frame half out of the visible one (x + 64 visible px = 32 thermal px):
    only the left half of the thermal grid is fused, and a scale error grows with x, so the right half (unseen)
    would have raised the maximum."""
    h_ref = translation(64.0, 0.0) @ scaling(2.0)
    h_est = translation(64.0, 0.0) @ scaling(2.02, 2.0)  # x error grows with thermal x: 0.02 * x
    d = overlap_displacement(h_ref, h_est, THERMAL, VISIBLE, step=4)
    assert d.size == (32 // 4) * (48 // 4)  # thermal x 0, 4, ..., 28: visible 64..120
    assert np.isclose(d.max(), 0.02 * 28)  # the largest fused thermal x, not 60 (the frame's last column)
    assert overlap_displacement(translation(1000.0, 0.0), h_est, THERMAL, VISIBLE).size == 0


def test_the_report_counts_rigs_and_thresholds(load_script) -> None:
    script = load_script("calibration_overlap_error")
    rig = SyntheticRig()
    h_true = rig.draw(np.random.default_rng(0))
    rows = [{"stem": "a", "h_true": h_true.ravel().tolist(), "ours_px": 9.0, "h_est": (translation(1.5, 0.0) @ h_true).ravel().tolist()},
            {"stem": "b", "h_true": h_true.ravel().tolist(), "ours_px": 9.0, "h_est": (translation(0.0, 6.0) @ h_true).ravel().tolist()},
            {"stem": "c", "h_true": h_true.ravel().tolist(), "refused": "scores < 0.2"}]
    res = script.run("x", {"pairs": rows}, rig, lambda row: translation(0.0, 6.0), {"a": 2.0, "b": 2.0, "c": 2.0})
    assert (res["rigs"], res["accepted"]) == (3, 2)
    assert np.isclose(res["pairs"][0]["vs_truth"]["max_px"], 1.5) and np.isclose(res["pairs"][1]["vs_truth"]["median_px"], 6.0)
    assert (res["vs_truth"]["rigs_max_within_2px"], res["vs_truth"]["rigs_max_within_5px"], res["vs_truth"]["rigs_max_within_10px"]) == (1, 1, 2)
    assert np.isclose(res["pairs"][1]["vs_mi_fit"]["max_px"], 0.0)  # b's estimate is the corrected truth
    assert np.isclose(res["mi_fit_floor"]["median_of_rig_median_px"], 6.0)
    assert np.isclose(res["median_of_rig_median_dataset_px"], np.median([1.5, 6.0]) / 2.0)
