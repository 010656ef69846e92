"""scripts/detection_errors.py: labelled objects found and detections no label explains, on constructed boxes,
and the script end to end on real MSRS fusions."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion_core.detection import Detection
from fusion_core.detection.evaluate import GroundTruthBoxes


def _det(box: tuple[float, float, float, float], score: float, class_id: int = 1) -> Detection:
    return Detection(box, score, class_id, ("person", "bicycle", "car")[class_id])


@pytest.fixture(scope="module")
def errors(load_script):
    return load_script("detection_errors")


def test_found_and_unmatched_are_counted_per_labelled_object(errors) -> None:
    truth = {"a": GroundTruthBoxes(np.array([[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 10]], float),
                                   np.array([1, 1, 0])),
             "b": GroundTruthBoxes(np.zeros((0, 4)), np.zeros(0, np.int64))}
    detections = {"a": [_det((0, 0, 10, 11), 0.9), _det((1, 0, 10, 10), 0.2),  # both on the first bicycle
                        _det((50, 50, 55, 55), 0.8),  # IoU 0.25 with the second: unmatched
                        _det((0, 0, 10, 10), 0.7, class_id=0)],  # a person: not the bicycles' business
                  "b": [_det((5, 5, 20, 20), 0.4), _det((30, 30, 40, 40), 0.1)]}
    row = errors.class_errors(detections, truth, 1, 0.3)
    assert (row["labelled"], row["found"]) == (2, 1)
    assert row["mean_best_score"] == pytest.approx((0.9 + 0.0) / 2)
    assert row["unmatched"] == 2  # 0.8 in a, 0.4 in b; 0.1 is under the score
    assert row["top_unmatched"] == [{"score": 0.8, "image": "a"}, {"score": 0.4, "image": "b"}, {"score": 0.1, "image": "b"}]
    people = errors.class_errors(detections, truth, 0, 0.3)
    assert (people["labelled"], people["found"], people["unmatched"]) == (1, 1, 0)
    cars = errors.class_errors(detections, truth, 2, 0.3)
    assert (cars["labelled"], cars["mean_best_score"], cars["unmatched"]) == (0, None, 0)


def test_the_script_on_real_fusions_and_its_picture(errors, msrs_dir: Path, tmp_path: Path) -> None:
    """Two folders holding the same two MSRS day images give the same report; the picture draws the labels."""
    stems = ["00055D", "00081D"]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for stem in stems:
            (tmp_path / name / f"{stem}.png").symlink_to(msrs_dir / "vi" / f"{stem}.png")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "00055N.png").symlink_to(msrs_dir / "vi" / "00055D.png")  # no day image: refused
    out, picture = tmp_path / "r.json", tmp_path / "p.png"
    argv = ["--labels", str(msrs_dir / "labels_det_ir"), "--suffix", "D", "--fused", f"a={tmp_path / 'a'}",
            "--fused", f"b={tmp_path / 'b'}", "--json", str(out), "--picture", str(picture), "--picture-class", "person",
            "--picture-stems", *stems]
    assert errors.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["folders"]["a"] == report["folders"]["b"] and report["folders"]["a"]["images"] == 2
    labelled = sum(1 for s in stems for line in (msrs_dir / "labels_det_ir" / f"{s}.txt").read_text().splitlines()
                   if line.split()[0] == "0")
    assert report["folders"]["a"]["classes"]["person"]["labelled"] == labelled > 0
    image = cv2.imread(str(picture))
    assert image.shape == (240, 640, 3)  # two 640x480 images side by side at half size
    yellow = (image[..., 0] < 80) & (image[..., 1] > 180) & (image[..., 2] > 180)
    assert yellow.sum() > 50  # the labelled people are drawn
    assert errors.main(["--labels", str(msrs_dir / "labels_det_ir"), "--suffix", "D", "--fused", f"c={tmp_path / 'c'}"]) == 2


def test_the_picture_draws_labels_and_detections_on_grey_images_too(errors) -> None:
    grey = np.full((40, 60), 100, np.uint8)
    truth = GroundTruthBoxes(np.array([[5, 5, 20, 30]], float), np.array([1]))
    out = errors.draw_class(grey, truth, [_det((30, 5, 50, 25), 0.6), _det((30, 5, 50, 25), 0.1)], 1, 0.3)
    assert out.shape == (40, 60, 3)
    assert tuple(out[5, 10]) == (0, 255, 255)  # the label's top edge, yellow in BGR
    assert tuple(out[5, 40]) == (255, 0, 255)  # the detection scored 0.6, magenta
    assert tuple(out[35, 2]) == (100, 100, 100)  # elsewhere the grey image
