"""YOLO box files -> pixel boxes -> ROI masks, on hand-made files and the real MSRS labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion_core.boxes import (
    YoloBox,
    box_file,
    boxes_to_mask,
    read_class_names,
    read_yolo_boxes,
    roi_mask_for,
    to_pixel_boxes,
)
from fusion_core.errors import InputError


def _write(tmp_path: Path, text: str, name: str = "a.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_real_msrs_labels(msrs_dir: Path) -> None:
    path = msrs_dir / "labels_det_ir" / "00004N.txt"
    boxes = read_yolo_boxes(path, num_classes=3)
    assert len(boxes) == len([line for line in path.read_text().splitlines() if line.strip()]) == 11
    assert boxes[0] == YoloBox(0, 0.149219, 0.578125, 0.026562, 0.04375)
    assert read_yolo_boxes(msrs_dir / "labels_det_ir" / "00587D.txt") == []  # an empty label file


def test_read_class_names(msrs_dir: Path) -> None:
    assert read_class_names(msrs_dir.parent / "classes_det.txt") == {0: "person", 1: "bicycle", 2: "car"}


def test_missing_empty_and_blank_lines(tmp_path: Path) -> None:
    assert read_yolo_boxes(tmp_path / "none.txt") == []
    assert read_yolo_boxes(_write(tmp_path, "")) == []
    boxes = read_yolo_boxes(_write(tmp_path, "\n2 0.5 0.5 0.2 0.4\n   \n1 0.1 0.2 0.1 0.1\n"))
    assert boxes == [YoloBox(2, 0.5, 0.5, 0.2, 0.4), YoloBox(1, 0.1, 0.2, 0.1, 0.1)]


@pytest.mark.parametrize(
    ("text", "num_classes", "message"),
    [
        ("0 0.5 0.5 0.1\n", None, r":1: expected 5 fields 'class cx cy w h', got 4"),
        ("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1 0.9\n", None, r":2: expected 5 fields .* got 6"),
        ("person 0.5 0.5 0.1 0.1\n", None, r":1: class id 'person' is not an integer"),
        ("0.0 0.5 0.5 0.1 0.1\n", None, r":1: class id '0.0' is not an integer"),
        ("-1 0.5 0.5 0.1 0.1\n", None, r":1: class id -1 is out of range \(valid: >= 0\)"),
        ("\n3 0.5 0.5 0.1 0.1\n", 3, r":2: class id 3 is out of range \(valid: 0..2\)"),
        ("0 0.5 x 0.1 0.1\n", None, r":1: cx cy w h must be numbers, got '0.5 x 0.1 0.1'"),
        ("0 0.5 0.5 nan 0.1\n", None, r":1: w = nan is not a normalised coordinate in \[0, 1\]"),
        ("0 1.5 0.5 0.1 0.1\n", None, r":1: cx = 1.5 is not a normalised coordinate"),
        ("0 0.5 0.5 0.1 -0.2\n", None, r":1: h = -0.2 is not a normalised coordinate"),
    ],
)
def test_malformed_lines(tmp_path: Path, text: str, num_classes: int | None, message: str) -> None:
    path = _write(tmp_path, text, "bad.txt")
    with pytest.raises(InputError, match=message) as info:
        read_yolo_boxes(path, num_classes=num_classes)
    assert str(path) in str(info.value)


def test_to_pixel_boxes_hand_values() -> None:
    boxes = [YoloBox(0, 0.5, 0.5, 0.5, 0.25), YoloBox(1, 0.0, 1.0, 0.5, 0.5)]
    got = to_pixel_boxes(boxes, (8, 16))
    np.testing.assert_allclose(got, [[4, 3, 12, 5], [0, 6, 4, 8]])  # second box clipped at the image border
    assert to_pixel_boxes([], (8, 16)).shape == (0, 4)
    assert to_pixel_boxes(boxes, (8, 16, 3)).shape == (2, 4)  # an image's full shape is fine


def test_boxes_to_mask_pixels() -> None:
    mask = boxes_to_mask([YoloBox(0, 0.5, 0.5, 0.5, 0.25)], (8, 16))
    expected = np.zeros((8, 16), dtype=bool)
    expected[3:5, 4:12] = True
    np.testing.assert_array_equal(mask, expected)
    # a box covering part of a pixel includes it: x from 4.8 to 7.2 -> columns 4..7
    partial = boxes_to_mask([YoloBox(0, 6.0 / 16, 0.5, 2.4 / 16, 0.25)], (8, 16))
    assert np.flatnonzero(partial.any(axis=0)).tolist() == [4, 5, 6, 7]
    # label rounding (6 decimals) a hair past a pixel border adds no row or column
    rounded = boxes_to_mask([YoloBox(0, 0.500001, 0.5, 0.5, 0.25)], (8, 16))
    np.testing.assert_array_equal(rounded, expected)


def test_boxes_to_mask_classes_and_empty() -> None:
    boxes = [YoloBox(0, 0.25, 0.5, 0.25, 0.5), YoloBox(2, 0.75, 0.5, 0.25, 0.5)]
    cars = boxes_to_mask(boxes, (4, 8), classes=[2])
    assert cars[:, :4].sum() == 0 and cars[:, 4:].sum() > 0
    assert not boxes_to_mask([], (4, 8)).any()
    assert boxes_to_mask(boxes, (4, 8)).dtype == np.bool_
    with pytest.raises(InputError, match=r"image shape must be \(H, W\) with H, W >= 1, got \(0, 8\)"):
        boxes_to_mask(boxes, (0, 8))


def test_roi_mask_for_real_labels(msrs_dir: Path) -> None:
    folder = msrs_dir / "labels_det_ir"
    assert box_file(folder, "00004N") == folder / "00004N.txt"
    mask = roi_mask_for(folder, "00004N", (480, 640))
    pixels = to_pixel_boxes(read_yolo_boxes(folder / "00004N.txt"), (480, 640))
    x0, y0, x1, y1 = pixels[0]
    assert mask[int(np.ceil(y0)):int(y1), int(np.ceil(x0)):int(x1)].all()  # the first box is covered
    assert 0 < mask.mean() < 0.2
    assert not roi_mask_for(folder, "no_such_stem", (480, 640)).any()
