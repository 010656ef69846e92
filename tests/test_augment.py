"""Photometric augmentation (training/augment.py): each range does what it says, on pixels, and off is off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fusion_core.errors import ConfigError
from training.augment import AugmentConfig, augment
from training.config import DataConfig, DatasetSpec, config_from_dict
from training.data import PairDataset

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ir = torch.rand(48, 64, generator=g) * 0.6 + 0.2
    vi = torch.rand(48, 64, 3, generator=g) * 0.6 + 0.2
    return ir, vi


def _rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_identity_returns_the_inputs_and_draws_nothing() -> None:
    ir, vi = _inputs()
    rng = _rng()
    out_ir, out_vi = augment(ir, vi, AugmentConfig(), rng)
    assert out_ir is ir and out_vi is vi
    assert rng.random() == _rng().random()  # the generator was not advanced


def test_thermal_gain_and_offset_are_the_agc_line() -> None:
    ir, vi = _inputs()
    out_ir, out_vi = augment(ir, vi, AugmentConfig(thermal_gain=(1.5, 1.5)), _rng())
    assert torch.allclose(out_ir, (1.5 * ir).clamp(0, 1))
    assert torch.equal(out_vi, vi)  # the visible camera untouched
    cfg = AugmentConfig(thermal_offset=0.1)
    out_ir, _ = augment(ir, vi, cfg, _rng())
    shift = out_ir - ir
    assert float(shift.std()) < 1e-6 and 0 < abs(float(shift.mean())) <= 0.1  # one offset for the whole crop


def test_visible_exposure_scales_luma_and_chroma_about_grey_and_gamma_bends_luma() -> None:
    ir, vi = _inputs()
    out_ir, out_vi = augment(ir, vi, AugmentConfig(visible_gain=(0.5, 0.5)), _rng())
    assert torch.equal(out_ir, ir)
    assert torch.allclose(out_vi[..., 0], 0.5 * vi[..., 0])
    assert torch.allclose(out_vi[..., 1:], 0.5 + 0.5 * (vi[..., 1:] - 0.5), atol=1e-6)  # float32 about grey
    _, out_vi = augment(ir, vi, AugmentConfig(visible_gamma=(2.0, 2.0)), _rng())
    assert torch.allclose(out_vi[..., 0], vi[..., 0] ** 2)
    assert torch.equal(out_vi[..., 1:], vi[..., 1:])  # gamma leaves colour alone


def test_noise_has_the_drawn_sigma_and_blur_removes_detail() -> None:
    ir = torch.full((200, 200), 0.5)
    vi = torch.full((200, 200, 3), 0.5)
    sigmas = []
    for seed in range(20):
        out_ir, _ = augment(ir, vi, AugmentConfig(noise=0.05), np.random.default_rng(seed))
        sigmas.append(float((out_ir - ir).std()))
    assert max(sigmas) <= 0.05 * 1.05 and min(sigmas) >= 0.0 and np.std(sigmas) > 0.005  # σ drawn in [0, 0.05]
    checker = ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).float()
    out_ir, out_vi = augment(checker, torch.stack([checker, checker * 0 + 0.5, checker * 0 + 0.5], -1),
                             AugmentConfig(blur=1.0), _rng())
    assert float(out_ir.std()) < 0.5 * float(checker.std())
    assert float(out_vi[..., 0].std()) < 0.5 * float(checker.std())


def test_same_generator_same_crop_different_generator_different_crop() -> None:
    ir, vi = _inputs()
    cfg = AugmentConfig(thermal_gain=(0.7, 1.4), thermal_offset=0.1, visible_gain=(0.6, 1.6), visible_gamma=(0.7, 1.4),
                        noise=0.02, blur=0.5)
    a = augment(ir, vi, cfg, np.random.default_rng(3))
    b = augment(ir, vi, cfg, np.random.default_rng(3))
    c = augment(ir, vi, cfg, np.random.default_rng(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert float(a[0].min()) >= 0 and float(a[0].max()) <= 1 and float(a[1].min()) >= 0 and float(a[1].max()) <= 1


@pytest.mark.parametrize("bad, message", [
    ({"thermal_gain": [1.2, 0.8]}, "data.augment.thermal_gain must be [low, high] with 0 < low <= high"),
    ({"visible_gamma": [0.0, 1.0]}, "data.augment.visible_gamma must be"),
    ({"thermal_offset": 0.7}, "data.augment.thermal_offset must be in [0, 0.5]"),
    ({"blur": 1.5}, "data.augment.blur is a probability"),
    ({"noise": -0.1}, "data.augment.noise must be in [0, 0.2]"),
])
def test_bad_ranges_are_refused_with_the_key(bad: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config_from_dict({"data": {"augment": bad}})


def test_the_dataset_changes_pixels_only_and_keeps_crop_mask_and_boxes() -> None:
    spec = (DatasetSpec("MSRS", "train", labels="labels_det_ir"),)
    plain = PairDataset(DataConfig(base_dir=str(DATA), datasets=spec, crop=128, batch_size=1, workers=0, cache=False))
    aug_cfg = config_from_dict({"data": {"augment": {"thermal_gain": [0.7, 1.4], "thermal_offset": 0.1}}}).data.augment
    augmented = PairDataset(DataConfig(base_dir=str(DATA), datasets=spec, crop=128, batch_size=1, workers=0, cache=False,
                                       augment=aug_cfg))
    for key in [(0, 11), (3, 12345)]:
        a, b = plain[key], augmented[key]
        assert torch.equal(a["mask"], b["mask"]) and torch.equal(a["boxes"], b["boxes"])
        assert torch.equal(a["vi"], b["vi"]) and torch.equal(a["vi_cbcr"], b["vi_cbcr"])  # only the thermal ranges set
        assert not torch.equal(a["ir"], b["ir"])
        # the same crop, through the AGC line: one gain and one offset map the plain thermal onto the augmented
        x, y = a["ir"].ravel().numpy(), b["ir"].ravel().numpy()
        keep = (y > 0) & (y < 1)  # not clipped
        gain, offset = np.polyfit(x[keep], y[keep], 1)
        assert 0.7 <= gain <= 1.4 and abs(offset) <= 0.1 + 1e-6
        assert np.abs(gain * x[keep] + offset - y[keep]).max() < 1e-5
