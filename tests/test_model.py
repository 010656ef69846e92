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


def _reference_forward(model: FusionNet, ir: torch.Tensor, vi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """FusionNet written the textbook way, independent of the forward's pass-saving rewrites: a softmax over the
    two spatial scores, the guide (IR + VI) / 2 at full resolution, α·IR + (1 − α)·VI, gains sliced after
    upsampling both together."""
    import torch.nn.functional as F

    cfg, att = model.config, model.attention

    def box(x, r):
        return F.avg_pool2d(x, 2 * r + 1, stride=1, padding=r, count_include_pad=False)

    def up(x):
        return F.interpolate(x, size=ir.shape[-2:], mode="bilinear", align_corners=False)

    ir_low = F.avg_pool2d(ir, cfg.scale, cfg.scale, ceil_mode=True, count_include_pad=False)
    vi_low = F.avg_pool2d(vi, cfg.scale, cfg.scale, ceil_mode=True, count_include_pad=False)
    f_ir, f_vi = model.encoder_ir(ir_low), model.encoder_vi(vi_low)
    both = torch.cat((f_ir, f_vi), dim=1)
    spatial = torch.softmax(att.spatial_score(both), dim=1)
    channel = torch.sigmoid(att.channel_mlp(both.mean(dim=(2, 3)))).view(-1, 2, att.channels)
    feats = torch.cat((f_ir * spatial[:, 0:1] * channel[:, 0, :, None, None],
                       f_vi * spatial[:, 1:2] * channel[:, 1, :, None, None]), dim=1)
    logits = model.head(feats)
    p, gains = torch.sigmoid(logits[:, 0:1]), torch.sigmoid(logits[:, 1:3]) * cfg.max_detail_gain
    r, guide_low, guide = cfg.guided_radius, 0.5 * (ir_low + vi_low), 0.5 * (ir + vi)
    mean_i, mean_p = box(guide_low, r), box(p, r)
    a = (box(guide_low * p, r) - mean_i * mean_p) / (box(guide_low * guide_low, r) - mean_i * mean_i + cfg.guided_eps)
    b = mean_p - a * mean_i
    alpha = (up(box(a, r)) * guide + up(box(b, r))).clamp(0.0, 1.0)
    k, g = cfg.detail_kernel // 2, up(gains)
    fused = alpha * ir + (1.0 - alpha) * vi + g[:, 0:1] * (ir - box(ir, k)) + g[:, 1:2] * (vi - box(vi, k))
    return fused.clamp(0.0, 1.0), alpha


@pytest.mark.parametrize("crop", [(480, 640), (37, 53)])
def test_shipped_model_equals_the_textbook_formulation_on_a_real_pair(msrs_pair, crop):
    """The forward's rewrites (sigmoid of the score difference for the two-way softmax, the guide's 1/2 moved to
    low resolution, VI + α(IR − VI), per-channel gain upsampling) change the float rounding only: on a real MSRS
    pair, at a size the scale divides and one it does not, every fused and α value is within a few float32 ulps
    of the textbook form and the 8-bit output is byte-identical."""
    from fusion_core import load_model
    from fusion_core.checkpoint import DEFAULT_MODEL_PATH

    thermal, visible = msrs_pair
    h, w = crop
    ir = torch.from_numpy(thermal[:h, :w].astype("float32") / 255.0)[None, None]
    vi = torch.from_numpy(visible[:h, :w].astype("float32").mean(axis=2) / 255.0)[None, None]
    model = load_model(DEFAULT_MODEL_PATH).eval()
    with torch.no_grad():
        out = model(ir, vi)
        ref_fused, ref_alpha = _reference_forward(model, ir, vi)
    assert (out.fused - ref_fused).abs().max().item() < 1e-6
    assert (out.alpha - ref_alpha).abs().max().item() < 1e-6
    assert 0.05 < out.alpha.mean().item() < 0.95  # a real blend, not a degenerate α the comparison would not see
    to_bytes = lambda x: (x * 255.0).round().to(torch.uint8)  # noqa: E731
    assert torch.equal(to_bytes(out.fused), to_bytes(ref_fused))
    assert torch.allclose(out.modality_weights.sum(dim=1), torch.ones(1), atol=1e-6)
