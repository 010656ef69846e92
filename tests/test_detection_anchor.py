"""loss.detection_anchor: the frozen detector's confidences for the held classes on the fine-tuned fusion against
those on the run.init model's fusion (fusion_core/losses/detection_anchor.py, training/steps.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from fusion_core.boxes import box_file, read_yolo_boxes, to_pixel_boxes
from fusion_core.errors import ConfigError
from fusion_core.detection.decode import grid_and_strides
from fusion_core.losses import FusionLossConfig, detection_anchor_loss, free_cells, held_scores
from fusion_core.model import FusionNet, FusionNetConfig
from training import load_config
from training.data import DataConfig, DatasetSpec, PairDataset
from training.steps import TrainModule

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IVIF_SHARED_DATA", REPO.parent / "shared" / "data"))
SMOKE = REPO / "config" / "train" / "ci_smoke.yaml"


def head(obj: list[float], probs: list[list[float]]) -> torch.Tensor:
    """A (1, A, 5 + C) head output with zero boxes, the given objectness and class probabilities per cell."""
    a = len(obj)
    return torch.cat((torch.zeros(a, 4), torch.tensor(obj)[:, None], torch.tensor(probs)), dim=1)[None]


def test_the_term_sums_the_held_confidence_changes_and_ignores_the_others() -> None:
    reference = head([0.9, 0.1, 0.0], [[0.8, 0.1, 0.5], [0.2, 0.6, 0.1], [0.0, 0.0, 0.0]])
    # cell 0: the person (class 0) fades and the car (class 2) firms up; cell 1: the bicycle fades
    tuned = head([0.9, 0.1, 0.0], [[0.1, 0.1, 0.7], [0.2, 0.0, 0.1], [0.0, 0.0, 0.0]])
    assert torch.allclose(held_scores(reference, [1, 2]), reference[..., 4:5] * reference[..., 6:8])
    # |0.9 * (0.7 - 0.5)| + |0.1 * (0.0 - 0.6)| = 0.18 + 0.06; the person's change is not held
    assert float(detection_anchor_loss(tuned, reference, [1, 2])) == pytest.approx(0.24, abs=1e-6)
    # () holds every class: the person's 0.9 * 0.7 counts too
    assert float(detection_anchor_loss(tuned, reference, ())) == pytest.approx(0.24 + 0.63, abs=1e-6)
    assert float(detection_anchor_loss(reference, reference, [1, 2])) == 0.0
    with pytest.raises(ValueError, match="outside the detector's 3 classes"):
        detection_anchor_loss(tuned, reference, [3])
    with pytest.raises(ValueError, match="differ"):
        detection_anchor_loss(tuned, reference[:, :2], [1])


def test_free_cells_are_the_other_classes_boxes_minus_the_held_ones() -> None:
    """A 64 x 64 canvas: a person box over the left half and a bicycle box over its lower-left quarter. Holding
    bicycles, the free cells are those whose centre is in the person box and not in the bicycle box; holding every
    class frees nothing; a loss with every cell free is 0."""
    boxes = torch.tensor([[[0, 0.0, 0.0, 32.0, 64.0], [1, 0.0, 32.0, 32.0, 64.0], [-1, 0.0, 0.0, 0.0, 0.0]]])
    free = free_cells(boxes, 64, 64, (1, 2))
    cells, strides = grid_and_strides((64, 64))
    centres = (torch.tensor(cells, dtype=torch.float32) + 0.5) * torch.tensor(strides, dtype=torch.float32)
    expected = (centres[:, 0] < 32) & (centres[:, 1] < 32)
    assert free.shape == (1, len(cells)) and torch.equal(free[0], expected) and 0 < int(expected.sum()) < len(cells)
    assert not free_cells(boxes, 64, 64, ()).any()
    torch.manual_seed(0)
    raw, ref = torch.rand(1, len(cells), 8), torch.rand(1, len(cells), 8)
    assert float(detection_anchor_loss(raw, ref, (1, 2), torch.ones_like(free))) == 0.0
    kept = float(detection_anchor_loss(raw, ref, (1, 2), free))
    everything = float(detection_anchor_loss(raw, ref, (1, 2)))
    held = (held_scores(raw, (1, 2)) - held_scores(ref, (1, 2))).abs()[0]
    assert kept == pytest.approx(float(held[~expected].sum()), rel=1e-6) and kept < everything
    with pytest.raises(ValueError, match="do not match"):
        detection_anchor_loss(raw, ref, (1, 2), free[:, :-1])


def test_it_needs_a_detection_term_and_run_init() -> None:
    with pytest.raises(ConfigError, match="needs loss.detection > 0"):
        FusionLossConfig(detection_anchor=0.5)
    with pytest.raises(ConfigError, match="class indices"):
        FusionLossConfig(detection=1.0, detection_anchor=0.5, detection_anchor_classes=(-1,))
    with pytest.raises(ConfigError, match="loss.detection_anchor > 0 needs run.init"):
        load_config(SMOKE, [f"data.base_dir={DATA}", "loss.detection=1.0", "loss.detection_anchor=0.5",
                            "loss.detection_anchor_classes=[1,2]"])


def test_it_needs_the_held_classes_named() -> None:
    """Holding every class would hold back the people the fine-tune trains as well: refused, not run."""
    with pytest.raises(ConfigError, match="needs loss.detection_anchor_classes"):
        FusionLossConfig(detection=1.0, detection_anchor=0.5)
    assert FusionLossConfig(detection=1.0, detection_anchor=0.5, detection_anchor_classes=(1, 2)).detection_anchor == 0.5
    assert FusionLossConfig(detection=1.0).detection_anchor_classes == ()  # off: nothing to name


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    """Four real MSRS training crops with their boxes; at least one holds a car or a bicycle."""
    cfg = DataConfig(base_dir=str(DATA), datasets=(DatasetSpec("MSRS", "train", labels="labels_det_ir"),),
                     crop=192, batch_size=4, workers=0, cache=False, hflip=False)
    ds = PairDataset(cfg)
    with_vehicle = [i for i, r in enumerate(ds.records)
                    if any(b.cls in (1, 2) for b in read_yolo_boxes(box_file(r.labels, r.stem)))][:4]
    items = [ds[(i, 7)] for i in with_vehicle]
    out = {k: torch.stack([it[k] for it in items]) for k in ("ir", "vi", "mask", "roi_valid", "vi_cbcr", "boxes")}
    assert ((out["boxes"][..., 0] == 1) | (out["boxes"][..., 0] == 2)).any()
    return out


def test_the_train_module_holds_the_detector_view_of_its_reference(batch: dict[str, torch.Tensor]) -> None:
    """With the reference equal to the fine-tuned network the term is 0; with a different reference it is the
    detector's held-class drift between the two fusions of the same crops, added at its weight, and its
    gradient reaches the fusion network only."""
    config = FusionNetConfig(channels=8)
    loss = FusionLossConfig(detection=0.05, detection_anchor=0.5, detection_anchor_classes=(1, 2))
    module = TrainModule(config, loss, None)
    args = (batch["ir"], batch["vi"], batch["mask"], batch["roi_valid"], 1)
    kwargs = {"vi_cbcr": batch["vi_cbcr"], "boxes": batch["boxes"]}
    with pytest.raises(ConfigError, match="needs a reference"):
        module(*args, **kwargs)
    same = FusionNet(config)
    same.load_state_dict(module.fusion.state_dict())
    module.set_reference(same)
    assert float(module(*args, **kwargs).terms["detection_anchor"].detach()) == 0.0
    torch.manual_seed(11)
    other = FusionNet(config)  # fresh networks blend alike: move its weights well away
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p))
    module.set_reference(other)
    out = module(*args, **kwargs)
    with torch.no_grad():
        reference = module.reference(batch["ir"], batch["vi"]).fused
        expected = detection_anchor_loss(module.detector_view(out.fused, batch["vi_cbcr"]),
                                         module.detector_view(reference, batch["vi_cbcr"]), (1, 2))
    assert float(out.terms["detection_anchor"].detach()) == pytest.approx(float(expected), rel=1e-5) and float(expected) > 1e-2
    plain = TrainModule(config, FusionLossConfig(detection=0.05), None)
    plain.fusion.load_state_dict(module.fusion.state_dict())
    without = plain(*args, **kwargs)
    assert float(out.fusion_total.detach()) == pytest.approx(float(without.fusion_total.detach()) + 0.5 * float(expected), rel=1e-5)
    out.fusion_total.backward()
    assert all(p.grad is not None for p in module.fusion.parameters())
    assert all(p.grad is None for p in module.reference.parameters())
    # unlabelled crops are left out, as for the detection term
    none = module.detection_terms(out.fused.detach(), batch["vi_cbcr"], batch["boxes"], torch.zeros(4),
                                  reference=reference)
    assert float(none["detection_anchor"]) == 0.0


def test_the_held_classes_answer_to_their_own_objects(msrs_dir: Path) -> None:
    """On a real MSRS frame (00032N: people and cars of about the same box area) through the shipped model and
    detector: blanking the car boxes of the fused image to its mean moves the held car/bicycle confidences more
    than the people's, and blanking the person boxes the other way round (measured 5.53 against 1.66, and 10.44
    against 1.49). Frames differ (a rider's bicycle answers to the person pixels too), so one frame is fixed."""
    from fusion_core import load_model
    from fusion_core.colour import rgb_to_ycbcr
    from fusion_core.io import read_thermal, read_visible

    stem, labels = "00032N", msrs_dir / "labels_det_ir"
    ir = torch.from_numpy(read_thermal(msrs_dir / "ir" / f"{stem}.png").astype(np.float32) / 255.0)[None, None]
    rgb = torch.from_numpy(read_visible(msrs_dir / "vi" / f"{stem}.png").astype(np.float32) / 255.0)
    ycc = rgb_to_ycbcr(rgb).permute(2, 0, 1)[None]
    with torch.no_grad():
        fused = load_model()(ir, ycc[:, :1]).fused
    boxes = read_yolo_boxes(box_file(labels, stem))
    assert {b.cls for b in boxes} >= {0, 2}
    pixel = to_pixel_boxes(boxes, fused.shape[-2:])

    def blanked(cls: int) -> torch.Tensor:
        out = fused.clone()
        for b, (x1, y1, x2, y2) in zip(boxes, pixel):
            if b.cls == cls:
                out[..., int(y1):int(y2) + 1, int(x1):int(x2) + 1] = out.mean()
        return out

    module = TrainModule(FusionNetConfig(), FusionLossConfig(detection=1.0, detection_scale=0.65), None)
    with torch.no_grad():
        view = module.detector_view(fused, ycc[:, 1:])
        assert float(detection_anchor_loss(module.detector_view(fused.clone(), ycc[:, 1:]), view, (1, 2))) == 0.0
        cars, people = (module.detector_view(blanked(c), ycc[:, 1:]) for c in (2, 0))
        held_vehicles = [float(detection_anchor_loss(v, view, (1, 2))) for v in (cars, people)]
        held_people = [float(detection_anchor_loss(v, view, (0,))) for v in (cars, people)]
    assert held_vehicles[0] > 2 * held_people[0] and held_vehicles[0] > 1.0
    assert held_people[1] > 2 * held_vehicles[1] and held_people[1] > 1.0
