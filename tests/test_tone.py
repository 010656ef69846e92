"""Tone stage (fusion_core/model/tone.py): the sum mix and the contrast gain on real pixels, FusionNet with and
without them, the config through a checkpoint and scripts/set_fixed_stages.py (the ONNX export: tests/test_fixed_stages_onnx.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from fusion_core import ConfigError, FusionNet, FusionNetConfig, load_model
from fusion_core.checkpoint import load_checkpoint, model_from_payload, save_checkpoint
from fusion_core.metrics.scd import corr2, scd
from fusion_core.model import with_fixed_stages
from fusion_core.model.tone import apply_tone, mix_towards_sum, scale_contrast

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import set_fixed_stages  # noqa: E402


def _grey(x: torch.Tensor):
    """(1, 1, H, W) [0, 1] -> float64 0–255 (H, W), the metrics' convention."""
    return x[0, 0].double().mul(255.0).numpy()


def test_off_by_default_and_returns_the_same_tensor(msrs_luma, plain_output) -> None:
    ir, vi = msrs_luma
    assert FusionNetConfig().sum_mix == 0.0 and FusionNetConfig().contrast_gain == 1.0
    assert apply_tone(plain_output.fused, ir, vi, 0.0, 1.0) is plain_output.fused


def test_the_whole_way_to_the_sum_carries_both_sources_completely(msrs_luma, plain_output) -> None:
    """At weight 1 the result is IR + VI − mean + the fusion's mean, whose SCD is the metric's maximum, 2."""
    ir, vi = msrs_luma
    f = plain_output.fused.double()
    out = mix_towards_sum(f, ir.double(), vi.double(), 1.0)
    s = ir.double() + vi.double()
    assert torch.allclose(out, s - s.mean() + f.mean(), atol=1e-12)
    a, b, fused = _grey(ir.double()), _grey(vi.double()), _grey(out)  # out of [0, 255]: SCD's formula, unchecked
    assert corr2(fused - b, a) + corr2(fused - a, b) == pytest.approx(2.0, abs=1e-9)


def test_a_share_of_the_sum_raises_scd_and_keeps_the_brightness(msrs_luma, plain_output) -> None:
    ir, vi = msrs_luma
    f = plain_output.fused
    mixed = mix_towards_sum(f, ir, vi, 0.1)
    assert mixed.mean().item() == pytest.approx(f.mean().item(), abs=1e-6)
    clamped = mixed.clamp(0.0, 1.0)  # as the stage returns it
    assert (clamped != mixed).double().mean().item() < 0.01
    before, after = scd(_grey(f), _grey(ir), _grey(vi)), scd(_grey(clamped), _grey(ir), _grey(vi))
    assert after > before + 0.05, (before, after)
    # each pixel moves by a tenth of how far the sum lies from the fusion, relative to the frame's mean offset
    d = ir + vi - f
    assert torch.allclose(mixed - f, 0.1 * (d - d.mean()), atol=1e-6)


def test_contrast_gain_scales_the_deviation_from_the_mean(plain_output) -> None:
    f = plain_output.fused.double()
    out = scale_contrast(f, 1.06)
    assert out.mean().item() == pytest.approx(f.mean().item(), abs=1e-12)
    assert out.std().item() == pytest.approx(1.06 * f.std().item(), rel=1e-9)


def test_fusionnet_applies_the_tone_last_and_keeps_alpha(msrs_luma, plain_output) -> None:
    ir, vi = msrs_luma
    toned = with_fixed_stages(load_model(), sum_mix=0.1, contrast_gain=1.06)
    with torch.inference_mode():
        out = toned(ir, vi)
    assert torch.equal(out.alpha, plain_output.alpha)
    expected = scale_contrast(mix_towards_sum(plain_output.fused, ir, vi, 0.1), 1.06).clamp(0.0, 1.0)
    assert torch.allclose(out.fused, expected, atol=1e-6)
    assert (out.fused - plain_output.fused).abs().mean().item() > 5e-3  # it does change the image
    assert 0.0 <= out.fused.min().item() and out.fused.max().item() <= 1.0


def test_tone_travels_inside_the_checkpoint(tmp_path) -> None:
    model = FusionNet(FusionNetConfig(channels=8, sum_mix=0.1, contrast_gain=1.06))
    path = save_checkpoint(tmp_path / "m.pt", model)
    payload = load_checkpoint(path)
    assert model_from_payload(payload, path).config.sum_mix == 0.1
    assert model_from_payload(payload, path).config.contrast_gain == 1.06
    # a checkpoint written before the option existed loads with the stage off
    del payload["model_config"]["sum_mix"], payload["model_config"]["contrast_gain"]
    config = model_from_payload(payload, path).config
    assert (config.sum_mix, config.contrast_gain) == (0.0, 1.0)


@pytest.mark.parametrize("field, value", [("sum_mix", -0.1), ("sum_mix", 1.5), ("contrast_gain", 0.4), ("contrast_gain", 2.5)])
def test_bad_tone_is_refused(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        FusionNetConfig(**{field: value})


def test_set_fixed_stages_changes_only_what_it_is_told(tmp_path) -> None:
    source = save_checkpoint(tmp_path / "src.pt", FusionNet(FusionNetConfig(channels=8, pyramid_gains=(0.5,))))
    out = tmp_path / "toned.pt"
    assert set_fixed_stages.main(["--model", str(source), "--sum-mix", "0.1", "--contrast-gain", "1.06", "--out", str(out)]) == 0
    payload = load_checkpoint(out)
    model = model_from_payload(payload, out)
    assert (model.config.pyramid_gains, model.config.sum_mix, model.config.contrast_gain) == ((0.5,), 0.1, 1.06)
    original = load_checkpoint(source)["model"]
    assert all(torch.equal(payload["model"][k], v) for k, v in original.items())
    assert payload["meta"]["fixed_stages_set"]["from"] == str(source)
    # an out-of-range value is an error, not a file
    assert set_fixed_stages.main(["--model", str(source), "--sum-mix", "2", "--out", str(tmp_path / "bad.pt")]) == 2
    assert not (tmp_path / "bad.pt").exists()


def test_with_fixed_stages_keeps_the_weights_and_refuses_other_fields() -> None:
    """The helper the script and the stage tests share: same weights and mode, only fixed stages may change."""
    plain = load_model()
    toned = with_fixed_stages(plain, sum_mix=0.1)
    assert toned.config.sum_mix == 0.1 and not toned.training
    assert toned.config == FusionNetConfig.from_dict({**plain.config.to_dict(), "sum_mix": 0.1})
    assert all(torch.equal(a, b) for a, b in zip(toned.state_dict().values(), plain.state_dict().values()))
    with pytest.raises(ConfigError, match="not fixed stages"):
        with_fixed_stages(plain, channels=24)
