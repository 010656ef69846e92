"""Downstream detection: YOLOX decode, letterbox, NMS, the Detector, mAP@0.5, the paired bootstrap, ``ivif detect``."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fusion_core.detection import (Detection, Detector, DetectorConfig, GroundTruthBoxes, boxes_to_canvas,
                                   boxes_to_image, coco_class_names, decode_yolox, draw_detections, evaluate_map,
                                   grid_and_strides, letterbox, load_ground_truth, nms_per_class, paired_bootstrap)
from fusion_core.detection.evaluate import _class_aps, _class_tables
from fusion_core.errors import ConfigError, InputError, ModelFileError
from fusion_core.io import read_visible

S = 416
N_CELLS = 52 * 52 + 26 * 26 + 13 * 13  # 3549
OFFSETS = {8: 0, 16: 52 * 52, 32: 52 * 52 + 26 * 26}
COCO = coco_class_names()
REAL_STEMS = ["00287D", "00563D", "01502D"]


def empty_head() -> np.ndarray:
    """(1, 3549, 85) raw head with no object anywhere (objectness 0)."""
    return np.zeros((1, N_CELLS, 85), dtype=np.float32)


def put(head: np.ndarray, stride: int, gx: int, gy: int, xy, log_wh, obj: float, cls: int, prob: float) -> int:
    """Write one cell's raw prediction; returns its row index."""
    row = OFFSETS[stride] + gy * (S // stride) + gx
    head[0, row, 0:2], head[0, row, 2:4], head[0, row, 4] = xy, log_wh, obj
    head[0, row, 5 + cls] = prob
    return row


# --- decode ------------------------------------------------------------------------------------------------------

def test_grid_order_is_stride_by_stride_x_fastest():
    grid, stride = grid_and_strides(S)
    assert grid.shape == (N_CELLS, 2) and stride.shape == (N_CELLS, 1)
    assert grid[1].tolist() == [1, 0] and grid[52].tolist() == [0, 1]  # x fastest on the stride-8 grid
    assert grid[OFFSETS[16]].tolist() == [0, 0] and stride[OFFSETS[16], 0] == 16
    assert grid[-1].tolist() == [12, 12] and stride[-1, 0] == 32


@pytest.mark.parametrize("stride, gx, gy, xy, log_wh, box", [
    # centre = (pred + cell) * stride, size = exp(pred) * stride; values chosen exact in binary
    (8, 10, 20, (0.5, 0.25), (0.0, 0.0), (80.0, 158.0, 88.0, 166.0)),
    (16, 5, 7, (0.25, 0.5), (math.log(4.0), math.log(2.0)), (52.0, 104.0, 116.0, 136.0)),
    (32, 12, 0, (-0.5, 0.75), (0.0, math.log(0.5)), (352.0, 16.0, 384.0, 32.0)),
])
def test_decode_gives_the_constructed_box_score_and_best_class(stride, gx, gy, xy, log_wh, box):
    head = empty_head()
    row = put(head, stride, gx, gy, xy, log_wh, obj=0.75, cls=2, prob=0.5)
    head[0, row, 5 + 7] = 0.25  # a weaker second class must not win
    boxes, scores, classes = decode_yolox(head, S)
    np.testing.assert_allclose(boxes[row], box, atol=1e-4)
    assert scores[row] == pytest.approx(0.375) and classes[row] == 2
    assert np.count_nonzero(scores) == 1


@pytest.mark.parametrize("shape, size", [((1, 3548, 85), 416), ((1, 3549, 5), 416), ((3549, 85), 320), ((2, 3549, 85), 416)])
def test_decode_rejects_heads_that_do_not_fit(shape, size):
    with pytest.raises(InputError, match=r"does not fit input_size"):
        decode_yolox(np.zeros(shape, dtype=np.float32), size)


# --- letterbox ---------------------------------------------------------------------------------------------------

def test_letterbox_scales_keeps_ratio_and_pads_with_114():
    image = np.full((480, 640, 3), (10, 20, 30), dtype=np.uint8)
    batch, placement = letterbox(image, S)
    assert batch.shape == (1, 3, S, S) and batch.dtype == np.float32
    assert placement.ratio == pytest.approx(0.65) and (placement.pad_x, placement.pad_y) == (0.0, 0.0)
    assert batch[0, :, :312, :].reshape(3, -1).min(axis=1).tolist() == [10, 20, 30]  # channel order kept, 0-255
    assert np.all(batch[0, :, 312:, :] == 114)


@pytest.mark.parametrize("shape", [(480, 640), (640, 480), (100, 1000), (416, 416)])
def test_letterbox_box_round_trip(shape):
    _, placement = letterbox(np.zeros((*shape, 3), dtype=np.uint8), S)
    h, w = shape
    boxes = np.array([[0.0, 0.0, w, h], [w * 0.1, h * 0.2, w * 0.35, h * 0.9], [3.5, 7.25, 11.0, 12.0]])
    canvas = boxes_to_canvas(boxes, placement)
    assert canvas.max() <= S + 1e-9
    np.testing.assert_allclose(boxes_to_image(canvas, placement), boxes, atol=1e-9)
    # boxes reaching into the padding are clipped to the image
    np.testing.assert_allclose(boxes_to_image(np.array([[-5.0, -5.0, S + 5.0, S + 5.0]]), placement), [[0, 0, w, h]])


# --- NMS ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shift, other_class, second_score, kept", [
    (1.0, 0, 0.8, [0]),      # IoU 9/11 = 0.818 > 0.65: suppressed
    (2.0, 0, 0.8, [0]),      # IoU 8/12 = 0.667 > 0.65: suppressed
    (3.0, 0, 0.8, [0, 1]),   # IoU 7/13 = 0.538: both kept
    (1.0, 1, 0.8, [0, 1]),   # other class never suppresses
    (8.0, 0, 0.2, [0]),      # below the score threshold 0.3: dropped
    (1.0, 0, 0.95, [1]),     # the higher score wins whatever the input order
])
def test_nms_per_class_table(shift, other_class, second_score, kept):
    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [shift, 0.0, shift + 10.0, 10.0]])
    result = nms_per_class(boxes, np.array([0.9, second_score]), np.array([0, other_class]), 0.3, 0.65)
    assert result.tolist() == kept


