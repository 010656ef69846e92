"""Modality-aware attention: decide, per pixel and per channel, how much each modality is worth.

Both modalities' features are looked at together (an IR feature is only "informative" relative to
what the visible camera sees at the same place). The module returns the re-weighted features and
the weights themselves, so a user can see where the network trusted which camera.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class AttentionOutput(NamedTuple):
    ir: torch.Tensor  # (B, C, h, w) re-weighted IR features
    vi: torch.Tensor  # (B, C, h, w) re-weighted visible features
    spatial: torch.Tensor  # (B, 2, h, w) per-pixel modality weights [IR, VI], sum to 1
    channel: torch.Tensor  # (B, 2, C) per-channel gates in [0, 1]


class ModalityAttention(nn.Module):
    """Spatial softmax over the two modalities times squeeze-and-excitation style channel gates."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.spatial_score = nn.Conv2d(2 * channels, 2, kernel_size=3, padding=1)
        hidden = max(channels // 2, 4)
        self.channel_mlp = nn.Sequential(nn.Linear(2 * channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2 * channels))

    def forward(self, f_ir: torch.Tensor, f_vi: torch.Tensor) -> AttentionOutput:
        both = torch.cat((f_ir, f_vi), dim=1)  # (B, 2C, h, w)
        # The softmax of two scores is the sigmoid of their difference: no Softmax over the channel axis, which
        # ONNX Runtime runs as a separate transposing pass (0.5 of 12 ms at 640x480 on 2 CPU threads). The two
        # scores still come from one 2-channel convolution: with a 1-channel one (the filters' difference) two
        # torch engines fed the same frame no longer agreed to the bit (one byte of one pixel,
        # tests/test_invalid_thermal.py), which replay's live-against-offline comparison relies on.
        scores = self.spatial_score(both)  # (B, 2, h, w)
        ir_weight = torch.sigmoid(scores[:, 0:1] - scores[:, 1:2])
        vi_weight = 1.0 - ir_weight
        pooled = both.mean(dim=(2, 3))  # (B, 2C)
        channel = torch.sigmoid(self.channel_mlp(pooled)).view(-1, 2, self.channels)  # (B, 2, C)
        ir = f_ir * ir_weight * channel[:, 0, :, None, None]
        vi = f_vi * vi_weight * channel[:, 1, :, None, None]
        return AttentionOutput(ir, vi, torch.cat((ir_weight, vi_weight), dim=1), channel)
