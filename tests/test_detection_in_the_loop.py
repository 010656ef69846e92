"""Detection in the loop: the torch copy of the shipped detector, the detection loss, boxes in training crops."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from fusion_core.boxes import box_file, read_yolo_boxes, to_pixel_boxes
from fusion_core.detection.config import DetectorConfig
from fusion_core.detection.decode import decode_yolox
from fusion_core.detection.detector import _free_spatial_dims, to_bgr
from fusion_core.detection.letterbox import letterbox
from fusion_core.detection.torch_graph import TorchOnnxGraph
from fusion_core.errors import ConfigError, ModelFileError
from fusion_core.io import read_visible
from fusion_core.losses import FusionLossConfig
from fusion_core.losses.detection import DetectionLossConfig, decode_boxes, detection_loss
from fusion_core.model import FusionNetConfig
from training.data import MAX_BOXES, DataConfig, DatasetSpec, PairDataset, crop_boxes
from training.steps import TrainModule

MODEL = DetectorConfig().resolved_model_path
SHARED_DATA = Path(os.environ.get("IVIF_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="module")
def graph() -> TorchOnnxGraph:
    return TorchOnnxGraph(MODEL)


def _canvas(stem: str, folder: Path) -> np.ndarray:
    rgb = read_visible(folder / "vi" / f"{stem}.png")
    tensor, _ = letterbox(to_bgr(rgb, "rgb"), 416, 32)
    return tensor


def test_torch_copy_matches_onnx_runtime_on_real_images(graph: TorchOnnxGraph, msrs_dir: Path) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(_free_spatial_dims(MODEL), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for stem in sorted(p.stem for p in (msrs_dir / "vi").iterdir())[:3]:
        tensor = _canvas(stem, msrs_dir)  # (1, 3, 320, 416): the rectangular canvas
        reference = session.run(None, {name: tensor})[0]
        with torch.no_grad():
            ours = graph(torch.from_numpy(tensor)).numpy()
        assert ours.shape == reference.shape == (1, 2730, 85)
        np.testing.assert_allclose(ours, reference, atol=2e-4, rtol=1e-4)
        assert reference[0, :, 4].max() > 0.3  # a real scene, not an all-background check


def test_torch_copy_is_frozen_and_passes_gradients_to_its_input(graph: TorchOnnxGraph) -> None:
    assert list(graph.parameters()) == [] and graph.state_dict() == {}  # never trained, never saved
    x = torch.full((1, 3, 64, 96), 114.0, requires_grad=True)
    graph(x)[..., 4].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_unsupported_operators_are_refused_when_the_file_is_read(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(g), str(path))
    with pytest.raises(ModelFileError, match="Relu"):
        TorchOnnxGraph(path)


def test_decoded_boxes_match_the_inference_decoder(graph: TorchOnnxGraph, msrs_dir: Path) -> None:
    stem = sorted(p.stem for p in (msrs_dir / "vi").iterdir())[0]
    tensor = _canvas(stem, msrs_dir)
    with torch.no_grad():
        raw = graph(torch.from_numpy(tensor))
    reference, _, _ = decode_yolox(raw.numpy(), (320, 416))
    np.testing.assert_allclose(decode_boxes(raw, 320, 416)[0].numpy(), reference, rtol=1e-5, atol=1e-3)


def _raw_for(boxes_xyxy: list[tuple[float, float, float, float]], height: int, width: int, confident: bool) -> torch.Tensor:
    """A head output whose cells all predict the box of the nearest target (or a tiny box), with the given confidence."""
    from fusion_core.losses.detection import cell_centres

    centres, strides = cell_centres(height, width)
    raw = torch.zeros(1, len(strides), 85)
    raw[0, :, 2:4] = -3.0  # tiny boxes
    raw[0, :, 4] = 1e-3
    raw[0, :, 5:] = 1e-3
    for x0, y0, x1, y1 in boxes_xyxy:
        inside = (centres[:, 0] > x0) & (centres[:, 0] < x1) & (centres[:, 1] > y0) & (centres[:, 1] < y1)
        s = strides[inside]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        raw[0, inside, 0] = cx / s - (centres[inside, 0] / s - 0.5)
        raw[0, inside, 1] = cy / s - (centres[inside, 1] / s - 0.5)
        raw[0, inside, 2] = torch.log((x1 - x0) / s)
        raw[0, inside, 3] = torch.log((y1 - y0) / s)
        if confident:
            raw[0, inside, 4] = 0.99
            raw[0, inside, 5] = 0.99  # class 0, person
    return raw


def test_loss_rewards_a_confident_exact_detection_and_penalises_a_missed_one() -> None:
    box = (40.0, 30.0, 88.0, 126.0)
    target = torch.tensor([[[0.0, *box]] + [[-1.0, 0, 0, 0, 0]] * 3])  # one person, three padding rows
    found = detection_loss(_raw_for([box], 160, 160, confident=True), target, 160, 160)
    missed = detection_loss(_raw_for([box], 160, 160, confident=False), target, 160, 160)
    assert found["iou"] < 1e-3  # positives decode exactly onto the box
    assert found["cls"] < 0.02 and missed["cls"] > 6.0  # -log(0.99) vs -log(0.001)
    assert missed["total"] > 10 * found["total"]
    # The wrong class is not rewarded: the same confident cells labelled "car" (class 2) cost as much as a miss.
    car = target.clone()
    car[0, 0, 0] = 2.0
    assert detection_loss(_raw_for([box], 160, 160, confident=True), car, 160, 160)["cls"] > 6.0


def test_class_balance_gives_a_rare_class_the_weight_of_a_common_one() -> None:
    """Three people found, one car missed: unbalanced the miss is a quarter of the class term, balanced a half."""
    people = [(8.0 + 36 * i, 20.0, 40.0 + 36 * i, 100.0) for i in range(3)]
    car = (20.0, 110.0, 140.0, 150.0)
    raw = _raw_for(people, 160, 160, confident=True)  # every cell gives class 2 (car) probability 0.001
    rows = [[0.0, *b] for b in people] + [[2.0, *car]]
    target = torch.tensor([rows])
    plain = detection_loss(raw, target, 160, 160)
    balanced = detection_loss(raw, target, 160, 160, DetectionLossConfig(class_balanced=True))
    miss = -np.log(1e-3)  # the car's cells: class probability 0.001
    # plain: mean over the 20 positives (5 per box); balanced: mean over the two classes' means
    assert float(plain["cls"]) == pytest.approx((15 * -np.log(0.99) + 5 * miss) / 20, rel=1e-3)
    assert float(balanced["cls"]) == pytest.approx((-np.log(0.99) + miss) / 2, rel=1e-3)


def test_supervised_classes_leave_the_other_boxes_out_of_positives_and_negatives() -> None:
    """``classes=(0,)``: the missed car is no positive (class term = the three found people only) and its cells are
    no negatives either (objectness below the loss with the car's row simply deleted, where they are)."""
    people = [(8.0 + 36 * i, 20.0, 40.0 + 36 * i, 100.0) for i in range(3)]
    car = (20.0, 110.0, 140.0, 150.0)
    raw = _raw_for(people, 160, 160, confident=True)
    raw[0, :, 4] = torch.where(raw[0, :, 4] > 0.5, raw[0, :, 4], torch.full_like(raw[0, :, 4], 0.3))  # unsure elsewhere
    with_car = torch.tensor([[[0.0, *b] for b in people] + [[2.0, *car]]])
    without_car = torch.tensor([[[0.0, *b] for b in people] + [[-1.0, 0, 0, 0, 0]]])
    person_only = detection_loss(raw, with_car, 160, 160, DetectionLossConfig(classes=(0,)))
    deleted = detection_loss(raw, without_car, 160, 160)
    everything = detection_loss(raw, with_car, 160, 160)
    assert float(person_only["cls"]) == pytest.approx(-np.log(0.99), rel=1e-3)  # no car positive
    assert float(person_only["cls"]) == pytest.approx(float(deleted["cls"]), rel=1e-6)
    assert float(person_only["iou"]) == pytest.approx(float(deleted["iou"]), rel=1e-6)
    assert float(person_only["obj"]) < float(deleted["obj"]) - 0.01  # the car's cells are not taught "nothing here"
    assert float(everything["cls"]) > 3 * float(person_only["cls"])  # with the car supervised its miss counts
    listed = detection_loss(raw, with_car, 160, 160, DetectionLossConfig(classes=(0, 1, 2)))
    assert float(listed["total"]) == pytest.approx(float(everything["total"]), rel=1e-6)


def test_an_image_without_targets_only_teaches_no_detection() -> None:
    empty = torch.full((1, 2, 5), -1.0)
    quiet = _raw_for([], 160, 160, confident=False)
    loud = quiet.clone()
    loud[0, :50, 4] = 0.9  # fifty confident false positives
    a, b = detection_loss(quiet, empty, 160, 160), detection_loss(loud, empty, 160, 160)
    assert a["cls"] == 0 and a["iou"] == 0
    n = quiet.shape[1]
    assert float(a["obj"]) == pytest.approx(-np.log(1 - 1e-3) * n, rel=1e-4)
    assert float(b["obj"]) == pytest.approx(-np.log(1 - 1e-3) * (n - 50) - np.log(0.1) * 50, rel=1e-4)
    # the "nothing here" term scales with its weight and vanishes at 0
    tenth = detection_loss(loud, empty, 160, 160, DetectionLossConfig(negatives=0.1))
    assert float(tenth["obj"]) == pytest.approx(0.1 * float(b["obj"]), rel=1e-5)
    assert float(detection_loss(loud, empty, 160, 160, DetectionLossConfig(negatives=0.0))["total"]) == 0.0


def test_crop_boxes_shift_clip_drop_and_flip() -> None:
    boxes = np.array([[0, 100, 50, 140, 150],    # inside the crop
                      [2, 10, 10, 60, 40],       # mostly left of the crop: 10 of 50 px wide inside -> dropped
                      [1, 230, 200, 290, 260]])  # crosses the right edge: 40 of 60 px inside -> kept, clipped
    out = crop_boxes(boxes, (50.0, 20.0), 220, (False, False))
    assert out.shape == (MAX_BOXES, 5) and (out[2:, 0] == -1).all()
    np.testing.assert_allclose(out[0], [0, 50, 30, 90, 130])
    np.testing.assert_allclose(out[1], [1, 180, 180, 220, 220])  # y1 240 clipped to the crop's 220
    flipped = crop_boxes(boxes, (50.0, 20.0), 220, (True, True))
    np.testing.assert_allclose(flipped[0], [0, 220 - 90, 220 - 130, 220 - 50, 220 - 30])


def test_training_crops_carry_their_boxes_and_colour() -> None:
    """A 480 crop of a 640×480 MSRS pair: the crop's boxes are the label file's boxes shifted by the crop's column."""
    cfg = DataConfig(base_dir=str(SHARED_DATA), datasets=(DatasetSpec("MSRS", "train", labels="labels_det_ir"),),
                     crop=480, batch_size=1, workers=0, cache=True, hflip=False)
    ds = PairDataset(cfg)
    index = next(i for i, r in enumerate(ds.records) if len(read_yolo_boxes(box_file(r.labels, r.stem))) >= 2)
    record = ds.records[index]
    item = ds[(index, 777)]
    full = read_visible(record.vi).astype(np.float32) / 255.0
    # find the crop's column from the visible luminance, then check chroma and boxes against the files
    from fusion_core.colour import rgb_to_ycbcr

    ycc = rgb_to_ycbcr(torch.from_numpy(full)).numpy()
    x0 = next(x for x in range(161) if np.allclose(ycc[:, x:x + 480, 0], item["vi"][0].numpy(), atol=1e-6))
    np.testing.assert_allclose(item["vi_cbcr"].numpy(), ycc[:, x0:x0 + 480, 1:].transpose(2, 0, 1), atol=1e-6)
    pixel = to_pixel_boxes(read_yolo_boxes(box_file(record.labels, record.stem)), (480, 640))
    expected = crop_boxes(np.concatenate([np.array([[b.cls] for b in read_yolo_boxes(box_file(record.labels, record.stem))]),
                                          pixel], axis=1), (float(x0), 0.0), 480, (False, False))
    np.testing.assert_allclose(item["boxes"].numpy(), expected, atol=1e-4)
    assert (item["boxes"][:, 0] >= 0).sum() >= 1


def test_training_step_with_detection_reaches_the_fusion_weights_only() -> None:
    cfg = DataConfig(base_dir=str(SHARED_DATA), datasets=(DatasetSpec("MSRS", "train", labels="labels_det_ir"),),
                     crop=128, batch_size=2, workers=0, cache=False)
    ds = PairDataset(cfg)
    batch = {k: torch.stack([ds[(i, 5)][k] for i in range(4)]) for k in ("ir", "vi", "mask", "roi_valid", "vi_cbcr", "boxes")}
    module = TrainModule(FusionNetConfig(), FusionLossConfig(detection=0.05), None)
    out = module(batch["ir"], batch["vi"], batch["mask"], batch["roi_valid"], 1, vi_cbcr=batch["vi_cbcr"], boxes=batch["boxes"])
    assert torch.isfinite(out.terms["detection"]) and out.terms["detection"] > 0
    out.fusion_total.backward()
    assert all(p.grad is not None for p in module.fusion.parameters())
    assert not any(k.startswith("detector") for k in module.state_dict())
    # without labels the term is zero: unannotated objects must not be suppressed
    none = module.detection_terms(out.fused.detach(), batch["vi_cbcr"], batch["boxes"], torch.zeros(4))
    assert float(none["detection"]) == 0.0


def test_a_label_file_with_more_boxes_than_a_batch_holds_is_refused(tmp_path: Path) -> None:
    import cv2

    from fusion_core.errors import ConfigError
    from training.data import PairRecord, decode

    for sub in ("ir", "vi", "labels"):
        (tmp_path / sub).mkdir()
    cv2.imwrite(str(tmp_path / "ir" / "a.png"), np.zeros((64, 64), np.uint8))
    cv2.imwrite(str(tmp_path / "vi" / "a.png"), np.zeros((64, 64, 3), np.uint8))
    record = PairRecord("a", tmp_path / "ir" / "a.png", tmp_path / "vi" / "a.png", tmp_path / "labels", 0)
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n" * MAX_BOXES)
    assert (decode(record).boxes[:, 0] == 0).sum() == MAX_BOXES  # a full batch row is fine
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n" * (MAX_BOXES + 1))
    with pytest.raises(ConfigError, match=f"{MAX_BOXES + 1} boxes"):
        decode(record)


def test_the_detection_term_can_be_kept_to_dark_crops() -> None:
    """``loss.detection_max_visible``: with the limit between a night and a day crop's visible mean, the term is the
    one computed on the night crop alone; a limit below both leaves nothing (0), and 1 keeps both."""
    cfg = DataConfig(base_dir=str(SHARED_DATA), datasets=(DatasetSpec("MSRS", "train", labels="labels_det_ir"),),
                     crop=128, batch_size=2, workers=0, cache=False, hflip=False)
    ds = PairDataset(cfg)
    night = next(i for i, r in enumerate(ds.records) if r.stem.endswith("N") and len(read_yolo_boxes(box_file(r.labels, r.stem))))
    day = next(i for i, r in enumerate(ds.records) if r.stem.endswith("D") and len(read_yolo_boxes(box_file(r.labels, r.stem))))
    batch = {k: torch.stack([ds[(i, 3)][k] for i in (night, day)]) for k in ("ir", "vi", "roi_valid", "vi_cbcr", "boxes")}
    means = batch["vi"].mean(dim=(1, 2, 3))
    assert means[0] < means[1]
    fused = 0.5 * (batch["ir"] + batch["vi"])
    limit = float(means.mean())

    def term(max_visible: float, roi_valid: torch.Tensor) -> float:
        module = TrainModule(FusionNetConfig(), FusionLossConfig(detection=0.05, detection_max_visible=max_visible), None)
        return float(module.detection_terms(fused, batch["vi_cbcr"], batch["boxes"], roi_valid, batch["vi"])["detection"])

    night_only = term(1.0, torch.tensor([1.0, 0.0]))
    assert term(limit, torch.ones(2)) == pytest.approx(night_only)
    assert term(limit, torch.ones(2)) != pytest.approx(term(1.0, torch.ones(2)))
    assert term(float(means.min()) * 0.5, torch.ones(2)) == 0.0
    with pytest.raises(ConfigError, match="detection_max_visible"):
        FusionLossConfig(detection_max_visible=0.0)
