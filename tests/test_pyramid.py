"""Laplacian detail transfer (fusion_core/model/pyramid.py): exact bands, the choose-max rule on real pixels,
FusionNet with and without it, the config through a checkpoint (the ONNX export: tests/test_fixed_stages_onnx.py)."""

from __future__ import annotations


import pytest
import torch

from fusion_core import ConfigError, FusionNet, FusionNetConfig, load_model
from fusion_core.checkpoint import load_checkpoint, model_from_payload, save_checkpoint
from fusion_core.model import with_fixed_stages
from fusion_core.model.guided import upsample_to
from fusion_core.model.pyramid import choose_stronger, detail_transfer, laplacian_bands, reduce


@pytest.mark.parametrize("h, w", [(480, 640), (37, 53), (1, 1), (5, 1283)])
def test_bands_rebuild_the_image_exactly_at_any_size(h: int, w: int) -> None:
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    bands, coarsest = laplacian_bands(x, 4)
    assert [b.shape[-2:] for b in bands][0] == (h, w)
    assert coarsest.shape[-2:] == (-(-h // 16), -(-w // 16))  # ceil(size / 2) per level
    rebuilt = coarsest
    for band in reversed(bands):
        rebuilt = upsample_to(rebuilt, band) + band
    assert torch.allclose(rebuilt, x, atol=1e-6)


def test_reduce_keeps_a_constant_and_blurs_an_impulse_with_the_binomial_taps() -> None:
    flat = torch.full((1, 1, 9, 9), 0.3)
    assert torch.allclose(reduce(flat, 1), torch.full((1, 1, 5, 5), 0.3))
    impulse = torch.zeros(1, 1, 9, 9)
    impulse[..., 4, 4] = 1.0
    out = reduce(impulse, 1)[0, 0]  # output pixel (2, 2) sits on input (4, 4): the kernel's centre, 36/256
    assert out[2, 2].item() == pytest.approx(36 / 256) and out[1, 2].item() == pytest.approx(6 / 256)
    assert out.sum().item() == pytest.approx(1.0 / 4.0, rel=1e-5)  # every second pixel of a kernel summing to 1


def test_choose_stronger_is_where_to_the_bit(msrs_luma) -> None:
    """The Where-free choose-max gives torch.where's values exactly, ties (equal magnitudes) going to the second."""
    ir, vi = msrs_luma
    (a,), _ = laplacian_bands(ir, 1)
    (b,), _ = laplacian_bands(vi, 1)
    b[..., :4, :] = -a[..., :4, :]  # equal magnitudes, opposite signs
    picked = choose_stronger(a, b)
    assert torch.equal(picked, torch.where(a.abs() > b.abs(), a, b))
    assert torch.equal(picked[..., :4, :], b[..., :4, :]) and (picked != b).any()


def _rebuild_with_bands_moved(fused, ir, vi, gains):
    """Reference by synthesis: decompose F, move band l by gains[l] towards the stronger source's band, collapse."""
    f_bands, coarsest = laplacian_bands(fused, len(gains))
    ir_bands, _ = laplacian_bands(ir, len(gains))
    vi_bands, _ = laplacian_bands(vi, len(gains))
    out = coarsest
    for f, a, b, g in reversed(list(zip(f_bands, ir_bands, vi_bands, gains))):
        stronger = torch.where(a.abs() > b.abs(), a, b)
        out = upsample_to(out, f) + f + g * (stronger - f)
    return out


def test_zero_gains_change_nothing(msrs_luma) -> None:
    ir, vi = msrs_luma
    fused = 0.5 * (ir + vi)
    assert torch.equal(detail_transfer(fused, ir, vi, ()), fused)
    assert torch.allclose(detail_transfer(fused, ir, vi, (0.0, 0.0, 0.0)), fused, atol=1e-6)


@pytest.mark.parametrize("gains", [(1.0,), (0.5, 0.5), (0.75, 0.5, 0.25), (0.0, 1.0, 0.0, 2.0)])
def test_transfer_is_the_fusion_rebuilt_with_each_band_moved_towards_the_stronger_source(msrs_luma, gains) -> None:
    ir, vi = msrs_luma
    fused = 0.7 * ir + 0.3 * vi
    out = detail_transfer(fused, ir, vi, gains)
    assert (out - _rebuild_with_bands_moved(fused, ir, vi, gains)).abs().max().item() < 1e-5
    assert (out - fused).abs().mean().item() > 1e-3


def test_gain_one_at_the_finest_band_swaps_in_the_stronger_detail_from_both_sources(msrs_luma) -> None:
    ir, vi = msrs_luma
    fused = 0.5 * (ir + vi)
    (f_band,), _ = laplacian_bands(fused, 1)
    (ir_band,), _ = laplacian_bands(ir, 1)
    (vi_band,), _ = laplacian_bands(vi, 1)
    stronger = torch.where(ir_band.abs() > vi_band.abs(), ir_band, vi_band)
    # what is added at full resolution is exactly the finest-band difference, pixel by pixel
    assert torch.allclose(detail_transfer(fused, ir, vi, (1.0,)) - fused, stronger - f_band, atol=1e-6)
    # on this night pair both sources hold some of the strongest fine detail, neither all of it
    from_ir = (ir_band.abs() > vi_band.abs()).float().mean().item()
    assert 0.05 < from_ir < 0.95
    # the average halves each source's detail; swapping in the stronger one raises the detail energy
    assert stronger.abs().mean() > 1.2 * f_band.abs().mean()


def test_fusionnet_applies_the_transfer_after_the_blend_and_keeps_alpha(msrs_luma) -> None:
    ir, vi = msrs_luma
    plain = load_model()
    with_transfer = with_fixed_stages(plain, pyramid_gains=(0.75, 0.5, 0.25))
    with torch.inference_mode():
        a, b = plain(ir, vi), with_transfer(ir, vi)
    assert torch.equal(a.alpha, b.alpha)
    expected = detail_transfer(a.fused, ir, vi, (0.75, 0.5, 0.25)).clamp(0.0, 1.0)
    assert torch.allclose(b.fused, expected, atol=1e-6)
    assert (b.fused - a.fused).abs().mean().item() > 1e-3  # it does change the image
    assert 0.0 <= b.fused.min().item() and b.fused.max().item() <= 1.0


def test_gains_travel_inside_the_checkpoint(tmp_path) -> None:
    model = FusionNet(FusionNetConfig(channels=8, pyramid_gains=(0.5, 0.25)))
    path = save_checkpoint(tmp_path / "m.pt", model)
    payload = load_checkpoint(path)
    assert payload["model_config"]["pyramid_gains"] == [0.5, 0.25]
    assert model_from_payload(payload, path).config.pyramid_gains == (0.5, 0.25)
    # a checkpoint written before the option existed loads with the transfer off
    del payload["model_config"]["pyramid_gains"]
    assert model_from_payload(payload, path).config.pyramid_gains == ()


@pytest.mark.parametrize("gains", [(2.5,), (-0.1,), (0.5,) * 7])
def test_bad_gains_are_refused(gains: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match="pyramid_gains"):
        FusionNetConfig(pyramid_gains=gains)
