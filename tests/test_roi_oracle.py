"""scripts/roi_oracle.py: the labelled-box masks of each variant (bicycles kept out of the people's) and the blend
towards the thermal image, on constructed labels and frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="module")
def oracle(load_script):
    return load_script("roi_oracle")


@pytest.fixture()
def rider_label(tmp_path):
    """A 100x200 frame: a person box over x 40-80, y 20-80 and a bicycle box over x 50-70, y 60-90 (YOLO format)."""
    path = tmp_path / "rider.txt"
    path.write_text("0 0.3 0.5 0.2 0.6\n1 0.3 0.75 0.1 0.3\n2 0.8 0.5 0.1 0.2\n")
    return path


def test_people_mask_covers_the_grown_person_box_only(oracle, rider_label) -> None:
    mask = oracle.variant_mask(rider_label, (100, 200), "person_ir")
    assert mask[40, 60] == pytest.approx(1.0)  # inside the person box
    assert mask[50, 160] == pytest.approx(0.0)  # the car
    assert mask[5, 5] == pytest.approx(0.0)
    assert mask[20, 60] > 0.4  # the box edge, blurred by sigma 2 px


def test_kept_out_bicycle_leaves_the_rider_but_not_the_bicycle(oracle, rider_label) -> None:
    people = oracle.variant_mask(rider_label, (100, 200), "person_ir")
    riders = oracle.variant_mask(rider_label, (100, 200), "person_ir_not_bicycle")
    assert riders[40, 60] == pytest.approx(1.0)  # person above the bicycle: kept
    assert people[70, 60] == pytest.approx(1.0)
    assert riders[70, 60] == pytest.approx(0.0, abs=1e-6)  # where the bicycle lies under the person: out
    assert np.all(riders <= people + 1e-6)


def test_blend_moves_the_luminance_by_the_mask_and_keeps_the_chroma(oracle) -> None:
    fused = np.full((8, 8, 3), (60, 120, 180), np.uint8)  # BGR, a coloured flat frame
    ir = np.full((8, 8), 230, np.uint8)
    mask = np.zeros((8, 8), np.float32)
    mask[:, 4:] = 1.0
    out = oracle.blend_towards_ir(fused, ir, mask, 0.5)
    y_in = cv2.cvtColor(fused, cv2.COLOR_BGR2YCrCb)
    y_out = cv2.cvtColor(out, cv2.COLOR_BGR2YCrCb).astype(int)
    assert np.array_equal(out[:, :4], fused[:, :4])
    assert abs(y_out[0, 6, 0] - (int(y_in[0, 6, 0]) + 230) / 2) <= 1
    assert np.all(np.abs(y_out[0, 6, 1:] - y_in[0, 6, 1:].astype(int)) <= 2)


def test_an_unknown_variant_is_refused(oracle, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        oracle.main([str(tmp_path), "--variants", "person_ir,people", "--json", str(tmp_path / "x.json")])
    assert stop.value.code == 2
    assert "people" in capsys.readouterr().err