def test_nms_orders_by_score_and_handles_nothing():
    boxes = np.array([[0, 0, 5, 5], [20, 20, 30, 30], [40, 40, 50, 50]], dtype=float)
    assert nms_per_class(boxes, np.array([0.4, 0.9, 0.6]), np.array([2, 0, 1]), 0.3, 0.65).tolist() == [1, 2, 0]
    assert nms_per_class(boxes, np.array([0.1, 0.1, 0.1]), np.array([0, 0, 0]), 0.3, 0.65).tolist() == []


# --- Detector (runner injected, then the shipped model) ----------------------------------------------------------

class HeadFromBox:
    """A runner that records its input and answers with a fixed head."""

    def __init__(self, head: np.ndarray) -> None:
        self.head, self.batches = head, []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch)
        return self.head


def head_with_image_box() -> np.ndarray:
    """Person (100, 200, 300, 400) in a 640x480 image: canvas box (65, 130, 195, 260) at ratio 0.65,
    i.e. centre (130, 195), size 130 -> stride-32 cell (4, 6), offsets (0.0625, 0.09375), log(130/32)."""
    head = empty_head()
    put(head, 32, 4, 6, (0.0625, 0.09375), (math.log(130 / 32),) * 2, obj=0.9, cls=COCO.index("person"), prob=0.9)
    put(head, 16, 20, 10, (0.5, 0.5), (1.0, 1.0), obj=0.9, cls=COCO.index("motorcycle"), prob=0.8)  # not kept
    put(head, 8, 30, 30, (0.5, 0.5), (1.0, 1.0), obj=0.8, cls=COCO.index("bicycle"), prob=0.5)
    put(head, 8, 40, 40, (0.5, 0.5), (1.0, 1.0), obj=0.5, cls=COCO.index("car"), prob=0.5)  # score 0.25 < 0.3
    return head


