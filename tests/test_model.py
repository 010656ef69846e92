import dataclasses

import pytest
import torch

from fusion_core import ConfigError, FusionNet, FusionNetConfig, load_model, save_checkpoint
from fusion_core.model import count_macs, count_parameters

CONFIGS = [
    FusionNetConfig(),
    FusionNetConfig(scale=1),
    FusionNetConfig(upsample="bilinear"),
    FusionNetConfig(detail_residual=False, channels=8, dilations=(1, 2)),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"s{c.scale}-{c.upsample}-d{int(c.detail_residual)}")
@pytest.mark.parametrize("size", [(64, 64), (37, 53), (5, 7), (480, 641)])
def test_forward_shapes_ranges_and_odd_sizes(cfg, size):
    torch.manual_seed(0)
    model = FusionNet(cfg).eval()
    ir, vi = torch.rand(2, 1, *size), torch.rand(2, 1, *size)
    with torch.no_grad():
        out = model(ir, vi)
    assert out.fused.shape == out.alpha.shape == (2, 1, *size)
    for t in (out.fused, out.alpha):
        assert torch.isfinite(t).all()
        assert t.min() >= 0 and t.max() <= 1
    assert out.modality_weights.shape[1] == 2
    assert torch.allclose(out.modality_weights.sum(dim=1), torch.ones(1), atol=1e-5)
    assert (out.detail_gains >= 0).all() and (out.detail_gains <= cfg.max_detail_gain).all()


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = FusionNet()
    ir, vi = torch.rand(2, 1, 48, 40), torch.rand(2, 1, 48, 40)
    out = model(ir, vi)
    (out.fused.mean() + out.alpha.mean()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert missing == []


def test_blend_formula_holds_without_residual():
    model = FusionNet(FusionNetConfig(detail_residual=False)).eval()
    ir, vi = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        out = model(ir, vi)
    assert torch.allclose(out.fused, (out.alpha * ir + (1 - out.alpha) * vi).clamp(0, 1), atol=1e-6)


def test_untrained_model_starts_as_average():
    model = FusionNet().eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 16, 16))
    assert torch.allclose(out.alpha, torch.full_like(out.alpha, 0.5), atol=0.05)


def test_checkpoint_round_trip_carries_config(tmp_path):
    cfg = FusionNetConfig(channels=8, scale=2, dilations=(1, 3))
    model = FusionNet(cfg)
    path = save_checkpoint(tmp_path / "m.pt", model, meta={"why": "test"})
    loaded = load_model(path)
    assert loaded.config == cfg
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_bare_state_dict_is_refused(tmp_path):
    torch.save(FusionNet().state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ConfigError, match="not an ivif-fusion checkpoint"):
        load_model(tmp_path / "bare.pt")


def test_missing_model_file_names_path(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_model(tmp_path / "nope.pt")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": 2}, "channels"),
        ({"scale": 0}, "scale"),
        ({"upsample": "nearest"}, "not one of guided, bilinear"),
        ({"detail_kernel": 4}, "odd"),
        ({"dilations": ()}, "dilations"),
    ],
)
def test_invalid_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        FusionNetConfig(**kwargs)


def test_config_dict_round_trip_and_unknown_keys():
    cfg = FusionNetConfig(dilations=(1, 2))
    assert FusionNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown FusionNetConfig keys \\['depth'\\]"):
        FusionNetConfig.from_dict({**cfg.to_dict(), "depth": 3})


def test_low_resolution_design_keeps_macs_small():
    model = FusionNet()
    full = FusionNet(dataclasses.replace(model.config, scale=1))
    macs = count_macs(model, 480, 640)
    assert macs * 10 < count_macs(full, 480, 640)  # scale 4: ~16x fewer pixels through the convolutions
    assert count_parameters(model) < 50_000
