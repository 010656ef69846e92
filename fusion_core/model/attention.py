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
        spatial = torch.softmax(self.spatial_score(both), dim=1)  # (B, 2, h, w)
        pooled = both.mean(dim=(2, 3))  # (B, 2C)
        channel = torch.sigmoid(self.channel_mlp(pooled)).view(-1, 2, self.channels)  # (B, 2, C)
        ir = f_ir * spatial[:, 0:1] * channel[:, 0, :, None, None]
        vi = f_vi * spatial[:, 1:2] * channel[:, 1, :, None, None]
        return AttentionOutput(ir, vi, spatial, channel)