def test_detector_maps_boxes_to_image_pixels_and_keeps_msrs_classes():
    detector = Detector(DetectorConfig(), runner=HeadFromBox(head_with_image_box()))
    found = detector.detect(np.zeros((480, 640, 3), dtype=np.uint8), "rgb")
    assert [(d.class_id, d.class_name) for d in found] == [(0, "person"), (1, "bicycle")]
    np.testing.assert_allclose(found[0].box_xyxy, (100, 200, 300, 400), atol=1e-3)
    assert found[0].score == pytest.approx(0.81) and found[1].score == pytest.approx(0.4)
    np.testing.assert_allclose(found[1].box_xyxy, np.array([244 - 4 * math.e, 244 - 4 * math.e,
                                                           244 + 4 * math.e, 244 + 4 * math.e]) / 0.65, atol=1e-3)


def test_detector_input_orders_reach_the_network_as_bgr():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    runner = HeadFromBox(empty_head())
    detector = Detector(DetectorConfig(), runner=runner)
    assert detector.detect(rgb, "rgb") == [] and detector.detect(rgb[:, :, ::-1], "bgr") == []
    np.testing.assert_array_equal(runner.batches[0], runner.batches[1])
    assert runner.batches[0][0, 0, 0, 0] == rgb[0, 0, 2]  # channel 0 of the tensor is blue
    detector.detect(rgb[:, :, 1], "mono")
    grey = runner.batches[2][0]
    np.testing.assert_array_equal(grey[0], grey[1])
    np.testing.assert_array_equal(grey[1], grey[2])
    assert grey[0, 0, 0] == rgb[0, 0, 1]


@pytest.mark.parametrize("image, order, message", [
    (np.zeros((8, 8, 3), np.uint8), "yuv", r"order 'yuv' is not one of rgb, bgr, mono"),
    (np.zeros((8, 8, 3), np.float32), "rgb", r"must be uint8"),
    (np.zeros((8, 8, 4), np.uint8), "rgb", r"\(H, W\) grey or \(H, W, 3\) colour"),
    (np.zeros((8, 8, 3), np.uint8), "mono", r"order 'mono' needs an \(H, W\) image"),
    (np.zeros((0, 8, 3), np.uint8), "rgb", r"no pixels"),
])
def test_detector_rejects_bad_images(image, order, message):
    with pytest.raises(InputError, match=message):
        Detector(DetectorConfig(), runner=HeadFromBox(empty_head())).detect(image, order)


