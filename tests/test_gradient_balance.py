"""Detection gradient balancing (training/gradient_balance.py): projection, cap, and its use in training."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from fusion_core.checkpoint import load_checkpoint
from fusion_core.errors import ConfigError
from training import load_config, train
from training.gradient_balance import balance

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IVIF_SHARED_DATA", REPO.parent / "shared" / "data"))
SMOKE = REPO / "config" / "train" / "ci_smoke.yaml"


def _params() -> list[torch.Tensor]:
    return [torch.zeros(1), torch.zeros(1), torch.zeros(2)]


def _split(flat: list[float]) -> list[torch.Tensor]:
    values = [float(v) for v in flat]
    return [torch.tensor(values[0:1]), torch.tensor(values[1:2]), torch.tensor(values[2:4])]


def test_a_conflicting_detection_gradient_loses_its_conflict_then_is_capped() -> None:
    # fusion (1, 0, 0, 0); detection (-3, 4, 0, 0): cosine -0.6, the -3 along fusion is removed -> (0, 4),
    # then capped at 0.5 x |fusion| = 0.5 -> (0, 0.5)
    grads, stats = balance(_split([1, 0, 0, 0]), _split([-3, 4, 0, 0]), _params(), ratio=0.5)
    assert torch.cat(grads).tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert stats.cosine == pytest.approx(-0.6) and stats.scale == pytest.approx(0.125)
    assert stats.fusion_norm == pytest.approx(1.0) and stats.detection_norm == pytest.approx(5.0)
    assert [g.shape for g in grads] == [p.shape for p in _params()]


def test_an_agreeing_detection_gradient_is_added_as_it_is_when_under_the_cap() -> None:
    grads, stats = balance(_split([1, 0, 0, 2]), _split([1, 1, 0, 0]), _params(), ratio=10.0)
    assert torch.cat(grads).tolist() == pytest.approx([2.0, 1.0, 0.0, 2.0])
    assert stats.scale == 1.0 and stats.cosine > 0


def test_a_parameter_one_term_does_not_reach_counts_as_zero() -> None:
    grads, _ = balance([torch.tensor([2.0]), None, torch.tensor([0.0, 0.0])], [None, torch.tensor([-1.0]), None],
                       _params(), ratio=1.0)
    assert torch.cat(grads).tolist() == pytest.approx([2.0, -1.0, 0.0, 0.0])  # orthogonal: no projection, under the cap
    with pytest.raises(ValueError, match="ratio must be > 0"):
        balance(_split([1, 0, 0, 0]), _split([1, 0, 0, 0]), _params(), ratio=0.0)


def test_config_refuses_a_negative_ratio() -> None:
    with pytest.raises(ConfigError, match="optim.detection_grad_ratio must be >= 0"):
        load_config(SMOKE, [f"data.base_dir={DATA}", "optim.detection_grad_ratio=-1"])


def test_training_with_a_vanishing_ratio_is_training_without_the_detection_term(tmp_path: Path) -> None:
    """The balanced step is the plain fusion step plus the capped detection part: at a cap of 1e-9 the weights
    after three steps equal those of a run with no detection term; at a real cap they do not, and the log
    records what the balancing did."""
    base = [f"data.base_dir={DATA}", "optim.steps=3", "run.ckpt_every=0", "run.image_every=0"]
    plain = train(load_config(SMOKE, base), out_dir=tmp_path / "plain")
    tiny = train(load_config(SMOKE, [*base, "loss.detection=1.0", "optim.detection_grad_ratio=1e-9"]), out_dir=tmp_path / "tiny")
    real = train(load_config(SMOKE, [*base, "loss.detection=1.0", "optim.detection_grad_ratio=0.5"]), out_dir=tmp_path / "real")
    weights = {name: load_checkpoint(r.model_path)["model"] for name, r in (("plain", plain), ("tiny", tiny), ("real", real))}
    for key, value in weights["plain"].items():
        torch.testing.assert_close(weights["tiny"][key], value, rtol=0, atol=1e-6)
    assert max(float((weights["real"][k] - v).abs().max()) for k, v in weights["plain"].items()) > 1e-4
    rows = [json.loads(x) for x in (real.run_dir / "scalars.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert any(r["loss/detection"] > 0 for r in rows)  # (a batch of RoadScene pairs alone has no boxes: term 0)
    for r in rows:
        assert r["balance/fusion_norm"] > 0 and (r["balance/detection_norm"] > 0) == (r["loss/detection"] > 0)
        assert -1.0 <= r["balance/cosine"] <= 1.0 and 0.0 < r["balance/scale"] <= 1.0
