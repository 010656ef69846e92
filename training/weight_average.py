"""Average the weights of several FusionNet checkpoints fine-tuned from one start (a "model soup").

Why: every detection-in-the-loop run gained on the held-out selection pairs and lost part of it on the dev
split (docs/evaluation.md), the mark of a direction that is partly real and partly each run's noise.
Averaging the weights of several fine-tunes of the same start keeps what they share and cancels what each
found alone, at no cost at inference: the result is one network of the same size (Wortsman et al., "Model
soups", ICML 2022; with the start itself among the members this is WiSE-FT, Wortsman et al., CVPR 2022).
It is only meaningful for members fine-tuned from one start, so the members must have the same model config
(architecture and fixed stages alike); the fixed stages can be set afterwards with scripts/set_fixed_stages.py.

Averages interpolate: each detection fine-tune's average with its start kept about half its gain and half its cost.
:func:`extrapolate_models` goes the other way along one fine-tune, ``start + scale * (tuned - start)`` with
``scale > 1`` (a scaled "task vector", Ilharco et al., "Editing models with task arithmetic", ICLR 2023): worth
measuring where a fine-tune's cost elsewhere was held small (loss.anchor) and its gain was wanted larger.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from fusion_core.checkpoint import load_model, model_path
from fusion_core.errors import InputError
from fusion_core.model import FusionNet


def normalised_weights(count: int, weights: Sequence[float] | None) -> list[float]:
    """``weights`` scaled to sum to 1 (uniform when None); refused unless one per member and non-negative."""
    if count < 2:
        raise InputError(f"averaging needs at least 2 checkpoints, got {count}")
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise InputError(f"{len(weights)} weights for {count} checkpoints: give one per checkpoint")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise InputError(f"weights must be >= 0 with a positive sum, got {list(weights)}")
    total = float(sum(weights))
    return [float(w) / total for w in weights]


def average_models(models: Sequence[FusionNet], weights: Sequence[float] | None = None) -> FusionNet:
    """A new FusionNet whose every tensor is the weighted mean of the members' (same config required)."""
    shares = normalised_weights(len(models), weights)
    _check_same_config(models)
    return _combine(models, shares)


def extrapolate_models(start: FusionNet, tuned: FusionNet, scale: float) -> FusionNet:
    """``start + scale * (tuned - start)``, tensor by tensor (same config required): ``scale`` 1 is ``tuned``,
    0 is ``start``, above 1 goes further along the fine-tune. Refused outside (0, 4]: below 0 reverses the
    fine-tune, and far beyond its own length the direction means nothing."""
    if not 0 < scale <= 4:
        raise InputError(f"scale must be in (0, 4], got {scale}: 1 is the fine-tune itself, above 1 goes further")
    _check_same_config([start, tuned])
    return _combine([start, tuned], [1.0 - scale, scale])


def _check_same_config(models: Sequence[FusionNet]) -> None:
    config = models[0].config
    for index, model in enumerate(models[1:], start=1):
        if model.config != config:
            raise InputError(
                f"member {index} has a different model config from member 0 "
                f"({model.config.to_dict()} vs {config.to_dict()}): only fine-tunes of one network average"
            )


def _combine(models: Sequence[FusionNet], shares: Sequence[float]) -> FusionNet:
    """Σ share · member, tensor by tensor in float64; integer tensors (counters) must agree and are kept."""
    config = models[0].config
    states = [m.state_dict() for m in models]
    averaged = {}
    for name, first in states[0].items():
        if not first.is_floating_point():
            if any(not torch.equal(s[name], first) for s in states[1:]):
                raise InputError(f"integer tensor {name!r} differs between members: cannot average it")
            averaged[name] = first.clone()
            continue
        total = torch.zeros_like(first, dtype=torch.float64)
        for share, state in zip(shares, states):
            total += share * state[name].to(torch.float64)
        averaged[name] = total.to(first.dtype)
    result = FusionNet(config)
    result.load_state_dict(averaged)
    return result.eval()


def average_checkpoints(paths: Sequence[str | Path], weights: Sequence[float] | None = None) -> FusionNet:
    """Load ``paths`` (``'default'`` allowed, :func:`~fusion_core.checkpoint.model_path`) and average them with
    :func:`average_models`."""
    return average_models([load_model(model_path(p)) for p in paths], weights)
