"""Widening (training/widen.py, scripts/widen_model.py): the wider network makes the same pixels, its new units
are live (random, and reached by gradients from the first step), and a narrower width is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from fusion_core.checkpoint import load_checkpoint, load_model, model_from_payload
from fusion_core.errors import InputError
from fusion_core.model import FusionNet, count_parameters
from training.widen import widen

# float32 convolutions sum over a different number of input channels in the wider network, so the order of the
# additions differs: the pixels agree to rounding (measured 2.5e-6 fused, 8.6e-6 alpha), far below one 8-bit level.
ROUNDING = 1e-4


def layers(model: FusionNet) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_the_wider_network_makes_the_same_pixels(msrs_luma) -> None:
    ir, vi = msrs_luma
    narrow = load_model()
    wide = widen(narrow, 24).eval()
    assert wide.config == replace(narrow.config, channels=24)  # only the width changes
    assert count_parameters(wide) > 2 * count_parameters(narrow)
    with torch.no_grad():
        a, b = narrow(ir, vi), wide(ir, vi)
    assert (a.fused - b.fused).abs().max() < ROUNDING
    assert (a.alpha - b.alpha).abs().max() < ROUNDING
    # the fused image itself is far from trivial: it is not the same because both are, say, all zeros
    assert a.fused.std() > 0.05


def test_new_units_are_random_and_learn_from_the_first_step(msrs_luma) -> None:
    """Each new unit has random incoming weights (so it is not dead), each old unit zero weights from the new
    channels (that is what keeps the pixels), and one backward pass reaches the weights leading out of the new
    units: the wider network can move away from the narrow one."""
    ir, vi = msrs_luma
    narrow = load_model()
    c = narrow.config.channels
    wide = widen(narrow, 24)
    for old, new in zip(layers(narrow), layers(wide)):
        out_old, out_new = old.weight.shape[0], new.weight.shape[0]
        if out_new > out_old:
            assert new.weight[out_old:].abs().sum() > 0
    head_out = wide.head[2]
    assert torch.equal(head_out.weight[:, c:], torch.zeros_like(head_out.weight[:, c:]))
    out = wide(ir[..., :128, :128], vi[..., :128, :128])
    (out.fused - ir[..., :128, :128]).pow(2).mean().backward()
    assert head_out.weight.grad[:, c:].abs().sum() > 0
    assert wide.attention.spatial_score.weight.grad[:, c:24].abs().sum() > 0  # the new IR channels


def test_widening_is_repeatable_keeps_the_callers_random_state_and_refuses_a_narrower_network() -> None:
    narrow = load_model()
    torch.manual_seed(7)
    expected_draw = torch.rand(3)
    torch.manual_seed(7)
    a, b, c = widen(narrow, 20, seed=1), widen(narrow, 20, seed=1), widen(narrow, 20, seed=2)
    assert torch.equal(torch.rand(3), expected_draw)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))
    for channels in (16, 8):
        with pytest.raises(InputError, match="more channels"):
            widen(narrow, channels)


def test_the_script_writes_the_wider_model_and_records_its_source(tmp_path, load_script) -> None:
    from fusion_core.checkpoint import DEFAULT_MODEL_PATH

    out = tmp_path / "wide.pt"
    script = load_script("widen_model")
    assert script.main(["--model", "default", "--channels", "24", "--seed", "3", "--out", str(out)]) == 0
    payload = load_checkpoint(out)
    stored = model_from_payload(payload, out)
    expected = widen(load_model(), 24, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(stored.state_dict().values(), expected.state_dict().values()))
    assert payload["meta"]["widened"] == {"from": str(DEFAULT_MODEL_PATH), "channels": 24, "seed": 3,
                                          "by": "scripts/widen_model.py"}
    assert script.main(["--model", "default", "--channels", "16", "--out", str(tmp_path / "bad.pt")]) == 2
    assert not (tmp_path / "bad.pt").exists()