@pytest.mark.parametrize("kwargs, message", [
    ({"input_size": 400}, r"input_size must be a positive multiple of 32"),
    ({"score_threshold": 1.5}, r"score_threshold must lie in \[0, 1\]"),
    ({"nms_iou": 0.0}, r"nms_iou must lie in \(0, 1\]"),
    ({"classes": ("person", "pedestrian")}, r"\['pedestrian'\] are not COCO class names; valid names: person, bicycle"),
    ({"classes": ()}, r"classes must name at least one COCO class"),
    ({"providers": ()}, r"providers must name at least one"),
])
def test_detector_config_failures(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DetectorConfig(**kwargs)


def test_detector_config_missing_model_and_all_classes():
    with pytest.raises(ConfigError, match=r"model_path .*nope.onnx does not exist"):
        Detector(DetectorConfig(model_path="nope.onnx"))
    everything = DetectorConfig(classes=None)
    assert len(everything.class_names) == 80 and everything.coco_ids[:3] == (0, 1, 2)


def test_detection_package_does_not_import_onnxruntime():
    code = "import sys, fusion_core.detection; sys.exit(1 if 'onnxruntime' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.fixture(scope="module")
def shipped_detector() -> Detector:
    return Detector(DetectorConfig(threads=2))


@pytest.mark.parametrize("stem", REAL_STEMS)
def test_shipped_model_finds_labelled_people_and_cars(shipped_detector, msrs_dir, stem):
    image = read_visible(msrs_dir / "vi" / f"{stem}.png")
    truth = load_ground_truth(msrs_dir / "labels_det_vi", {stem: image.shape[:2]})[stem]
    found = shipped_detector.detect(image, "rgb")
    hits = [d for d in found if d.class_name in ("person", "car")
            for box, cls in zip(truth.boxes_xyxy, truth.class_ids)
            if cls == d.class_id and _iou(d.box_xyxy, box) > 0.5]
    assert hits, f"{stem}: no person/car detection with IoU > 0.5 to a label; found {found}"
    annotated = draw_detections(image, found, "rgb")
    assert annotated.shape == image.shape and not np.array_equal(annotated, image)


def test_retune_changes_what_is_kept_without_a_new_session(msrs_dir):
    """Thresholds and classes change for the next detections, on the same network session; the kept boxes
    are exactly the subset the new settings allow of what the old settings found (same boxes, same scores)."""
    detector = Detector(DetectorConfig(threads=1, score_threshold=0.1, classes=None))
    image = read_visible(msrs_dir / "vi" / "00055D.png")
    session = detector._runner
    everything = detector.detect(image, "rgb")
    assert len({d.class_name for d in everything}) >= 2 and min(d.score for d in everything) < 0.5 < max(d.score for d in everything)

    config = detector.retune(score_threshold=0.5)
    assert config.score_threshold == 0.5 and detector.config is config and detector._runner is session
    assert detector.detect(image, "rgb") == [d for d in everything if d.score >= 0.5]

    detector.retune(classes=("car",))  # score_threshold stays 0.5
    cars = detector.detect(image, "rgb")
    assert [(d.box_xyxy, d.score) for d in cars] == [(d.box_xyxy, d.score) for d in everything
                                                      if d.class_name == "car" and d.score >= 0.5]
    assert cars and {(d.class_id, d.class_name) for d in cars} == {(0, "car")}  # ids are positions in the kept list

    with pytest.raises(ConfigError, match="nms_iou"):
        detector.retune(nms_iou=0.0)
    with pytest.raises(ConfigError, match="not COCO class names"):
        detector.retune(classes=("cart",))
    with pytest.raises(ConfigError, match="input_size cannot be retuned"):
        detector.retune(input_size=320)  # the canvas belongs to the session
    assert (detector.config.score_threshold, detector.config.nms_iou, detector.config.classes) == (0.5, 0.65, ("car",))
    detector.retune(score_threshold=0.1, classes=None)
    assert detector.detect(image, "rgb") == everything


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


# --- rectangular inference ---------------------------------------------------------------------------------------

RECT = (320, 416)  # canvas of a 640x480 image: 312 scaled rows rounded up to 320
RECT_CELLS = 40 * 52 + 20 * 26 + 10 * 13  # 2730


def test_rectangular_letterbox_holds_the_square_pixels_on_a_smaller_canvas():
    image = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    square, square_place = letterbox(image, S)
    rect, rect_place = letterbox(image, S, stride=32)
    assert rect.shape == (1, 3, *RECT) and (rect_place.canvas_height, rect_place.canvas_width) == RECT
    assert (square_place.canvas_height, square_place.canvas_width) == (S, S)
    assert rect_place.ratio == square_place.ratio == pytest.approx(0.65)
    np.testing.assert_array_equal(rect[0, :, :312], square[0, :, :312])  # same pixels, same scale
    assert np.all(rect[0, :, 312:] == 114)
    tall, tall_place = letterbox(np.zeros((1000, 100, 3), np.uint8), S, stride=32)
    assert tall.shape == (1, 3, 416, 64) and tall_place.ratio == pytest.approx(0.416)


def test_rectangular_grid_counts_and_orders_cells():
    grid, stride = grid_and_strides(RECT)
    assert grid.shape == (RECT_CELLS, 2)
    assert grid[52].tolist() == [0, 1] and grid[40 * 52 - 1].tolist() == [51, 39]  # 52 columns, 40 rows at stride 8
    assert grid[40 * 52].tolist() == [0, 0] and stride[40 * 52, 0] == 16
    assert grid[-1].tolist() == [12, 9] and stride[-1, 0] == 32
    with pytest.raises(InputError, match=r"does not fit input_size \(320, 416\).*expected \(1, 2730, 5 \+ classes\)"):
        decode_yolox(empty_head(), RECT)


class RectangularHead(HeadFromBox):
    """A recording runner that declares it takes rectangular canvases."""

    rectangular = True


def test_detector_sends_rectangles_to_a_rectangular_runner_and_maps_boxes_back():
    # person (100, 200, 300, 400) in 640x480 -> canvas (65, 130, 195, 260): stride-32 cell (4, 6) of a 13-column grid
    head = np.zeros((1, RECT_CELLS, 85), np.float32)
    row = 40 * 52 + 20 * 26 + 6 * 13 + 4
    head[0, row, :5] = (0.0625, 0.09375, math.log(130 / 32), math.log(130 / 32), 0.9)
    head[0, row, 5 + COCO.index("person")] = 0.9
    runner = RectangularHead(head)
    detector = Detector(DetectorConfig(), runner=runner)
    found = detector.detect(np.zeros((480, 640, 3), np.uint8), "rgb")
    assert detector.rectangular and runner.batches[0].shape == (1, 3, *RECT)
    assert [d.class_name for d in found] == ["person"]
    np.testing.assert_allclose(found[0].box_xyxy, (100, 200, 300, 400), atol=1e-3)
    assert not Detector(DetectorConfig(), runner=HeadFromBox(empty_head())).rectangular  # a plain runner: square


def test_shipped_model_runs_rectangles_and_finds_the_square_canvas_objects(msrs_dir):
    """Rectangular inference on the shipped YOLOX-nano: the file is untouched, the session takes 416x320, and
    every confident square-canvas detection of real pairs is found again: same class, IoU > 0.8, score within
    0.05 (the padding below the image differs, so boxes move by a pixel or two, e.g. IoU 0.88 on 00563D)."""
    model = DetectorConfig().resolved_model_path
    before = model.read_bytes()
    rect, square = Detector(DetectorConfig(threads=1)), Detector(DetectorConfig(threads=1, rectangular=False))
    assert rect.rectangular and not square.rectangular and model.read_bytes() == before
    matched = 0
    for stem in REAL_STEMS:
        image = read_visible(msrs_dir / "vi" / f"{stem}.png")
        found = rect.detect(image, "rgb")
        for ref in (d for d in square.detect(image, "rgb") if d.score > 0.5):
            assert any(d.class_id == ref.class_id and _iou(d.box_xyxy, ref.box_xyxy) > 0.8 and abs(d.score - ref.score) < 0.05
                       for d in found), (stem, ref, found)
            matched += 1
    assert matched >= 3


def test_model_with_fixed_reshapes_falls_back_to_the_square(tmp_path, caplog):
    """A graph that only runs at its exported size (a reshape to constant dims) keeps the square canvas."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    side, cells = 64, 8 * 8 + 4 * 4 + 2 * 2
    flat = helper.make_node("Reshape", ["images", "flat_shape"], ["flat"])
    cut = helper.make_node("Slice", ["flat", "zero", "length", "one"], ["cut"])
    head = helper.make_node("Reshape", ["cut", "head_shape"], ["raw"])
    empty = helper.make_node("Mul", ["raw", "nothing"], ["output"])  # no objects: every score 0
    consts = [helper.make_tensor("flat_shape", TensorProto.INT64, [2], [1, 3 * side * side]),
              helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
              helper.make_tensor("length", TensorProto.INT64, [1], [cells * 85]),
              helper.make_tensor("one", TensorProto.INT64, [1], [1]),
              helper.make_tensor("head_shape", TensorProto.INT64, [3], [1, cells, 85]),
              helper.make_tensor("nothing", TensorProto.FLOAT, [], [0.0])]
    graph = helper.make_graph([flat, cut, head, empty], "fixed", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, side, side])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, cells, 85])], initializer=consts)
    path = tmp_path / "fixed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with caplog.at_level("WARNING"):
        detector = Detector(DetectorConfig(model_path=str(path), input_size=side))
    assert not detector.rectangular and "does not run on rectangular canvases" in caplog.text
    assert detector.detect(np.zeros((48, 64, 3), np.uint8), "rgb") == []  # the square session still works
    # such a graph cannot run at another size, rectangular or not, and says which size it takes
    with pytest.raises(ModelFileError, match=r"runs only at its exported 64 x 64 canvas, not input_size 32"):
        Detector(DetectorConfig(model_path=str(path), input_size=32))
    with pytest.raises(ModelFileError, match=r"expected one \[1, 3, 32, 32\] tensor \(check input_size"):
        Detector(DetectorConfig(model_path=str(path), input_size=32, rectangular=False))


def test_shipped_model_runs_at_a_smaller_canvas(msrs_dir):
    """The shipped YOLOX-nano is fully convolutional: at input_size 320 (a 320x256 canvas for 640x480) it finds
    the confident objects of the 416 canvas again, at a smaller scale (boxes within IoU 0.6)."""
    small, full = Detector(DetectorConfig(threads=1, input_size=320)), Detector(DetectorConfig(threads=1))
    assert small.rectangular
    matched = 0
    for stem in REAL_STEMS:
        image = read_visible(msrs_dir / "vi" / f"{stem}.png")
        found = small.detect(image, "rgb")
        for ref in (d for d in full.detect(image, "rgb") if d.score > 0.7):
            assert any(d.class_id == ref.class_id and _iou(d.box_xyxy, ref.box_xyxy) > 0.6 for d in found), (stem, ref, found)
            matched += 1
    assert matched >= 2


# --- mAP ---------------------------------------------------------------------------------------------------------

def det(box, score, cls=0) -> Detection:
    return Detection(tuple(float(v) for v in box), score, cls, ("person", "bicycle", "car")[cls])


def gt(*boxes_and_classes) -> GroundTruthBoxes:
    boxes = np.array([b for b, _ in boxes_and_classes], dtype=float).reshape(-1, 4)
    return GroundTruthBoxes(boxes, np.array([c for _, c in boxes_and_classes], dtype=np.int64))


A, B, C = (0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10)
FAR = (100, 100, 110, 110)


@pytest.mark.parametrize("dets, truth, ap", [
    ([det(A, 0.9), det(B, 0.8)], gt((A, 0), (B, 0)), 1.0),                    # perfect
    ([det(A, 0.9), det(FAR, 0.8)], gt((A, 0), (B, 0)), 0.5),                  # one FP after the TP, one FN
    ([det(FAR, 0.9), det(A, 0.8)], gt((A, 0),), 0.5),                         # FP ranked above the TP
    ([det(A, 0.9), det(FAR, 0.8), det(B, 0.7)], gt((A, 0), (B, 0), (C, 0)), 5 / 9),  # 1/3*1 + 1/3*2/3
    ([det(A, 0.9), det((1, 0, 11, 10), 0.8)], gt((A, 0),), 1.0),              # duplicate: FP after full recall
    ([det((1, 0, 11, 10), 0.9), det(A, 0.8)], gt((A, 0),), 1.0),              # second of one object is the FP
    ([det((5, 0, 15, 10), 0.9)], gt((A, 0),), 0.0),                           # IoU 1/3 < 0.5
    ([], gt((A, 0),), 0.0),                                                    # nothing found
])
def test_average_precision_hand_computed(dets, truth, ap):
    result = evaluate_map({"img": dets}, {"img": truth})
    assert result.ap["person"] == pytest.approx(ap)
    assert math.isnan(result.ap["bicycle"]) and result.mean_ap == pytest.approx(ap)


def test_map_pools_images_ranks_globally_and_skips_classes_without_truth():
    detections = {"a": [det(A, 0.9), det(B, 0.3, cls=2)], "b": [det(FAR, 0.6), det(A, 0.5, cls=1)]}
    truth = {"a": gt((A, 0), (B, 2)), "b": gt((C, 0))}
    result = evaluate_map(detections, truth)
    # person: TP 0.9 (a), FP 0.6 (b), C missed -> recall 1/2 at precision 1 -> 0.5; car: 1.0; bicycle: FP but no truth
    assert result.ap["person"] == pytest.approx(0.5) and result.ap["car"] == pytest.approx(1.0)
    assert math.isnan(result.ap["bicycle"]) and result.mean_ap == pytest.approx(0.75)
    assert result.n_ground_truth == {"person": 2, "bicycle": 0, "car": 1}
    assert result.n_detections == {"person": 2, "bicycle": 1, "car": 1} and result.n_images == 2


@pytest.mark.parametrize("detections, truth, error, message", [
    ({}, {"a": gt((A, 0))}, InputError, r"no detection entry for 1 evaluated image\(s\), e.g. 'a'"),
    ({}, {}, InputError, r"no ground-truth images"),
])
def test_map_failures(detections, truth, error, message):
    with pytest.raises(error, match=message):
        evaluate_map(detections, truth)
    with pytest.raises(ConfigError, match=r"iou_threshold must lie in \(0, 1\)"):
        evaluate_map({"a": []}, {"a": gt((A, 0))}, iou_threshold=1.0)


# --- paired bootstrap --------------------------------------------------------------------------------------------

def random_case(seed: int, n_images: int = 30):
    rng = np.random.default_rng(seed)
    truth, first, second = {}, {}, {}
    for i in range(n_images):
        stem = f"{i:03d}"
        boxes = [(tuple(float(v) for v in (x, 0, x + 10, 10)), int(rng.integers(0, 3))) for x in range(0, 60, 20)]
        truth[stem] = gt(*boxes)
        for out, skill in ((first, 0.5), (second, 0.7)):
            found = []
            for box, cls in boxes:
                if rng.random() < skill:
                    found.append(det(box, float(rng.random()), cls))
                if rng.random() < 0.3:
                    found.append(det(FAR, float(rng.random()), int(rng.integers(0, 3))))
            out[stem] = found
    return first, second, truth


def test_bootstrap_is_reproducible_with_a_seed_and_centred_on_the_observed_difference():
    first, second, truth = random_case(1)
    one = paired_bootstrap(first, second, truth, reps=200, seed=7)
    assert one == paired_bootstrap(first, second, truth, reps=200, seed=7)
    other = paired_bootstrap(first, second, truth, reps=200, seed=8)
    assert other.observed == one.observed and (other.mean, other.low, other.high) != (one.mean, one.low, one.high)
    assert one.observed == pytest.approx(evaluate_map(second, truth).mean_ap - evaluate_map(first, truth).mean_ap)
    assert one.low < one.observed < one.high and abs(one.mean - one.observed) < (one.high - one.low) / 2
    same = paired_bootstrap(first, first, truth, reps=50, seed=0)
    assert (same.observed, same.low, same.high) == (0.0, 0.0, 0.0)


def test_bootstrap_weights_equal_duplicated_images():
    first, _, truth = random_case(2, n_images=6)
    counts = np.array([0, 3, 1, 0, 2, 1])
    stems = sorted(truth)
    tables = _class_tables(first, truth, stems, 3, 0.5)
    weighted = _class_aps(tables, counts)
    copies = {f"{s}_{k}": s for s, c in zip(stems, counts) for k in range(c)}
    explicit = evaluate_map({k: first[s] for k, s in copies.items()}, {k: truth[s] for k, s in copies.items()})
    np.testing.assert_allclose(weighted, [explicit.ap[n] for n in ("person", "bicycle", "car")])


def test_bootstrap_rejects_zero_reps():
    first, second, truth = random_case(3, n_images=3)
    with pytest.raises(ConfigError, match=r"reps must be >= 1, got 0"):
        paired_bootstrap(first, second, truth, reps=0)


# --- ivif detect -------------------------------------------------------------------------------------------------

def test_cli_detect_reports_map_and_bootstrap(tmp_path, msrs_dir, capsys):
    from fusion_core.cli import detect

    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        for stem in REAL_STEMS:
            shutil.copy(msrs_dir / side / f"{stem}.png", tmp_path / side / f"{stem}.png")
    parser = argparse.ArgumentParser(prog="ivif")
    detect.add_parser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "out"
    args = parser.parse_args(["detect", "--images", str(tmp_path / "ir"), "--compare", str(tmp_path / "vi"),
                              "--labels", str(msrs_dir / "labels_det_ir"), "--json", str(out / "det.json"),
                              "--annotated", str(out / "ann"), "--reps", "50", "--threads", "2"])
    assert args.run(args) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "det.json").read_text())
    assert summary["n_images"] == 3 and [f["images"] for f in summary["folders"]] == [str(tmp_path / "ir"), str(tmp_path / "vi")]
    ir, vi = summary["folders"]
    assert ir["n_ground_truth"] == vi["n_ground_truth"] and ir["n_ground_truth"]["person"] > 0
    assert 0.0 < ir["map50"] <= 1.0 and 0.0 < vi["map50"] <= 1.0
    diff = summary["differences_vs_first"][0]
    assert diff["observed"] == pytest.approx(vi["map50"] - ir["map50"], abs=2e-6) and diff["reps"] == 50
    assert diff["ci95"][0] <= diff["observed"] <= diff["ci95"][1]
    assert f"{ir['map50']:.3f}" in printed and "95% [" in printed
    assert sorted(p.name for p in (out / "ann" / "0_ir").iterdir()) == [f"{s}.png" for s in REAL_STEMS]
    assert len(list((out / "ann" / "1_vi").iterdir())) == 3
    assert summary["detector"] == {"model": "yolox_nano.onnx", "input_size": 416, "rectangular": True}
    assert "rectangular canvas, longer side 416 px" in printed

    square = parser.parse_args(["detect", "--images", str(tmp_path / "vi"), "--labels", str(msrs_dir / "labels_det_ir"),
                                "--json", str(out / "square.json"), "--reps", "10", "--threads", "2", "--square"])
    assert square.run(square) == 0
    square_summary = json.loads((out / "square.json").read_text())
    assert square_summary["detector"]["rectangular"] is False and "square 416 x 416 canvas" in capsys.readouterr().out

    small = parser.parse_args(["detect", "--images", str(tmp_path / "vi"), "--labels", str(msrs_dir / "labels_det_ir"),
                               "--json", str(out / "small.json"), "--reps", "10", "--threads", "2", "--input-size", "320"])
    assert small.run(small) == 0
    small_summary = json.loads((out / "small.json").read_text())
    assert small_summary["detector"] == {"model": "yolox_nano.onnx", "input_size": 320, "rectangular": True}
    assert "rectangular canvas, longer side 320 px" in capsys.readouterr().out
    assert small_summary["folders"][0]["n_ground_truth"] == vi["n_ground_truth"]
    assert 0.0 < small_summary["folders"][0]["map50"] <= 1.0  # the 320 canvas still finds these pairs' objects


def test_cli_detect_rejects_a_folder_without_labels(tmp_path, msrs_dir):
    (tmp_path / "vi").mkdir()
    (tmp_path / "labels").mkdir()
    shutil.copy(msrs_dir / "vi" / "00287D.png", tmp_path / "vi" / "00287D.png")
    from fusion_core.detection import compare_folders

    detector = Detector(DetectorConfig(), runner=HeadFromBox(empty_head()))
    with pytest.raises(InputError, match=r"has no <stem>.txt for any of the 1 images"):
        compare_folders(detector, [tmp_path / "vi"], tmp_path / "labels")
