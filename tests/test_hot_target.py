"""Hot-target stage (fusion_core/model/hot_target.py): the mask on constructed and real thermal pixels, FusionNet
with and without it, the config through a checkpoint and scripts/set_fixed_stages.py (the ONNX export:
tests/test_fixed_stages_onnx.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fusion_core import ConfigError, FusionNet, FusionNetConfig, load_model
from fusion_core.boxes import read_yolo_boxes
from fusion_core.checkpoint import load_checkpoint, model_from_payload, save_checkpoint
from fusion_core.model import with_fixed_stages
from fusion_core.model.guided import downsample
from fusion_core.model.hot_target import apply_hot_target, hot_mask, thermal_background

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import set_fixed_stages  # noqa: E402


def _warm_block(level: float, background: float = 0.3) -> torch.Tensor:
    """(1, 1, 240, 320) flat thermal frame at ``background`` with a person-sized 40×16 block at ``level``."""
    ir = torch.full((1, 1, 240, 320), background)
    ir[..., 100:140, 152:168] = level
    return ir


def _mask(ir: torch.Tensor, threshold: float = 0.03, ramp: float = 0.05) -> torch.Tensor:
    return hot_mask(ir, downsample(ir, 4), threshold, ramp)


def test_off_by_default_and_returns_the_same_tensors(msrs_luma, plain_output) -> None:
    ir, _ = msrs_luma
    assert FusionNetConfig().hot_target == 0.0
    fused, alpha = apply_hot_target(plain_output.fused, plain_output.alpha, ir, downsample(ir, 4), 0.0, 0.03, 0.05)
    assert fused is plain_output.fused and alpha is plain_output.alpha


def test_the_background_of_a_flat_frame_is_the_frame() -> None:
    ir = torch.full((1, 1, 97, 131), 0.42)
    assert torch.allclose(thermal_background(downsample(ir, 4), ir), ir, atol=1e-6)


@pytest.mark.parametrize("height, width", [(480, 640), (1024, 1280)])
def test_the_background_spreads_a_point_by_the_same_pixels_at_any_frame_size(height: int, width: int) -> None:
    """The docstring's σ 22.6 px: the background of an impulse has that standard deviation in each direction."""
    ir = torch.zeros(1, 1, height, width)
    ir[..., height // 2 - 2:height // 2 + 2, width // 2 - 2:width // 2 + 2] = 1.0
    bg = thermal_background(downsample(ir, 4), ir)[0, 0].double()
    bg = bg / bg.sum()
    for profile in (bg.sum(1), bg.sum(0)):
        at = torch.arange(profile.numel(), dtype=torch.float64)
        mean = (profile * at).sum()
        assert ((profile * (at - mean) ** 2).sum().sqrt().item()) == pytest.approx(22.6, abs=0.1)


def test_a_warm_block_is_found_and_nothing_else() -> None:
    """A block 0.2 above a flat frame: fully marked at its centre, unmarked a background's width away."""
    m = _mask(_warm_block(0.5))[0, 0]
    assert m[110:130, 156:164].min().item() == pytest.approx(1.0, abs=1e-6)
    assert m[:60].max().item() == 0.0 and m[:, :100].max().item() == 0.0
    assert m.mean().item() < 0.02


def test_the_threshold_and_the_ramp_set_how_much_is_taken() -> None:
    """Below the threshold nothing is taken; half a ramp above it, half (the block's centre sits a little
    below its own level above the background, since the background sees the block too)."""
    assert _mask(_warm_block(0.31))[0, 0].max().item() == 0.0  # 0.01 above: under the 0.03 threshold
    centre = _mask(_warm_block(0.5), threshold=0.0, ramp=1.0)[0, 0, 120, 160].item()
    excess = 0.5 - thermal_background(downsample(_warm_block(0.5), 4), _warm_block(0.5))[0, 0, 120, 160].item()
    assert centre == pytest.approx(excess, abs=1e-3) and 0.15 < excess < 0.2
    half = _mask(_warm_block(0.5), threshold=excess - 0.025, ramp=0.05)[0, 0, 120, 160].item()
    assert half == pytest.approx(0.5, abs=0.02)


def test_the_blend_takes_the_thermal_value_where_marked_and_moves_alpha_alike() -> None:
    ir = _warm_block(0.5)
    fused = torch.full_like(ir, 0.6)
    fused[..., :, :10] = 0.0  # something to keep
    alpha = torch.full_like(ir, 0.25)
    out, a = apply_hot_target(fused, alpha, ir, downsample(ir, 4), 1.0, 0.03, 0.05)
    m = _mask(ir)
    assert torch.allclose(out, fused + m * (ir - fused), atol=1e-6)
    assert torch.allclose(a, alpha + m * (1.0 - alpha), atol=1e-6)
    assert torch.allclose(out[..., 115:125, 158:162], ir[..., 115:125, 158:162])  # the block's centre is thermal
    assert torch.equal(out[..., :60, :], fused[..., :60, :]) and torch.equal(a[..., :60, :], alpha[..., :60, :])
    vi = torch.full_like(ir, 0.7)  # for a plain blend, the moved α reproduces the moved image exactly
    blend, blend_alpha = apply_hot_target(vi + alpha * (ir - vi), alpha, ir, downsample(ir, 4), 0.7, 0.03, 0.05)
    assert torch.allclose(blend, vi + blend_alpha * (ir - vi), atol=1e-6)
    half, _ = apply_hot_target(fused, alpha, ir, downsample(ir, 4), 0.5, 0.03, 0.05)
    assert half[0, 0, 120, 160].item() == pytest.approx(0.55, abs=1e-6)  # half way from 0.6 to 0.5


def test_on_a_real_night_pair_the_mask_finds_the_people(msrs_dir, msrs_luma) -> None:
    """MSRS 00004N has 11 labelled people; the mask marks their boxes about ten times as much as the rest, and
    covers a few percent of the frame."""
    ir, _ = msrs_luma
    m = _mask(ir)[0, 0].numpy()
    h, w = m.shape
    people = np.zeros_like(m, dtype=bool)
    boxes = [b for b in read_yolo_boxes(msrs_dir / "labels_det_ir" / "00004N.txt") if b.cls == 0]
    assert len(boxes) == 11
    for b in boxes:
        people[int((b.cy - b.h / 2) * h):int((b.cy + b.h / 2) * h), int((b.cx - b.w / 2) * w):int((b.cx + b.w / 2) * w)] = True
    inside, outside = m[people].mean(), m[~people].mean()
    assert inside > 0.3 and outside < 0.04 and inside > 10 * outside, (inside, outside)
    assert m.mean() < 0.06


def test_fusionnet_applies_it_after_the_tone(msrs_luma, plain_output) -> None:
    ir, vi = msrs_luma
    hot = with_fixed_stages(load_model(), hot_target=1.0, hot_target_threshold=0.03)
    with torch.inference_mode():
        out = hot(ir, vi)
    expected = apply_hot_target(plain_output.fused, plain_output.alpha, ir, downsample(ir, 4), 1.0, 0.03, 0.05)
    assert torch.allclose(out.fused, expected[0], atol=1e-6) and torch.allclose(out.alpha, expected[1], atol=1e-6)
    changed = (out.fused - plain_output.fused).abs() > 1.0 / 255.0
    assert 0.01 < changed.double().mean().item() < 0.1  # a few percent of the frame, not the scene


def test_hot_target_travels_inside_the_checkpoint(tmp_path) -> None:
    model = FusionNet(FusionNetConfig(channels=8, hot_target=1.0, hot_target_threshold=0.03, hot_target_ramp=0.05))
    path = save_checkpoint(tmp_path / "m.pt", model)
    payload = load_checkpoint(path)
    config = model_from_payload(payload, path).config
    assert (config.hot_target, config.hot_target_threshold, config.hot_target_ramp) == (1.0, 0.03, 0.05)
    for key in ("hot_target", "hot_target_threshold", "hot_target_ramp"):  # a checkpoint from before the option
        del payload["model_config"][key]
    assert model_from_payload(payload, path).config.hot_target == 0.0


@pytest.mark.parametrize("field, value", [("hot_target", -0.1), ("hot_target", 1.5), ("hot_target_threshold", -0.01),
                                          ("hot_target_ramp", 0.0)])
def test_bad_hot_target_is_refused(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        FusionNetConfig(**{field: value})


def test_set_fixed_stages_sets_the_hot_target_and_keeps_the_rest(tmp_path) -> None:
    source = save_checkpoint(tmp_path / "src.pt", FusionNet(FusionNetConfig(channels=8, sum_mix=0.1)))
    out = tmp_path / "hot.pt"
    argv = ["--model", str(source), "--hot-target", "1", "--hot-threshold", "0.03", "--hot-ramp", "0.05", "--out", str(out)]
    assert set_fixed_stages.main(argv) == 0
    payload = load_checkpoint(out)
    config = model_from_payload(payload, out).config
    assert (config.sum_mix, config.hot_target, config.hot_target_threshold, config.hot_target_ramp) == (0.1, 1.0, 0.03, 0.05)
    original = load_checkpoint(source)["model"]
    assert all(torch.equal(payload["model"][k], v) for k, v in original.items())
    assert set_fixed_stages.main(["--model", str(source), "--hot-ramp", "0", "--out", str(tmp_path / "bad.pt")]) == 2
    assert not (tmp_path / "bad.pt").exists()
