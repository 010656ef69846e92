"""``data.roi_classes``: the target-aware ROI mask made of the listed box classes only, on a real MSRS pair with
people and cars; every box still reaches the detection term."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_core.boxes import box_file, boxes_to_mask, read_yolo_boxes, to_pixel_boxes
from fusion_core.errors import ConfigError
from training.config import DataConfig, config_from_dict
from training.data import PairRecord, decode

STEM = "00008N"  # MSRS trainval: people (class 0) and cars (class 2)


@pytest.fixture(scope="module")
def record(msrs_trainval) -> PairRecord:
    return PairRecord(STEM, msrs_trainval / "ir" / f"{STEM}.png", msrs_trainval / "vi" / f"{STEM}.png",
                      msrs_trainval / "labels_det_ir", 0)


def test_the_mask_holds_only_the_listed_classes(record) -> None:
    yolo = read_yolo_boxes(box_file(record.labels, record.stem))
    assert {b.cls for b in yolo} >= {0, 2}
    every, people = decode(record), decode(record, (0,))
    shape = every.mask.shape
    for box, (x0, y0, x1, y1) in zip(yolo, to_pixel_boxes(yolo, shape)):
        centre = (int((y0 + y1) / 2), int((x0 + x1) / 2))
        assert every.mask[centre]
        # a car's centre is outside the people-only mask unless a person box covers it too
        covered_by_person = any(b.cls == 0 and p[0] <= centre[1] <= p[2] and p[1] <= centre[0] <= p[3]
                                for b, p in zip(yolo, to_pixel_boxes(yolo, shape)))
        assert people.mask[centre] == (box.cls == 0 or covered_by_person)
    assert 0 < people.mask.sum() < every.mask.sum()
    assert np.array_equal(people.boxes, every.boxes)  # the detection term still sees every box
    assert np.array_equal(decode(record, (0, 1, 2)).mask, every.mask)


def test_roi_classes_come_from_the_config_and_bad_ones_are_refused() -> None:
    assert config_from_dict({"data": {"roi_classes": [0]}}).data.roi_classes == (0,)
    with pytest.raises(ConfigError, match="roi_classes"):
        DataConfig(roi_classes=(-1,))


RIDER = "00233D"  # MSRS trainval, a day scene: cyclists whose person boxes cover their bicycles


def test_excluded_classes_are_cut_out_of_the_targets_boxes(msrs_trainval) -> None:
    """``data.roi_exclude_classes``: a bicycle under its rider's person box is background for the ROI terms."""
    record = PairRecord(RIDER, msrs_trainval / "ir" / f"{RIDER}.png", msrs_trainval / "vi" / f"{RIDER}.png",
                        msrs_trainval / "labels_det_ir", 0)
    yolo = read_yolo_boxes(box_file(record.labels, record.stem))
    people, riders_cut = decode(record, (0,)), decode(record, (0,), (1,))
    shape = people.mask.shape
    assert {b.cls for b in yolo} >= {0, 1}
    bicycles = boxes_to_mask(yolo, shape, [1])  # rasterised as every ROI mask is (tested in test_boxes.py)
    overlap = people.mask & bicycles
    assert overlap.sum() > 1000  # the riders' boxes do cover their bicycles
    assert not riders_cut.mask[overlap].any()
    assert np.array_equal(riders_cut.mask, people.mask & ~bicycles)
    assert riders_cut.mask.sum() > 0  # the people above their bicycles stay targets
    assert np.array_equal(riders_cut.boxes, people.boxes)  # the detection term still sees every box


def test_excluded_classes_come_from_the_config_and_may_not_be_targets() -> None:
    cfg = config_from_dict({"data": {"roi_classes": [0], "roi_exclude_classes": [1]}}).data
    assert (cfg.roi_classes, cfg.roi_exclude_classes) == ((0,), (1,))
    with pytest.raises(ConfigError, match="overlaps data.roi_classes"):
        DataConfig(roi_classes=(0, 1), roi_exclude_classes=(1,))
    with pytest.raises(ConfigError, match="roi_exclude_classes must be class indices"):
        DataConfig(roi_exclude_classes=(-2,))
