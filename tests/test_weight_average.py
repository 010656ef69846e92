"""Weight averaging (training/weight_average.py, scripts/average_weights.py): every tensor is the weighted mean,
an endpoint reproduces its member's pixels, and members that are not one network are refused."""

from __future__ import annotations

import pytest
import torch

from fusion_core.checkpoint import load_checkpoint, model_from_payload, save_checkpoint
from fusion_core.errors import InputError
from fusion_core.model import FusionNet, FusionNetConfig
from training.weight_average import average_models, extrapolate_models, normalised_weights


def random_model(seed: int, **config) -> FusionNet:
    torch.manual_seed(seed)
    model = FusionNet(FusionNetConfig(channels=8, **config))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def test_every_tensor_is_the_weighted_mean() -> None:
    a, b = random_model(0), random_model(1)
    soup = average_models([a, b], [1.0, 3.0])
    for name, value in soup.state_dict().items():
        expected = 0.25 * a.state_dict()[name] + 0.75 * b.state_dict()[name]
        assert torch.allclose(value, expected, atol=1e-7), name


def test_an_endpoint_reproduces_its_member_pixels(msrs_luma) -> None:
    """Weights (1, 0) give member 0's network: fused image and alpha identical on a real MSRS pair, and the
    uniform mean differs from both members (it is not a copy of either)."""
    ir, vi = msrs_luma
    a, b = random_model(0), random_model(1)
    with torch.no_grad():
        out_a, out_b = a(ir, vi), b(ir, vi)
        out_end = average_models([a, b], [1.0, 0.0])(ir, vi)
        out_mid = average_models([a, b])(ir, vi)
    assert torch.equal(out_end.fused, out_a.fused) and torch.equal(out_end.alpha, out_a.alpha)
    assert (out_mid.fused - out_a.fused).abs().max() > 1e-3 and (out_mid.fused - out_b.fused).abs().max() > 1e-3


def test_members_of_different_networks_are_refused() -> None:
    with pytest.raises(InputError, match="different model config"):
        average_models([random_model(0), random_model(1, sum_mix=0.1)])
    with pytest.raises(InputError, match="different model config"):
        average_models([random_model(0), FusionNet(FusionNetConfig(channels=16))])


@pytest.mark.parametrize(
    "count, weights, message",
    [(1, None, "at least 2"), (2, [1.0], "one per checkpoint"), (2, [1.0, -1.0], ">= 0"), (2, [0.0, 0.0], "positive sum")],
)
def test_bad_weights_are_refused(count, weights, message) -> None:
    with pytest.raises(InputError, match=message):
        normalised_weights(count, weights)


def test_the_script_writes_the_mean_and_records_its_members(tmp_path, load_script) -> None:
    script = load_script("average_weights")
    a = save_checkpoint(tmp_path / "a.pt", random_model(0))
    b = save_checkpoint(tmp_path / "b.pt", random_model(1))
    out = tmp_path / "soup.pt"
    assert script.main(["--model", str(a), "--model", str(b), "--weight", "3", "--weight", "1", "--out", str(out)]) == 0
    payload = load_checkpoint(out)
    soup = model_from_payload(payload, out)
    for name, value in soup.state_dict().items():
        expected = 0.75 * load_checkpoint(a)["model"][name] + 0.25 * load_checkpoint(b)["model"][name]
        assert torch.allclose(value, expected, atol=1e-7), name
    members = payload["meta"]["weight_average"]["members"]
    assert [(m["path"], m["share"]) for m in members] == [(str(a), 0.75), (str(b), 0.25)]
    # a weight count that does not match is an error, not a file
    assert script.main(["--model", str(a), "--model", str(b), "--weight", "1", "--out", str(tmp_path / "bad.pt")]) == 2
    assert not (tmp_path / "bad.pt").exists()


def test_default_names_the_shipped_model(tmp_path, load_script) -> None:
    """``--model default`` twice averages the shipped model with itself: its own weights, recorded by path."""
    from fusion_core.checkpoint import DEFAULT_MODEL_PATH, load_model

    out = tmp_path / "same.pt"
    assert load_script("average_weights").main(["--model", "default", "--model", "default", "--out", str(out)]) == 0
    shipped = load_model().state_dict()
    assert all(torch.allclose(v, shipped[k], atol=1e-7) for k, v in load_checkpoint(out)["model"].items())
    assert [m["path"] for m in load_checkpoint(out)["meta"]["weight_average"]["members"]] == [str(DEFAULT_MODEL_PATH)] * 2


def test_extrapolation_goes_further_along_the_fine_tune(msrs_luma) -> None:
    """start + 2 (tuned - start), tensor by tensor; scale 1 gives the fine-tune's own pixels on a real MSRS pair,
    and scale 2 moves the fused image further from the start's than the fine-tune did."""
    ir, vi = msrs_luma
    start, tuned = random_model(0), random_model(1)
    far = extrapolate_models(start, tuned, 2.0)
    for name, value in far.state_dict().items():
        expected = 2.0 * tuned.state_dict()[name] - start.state_dict()[name]
        assert torch.allclose(value, expected, atol=1e-6), name
    with torch.no_grad():
        out_start, out_tuned = start(ir, vi).fused, tuned(ir, vi).fused
        out_one, out_far = extrapolate_models(start, tuned, 1.0)(ir, vi).fused, far(ir, vi).fused
    assert torch.equal(out_one, out_tuned)
    assert (out_far - out_start).abs().mean() > (out_tuned - out_start).abs().mean()


@pytest.mark.parametrize("scale", [0.0, -1.0, 4.5])
def test_extrapolation_scale_out_of_range_is_refused(scale) -> None:
    with pytest.raises(InputError, match="scale must be in"):
        extrapolate_models(random_model(0), random_model(1), scale)
    with pytest.raises(InputError, match="different model config"):
        extrapolate_models(random_model(0), random_model(1, sum_mix=0.1), 1.5)


def test_the_extrapolation_script_records_start_tuned_and_scale(tmp_path, load_script) -> None:
    script = load_script("extrapolate_weights")
    a = save_checkpoint(tmp_path / "a.pt", random_model(0))
    b = save_checkpoint(tmp_path / "b.pt", random_model(1))
    out = tmp_path / "far.pt"
    assert script.main(["--start", str(a), "--tuned", str(b), "--scale", "1.5", "--out", str(out)]) == 0
    payload = load_checkpoint(out)
    for name, value in payload["model"].items():
        expected = -0.5 * load_checkpoint(a)["model"][name] + 1.5 * load_checkpoint(b)["model"][name]
        assert torch.allclose(value, expected, atol=1e-6), name
    assert payload["meta"]["extrapolation"] == {
        "start": str(a), "tuned": str(b), "scale": 1.5, "by": "scripts/extrapolate_weights.py"
    }
    assert script.main(["--start", str(a), "--tuned", str(b), "--scale", "-1", "--out", str(tmp_path / "bad.pt")]) == 2
    assert not (tmp_path / "bad.pt").exists()
