"""loss.anchor: L1 to a frozen reference model's fusion outside the target boxes (fusion_core/losses/anchor.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from fusion_core import load_model, save_checkpoint
from fusion_core.boxes import roi_mask_for
from fusion_core.errors import ConfigError
from fusion_core.losses import FusionLossConfig, anchor_loss
from fusion_core.model import FusionNet
from training import load_config, train
from training.steps import TrainModule

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IVIF_SHARED_DATA", REPO.parent / "shared" / "data"))
SMOKE = REPO / "config" / "train" / "ci_smoke.yaml"
BASE = f"data.base_dir={DATA}"


@pytest.fixture(scope="module")
def shipped_fusion(msrs_luma: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    ir, vi = msrs_luma
    with torch.no_grad():
        return load_model()(ir, vi).fused


@pytest.fixture(scope="module")
def people_mask(msrs_dir: Path) -> torch.Tensor:
    """00004N's people boxes (class 0) as the ROI mask, (1, 1, 480, 640)."""
    mask = roi_mask_for(msrs_dir / "labels_det_ir", "00004N", (480, 640), classes=[0])
    assert 0 < mask.sum() < mask.size // 4  # a few people: most of the frame is outside the boxes
    return torch.from_numpy(mask.astype(np.float32))[None, None]


def test_changes_inside_the_boxes_are_free_and_outside_cost_their_mean(shipped_fusion: torch.Tensor, people_mask: torch.Tensor) -> None:
    labelled = torch.ones(1)
    brighter_people = (shipped_fusion + 0.3 * people_mask).clamp(0, 1)
    assert float((brighter_people - shipped_fusion).abs().max()) > 0.25
    assert float(anchor_loss(brighter_people, shipped_fusion, people_mask, labelled)) == 0.0

    outside = 1.0 - people_mask
    darker_scene = shipped_fusion - 0.1 * outside * (shipped_fusion > 0.1)
    expected = float(((darker_scene - shipped_fusion).abs() * outside).sum() / outside.sum())
    assert expected > 0.05
    assert float(anchor_loss(darker_scene, shipped_fusion, people_mask, labelled)) == pytest.approx(expected, rel=1e-5)


def test_an_unlabelled_crop_is_held_everywhere(shipped_fusion: torch.Tensor, people_mask: torch.Tensor) -> None:
    """Its all-zero mask means "not annotated": a change on the people counts, averaged over the whole frame."""
    brighter_people = (shipped_fusion + 0.3 * people_mask).clamp(0, 1)
    expected = float((brighter_people - shipped_fusion).abs().mean())
    assert expected > 0
    assert float(anchor_loss(brighter_people, shipped_fusion, people_mask, torch.zeros(1))) == pytest.approx(expected, rel=1e-5)


def test_the_reference_gets_no_gradient_and_shapes_must_match(shipped_fusion: torch.Tensor, people_mask: torch.Tensor) -> None:
    fused = shipped_fusion.clone().requires_grad_(True)
    reference = (shipped_fusion * 0.9).requires_grad_(True)
    anchor_loss(fused, reference, people_mask, torch.ones(1)).backward()
    assert reference.grad is None
    assert fused.grad is not None and float(fused.grad.abs().sum()) > 0
    assert float(fused.grad[people_mask.bool()].abs().max()) == 0.0  # nothing pulls the people back
    with pytest.raises(ValueError, match="differ in shape"):
        anchor_loss(fused, reference[..., :-1], people_mask, torch.ones(1))


def test_train_module_adds_the_weighted_anchor_and_needs_a_reference(msrs_luma: tuple[torch.Tensor, torch.Tensor],
                                                                      people_mask: torch.Tensor) -> None:
    ir, vi = msrs_luma
    ir, vi, mask = ir[..., :128, :160], vi[..., :128, :160], people_mask[..., :128, :160]
    model = load_model()
    loss = FusionLossConfig(anchor=3.0)
    module = TrainModule(model.config, loss, None)
    module.fusion.load_state_dict(model.state_dict())
    with pytest.raises(ConfigError, match="needs a reference"):
        module(ir, vi, mask, torch.ones(1))
    torch.manual_seed(5)
    module.set_reference(FusionNet(model.config))  # a different (random) network
    assert all(not p.requires_grad for p in module.reference.parameters())
    out = module(ir, vi, mask, torch.ones(1))
    with torch.no_grad():
        expected = anchor_loss(out.fused, module.reference(ir, vi).fused, mask, torch.ones(1))
    assert float(out.terms["anchor"].detach()) == pytest.approx(float(expected), rel=1e-6) and float(expected) > 0.01
    plain = TrainModule(model.config, FusionLossConfig(), None)
    plain.fusion.load_state_dict(model.state_dict())
    without = plain(ir, vi, mask, torch.ones(1)).fusion_total
    assert float((out.fusion_total - without).detach()) == pytest.approx(3.0 * float(expected), rel=1e-4)


def test_a_run_anchors_to_its_init_model_and_refuses_without_one(tmp_path: Path) -> None:
    cfg = load_config(SMOKE, [BASE])
    torch.manual_seed(123)  # weights unlike the run's own seed-0 initialisation
    start = save_checkpoint(tmp_path / "start.pt", FusionNet(cfg.model), {"name": "start"})
    steps = [BASE, "optim.steps=1", "optim.lr=1e-9", "optim.warmup=0", "loss.anchor=2.0"]
    result = train(load_config(SMOKE, steps + [f"run.init={start}"]), out_dir=tmp_path / "anchored")
    # the reference is the init model (a reference from the run's own seed would be ~0.1 away), so at the start it is 0
    assert result.record["final_losses"]["anchor"] < 1e-9
    # trained for real, the network moves away and the reference stays (an alias of the trained network would stay at 0)
    moved = train(load_config(SMOKE, [BASE, "optim.steps=6", "optim.warmup=0", "loss.anchor=2.0", f"run.init={start}"]),
                  out_dir=tmp_path / "moved")
    assert moved.record["final_losses"]["anchor"] > 1e-5  # measured 5.0e-5 after 5 updates at weight 2
    saved = torch.load(moved.model_path, weights_only=True)["model"]
    assert not any(k.startswith("reference") for k in saved) and saved.keys() == FusionNet(cfg.model).state_dict().keys()
    with pytest.raises(ConfigError, match="loss.anchor > 0 needs run.init"):
        load_config(SMOKE, steps)
