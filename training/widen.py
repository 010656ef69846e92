"""Widen a trained FusionNet to more channels without changing what it computes (Net2Net-style, zero outgoing).

Why: every fine-tune of the 16-channel network that gained detection on the held-out selection pairs lost part
of it on the dev split, and the losses were always the classes and scenes the fine-tune was not aimed at
(docs/evaluation.md, "Day and night"): the mark of a network too small to make a targeted change without a
general one. A wider network is the direct test, and the speed bar leaves room for it (24 channels run in
1.5–1.7× the 16-channel time through ONNX Runtime, docs/eval/width_bench.json). Training a wider network from
scratch would throw away what the shipped model learnt, so the trained weights are embedded in the wider one
instead (Chen et al., "Net2Net", ICLR 2016, with zero-initialised outgoing weights rather than split units):

* every old unit keeps its weights from old inputs and gets **zero** weights from the new channels, so the
  old computation, and hence the fused image and α, is unchanged;
* every new unit gets a fresh random initialisation from **all** inputs, so its activations are non-zero and
  the zero weights leading out of it receive gradients from the first step (zero *incoming* weights would not).

Only ``channels`` changes; every other architectural choice and the fixed stages are kept.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from fusion_core.errors import InputError
from fusion_core.model import FusionNet


def _embed(new: torch.Tensor, old: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor | None) -> None:
    """Put ``old`` into ``new`` at (rows, cols); the old rows' other columns (the new inputs) become zero."""
    if cols is None:  # a bias
        new[rows] = old
        return
    new[rows] = 0.0
    new[rows[:, None], cols[None, :]] = old


def _embed_layer(new: nn.Module, old: nn.Module, rows: torch.Tensor, cols: torch.Tensor) -> None:
    assert isinstance(new, (nn.Conv2d, nn.Linear)) and isinstance(old, type(new))
    _embed(new.weight.data, old.weight.data, rows, cols)
    if old.bias is not None:
        assert new.bias is not None
        _embed(new.bias.data, old.bias.data, rows, None)


def widen(model: FusionNet, channels: int, seed: int = 0) -> FusionNet:
    """A FusionNet with ``channels`` channels that computes exactly what ``model`` computes (see module doc).

    ``seed`` fixes the new units' random initialisation. Refused unless ``channels`` is larger than the model's.
    """
    old_c = model.config.channels
    if channels <= old_c:
        raise InputError(f"widening needs more channels than the model's {old_c}, got {channels}")
    with torch.random.fork_rng(devices=[]):  # the seed is this call's alone: the caller's random state is kept
        torch.manual_seed(seed)
        wide = FusionNet(replace(model.config, channels=channels))
    c = torch.arange(old_c)
    both = torch.cat((c, channels + c))  # the [IR, VI] concatenation: each half starts at its own offset
    hidden = torch.arange(model.attention.channel_mlp[0].out_features)
    with torch.no_grad():
        for name in ("encoder_ir", "encoder_vi"):
            old_encoder, new_encoder = getattr(model, name), getattr(wide, name)
            convs = [i for i, m in enumerate(old_encoder) if isinstance(m, nn.Conv2d)]
            for k, i in enumerate(convs):
                _embed_layer(new_encoder[i], old_encoder[i], c, torch.arange(1) if k == 0 else c)
        _embed_layer(wide.attention.spatial_score, model.attention.spatial_score, torch.arange(2), both)
        _embed_layer(wide.attention.channel_mlp[0], model.attention.channel_mlp[0], hidden, both)
        _embed_layer(wide.attention.channel_mlp[2], model.attention.channel_mlp[2], both, hidden)
        _embed_layer(wide.head[0], model.head[0], c, both)
        _embed_layer(wide.head[2], model.head[2], torch.arange(3), c)
    return wide.train(model.training)
