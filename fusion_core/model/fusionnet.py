"""FusionNet: low-resolution reasoning, full-resolution blending.

Pipeline for one pair of luminance images in [0, 1], shapes (B, 1, H, W), any H and W:

1. Area-downsample both by ``scale`` (the network never sees all H·W pixels: that is what makes it
   fast on a CPU).
2. One small dilated-conv encoder per modality -> features (B, C, h, w).
3. :class:`ModalityAttention` re-weights each modality's features (weights returned).
4. A head predicts, per low-res pixel, α (IR weight) and two detail gains.
5. α goes back to full resolution through a fast guided filter (or bilinear upsampling); the gains
   bilinearly.
6. ``fused = α·IR + (1−α)·VI + g_ir·HP(IR) + g_vi·HP(VI)``, clamped to [0, 1], where HP is a box
   high-pass at full resolution and the gains lie in ``[0, max_detail_gain]``: a bounded detail
   residual that can sharpen but never invent structure absent from both sources.
7. Optionally (``pyramid_gains``), each Laplacian band of the result moved towards the stronger source's
   band (:mod:`.pyramid`), clamped again.
8. Optionally (``sum_mix``, ``contrast_gain``), a global tone stage: a share of the way towards the sources'
   sum and a contrast gain about the image mean (:mod:`.tone`), clamped again.
9. Optionally (``hot_target``), places where the thermal image is well above its surroundings moved towards
   it, α with them (:mod:`.hot_target`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import torch
from torch import nn

from .attention import ModalityAttention
from ..errors import ConfigError
from .config import FIXED_STAGE_FIELDS, FusionNetConfig
from .guided import box_filter, downsample, fast_guided_upsample, upsample_to
from .hot_target import apply_hot_target
from .pyramid import detail_transfer
from .tone import apply_tone


class FusionOutput(NamedTuple):
    fused: torch.Tensor  # (B, 1, H, W) fused luminance in [0, 1]
    alpha: torch.Tensor  # (B, 1, H, W) IR weight in [0, 1]
    modality_weights: torch.Tensor  # (B, 2, h, w) spatial attention [IR, VI] at 1/scale resolution
    detail_gains: torch.Tensor  # (B, 2, h, w) [IR, VI] detail gains in [0, max_detail_gain]


def _encoder(channels: int, dilations: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 1
    for d in dilations:
        layers += [nn.Conv2d(in_ch, channels, kernel_size=3, padding=d, dilation=d), nn.LeakyReLU(0.1, inplace=True)]
        in_ch = channels
    return nn.Sequential(*layers)


class FusionNet(nn.Module):
    """Infrared–visible fusion with modality-aware attention and a pixel-wise α-blending head."""

    def __init__(self, config: FusionNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or FusionNetConfig()
        c = self.config.channels
        self.encoder_ir = _encoder(c, self.config.dilations)
        self.encoder_vi = _encoder(c, self.config.dilations)
        self.attention = ModalityAttention(c)
        self.head = nn.Sequential(
            nn.Conv2d(2 * c, c, kernel_size=3, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(c, 3, kernel_size=1),  # [α logit, IR gain logit, VI gain logit]
        )
        with torch.no_grad():  # start as a plain average with weak sharpening
            last = self.head[-1]
            assert isinstance(last, nn.Conv2d) and last.bias is not None
            last.weight.mul_(0.1)
            last.bias.copy_(torch.tensor([0.0, -2.0, -2.0]))

    @property
    def features_channels(self) -> int:
        """Channels of the fused feature map exposed by :meth:`features` (for SSVIF heads)."""
        return 2 * self.config.channels

    def features(self, ir: torch.Tensor, vi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Low-resolution stage: (ir_low, vi_low, fused features (B, 2C, h, w), attention spatial weights)."""
        s = self.config.scale
        ir_low, vi_low = downsample(ir, s), downsample(vi, s)
        att = self.attention(self.encoder_ir(ir_low), self.encoder_vi(vi_low))
        return ir_low, vi_low, torch.cat((att.ir, att.vi), dim=1), att.spatial

    def forward(self, ir: torch.Tensor, vi: torch.Tensor) -> FusionOutput:
        cfg = self.config
        ir_low, vi_low, feats, spatial = self.features(ir, vi)
        logits = self.head(feats)  # (B, 3, h, w)
        alpha_low = torch.sigmoid(logits[:, 0:1])
        gains = torch.sigmoid(logits[:, 1:3]) * cfg.max_detail_gain

        if cfg.scale == 1:
            alpha = alpha_low
        elif cfg.upsample == "guided":
            # The guide is (IR + VI) / 2; its 1/2 is applied at low resolution (high_scale), one full-res pass less.
            guide_low = 0.5 * (ir_low + vi_low)
            alpha = fast_guided_upsample(alpha_low, guide_low, ir + vi, cfg.guided_radius, cfg.guided_eps,
                                         high_scale=0.5).clamp(0.0, 1.0)
        else:
            alpha = upsample_to(alpha_low, ir)

        # The full-resolution tail is memory-bound (each pass reads and writes whole frames), so it is written
        # with as few passes as the arithmetic allows: α·IR + (1 − α)·VI as VI + α·(IR − VI), and each gain
        # upsampled from its own low-resolution channel rather than sliced out of a full-resolution pair.
        fused = vi + alpha * (ir - vi)
        if cfg.detail_residual:
            r = cfg.detail_kernel // 2
            gain_ir, gain_vi = gains[:, 0:1], gains[:, 1:2]
            if cfg.scale > 1:
                gain_ir, gain_vi = upsample_to(gain_ir, ir), upsample_to(gain_vi, ir)
            fused = fused + gain_ir * (ir - box_filter(ir, r)) + gain_vi * (vi - box_filter(vi, r))
        fused = fused.clamp(0.0, 1.0)
        if cfg.pyramid_gains:
            fused = detail_transfer(fused, ir, vi, cfg.pyramid_gains).clamp(0.0, 1.0)
        fused = apply_tone(fused, ir, vi, cfg.sum_mix, cfg.contrast_gain)
        fused, alpha = apply_hot_target(fused, alpha, ir, ir_low, cfg.hot_target, cfg.hot_target_threshold,
                                        cfg.hot_target_ramp)
        return FusionOutput(fused, alpha, spatial, gains)


def with_fixed_stages(model: FusionNet, **stages: Any) -> FusionNet:
    """A new FusionNet with ``model``'s weights and the fixed stages named in ``stages`` set (detail transfer, tone,
    hot targets: :data:`~fusion_core.model.config.FIXED_STAGE_FIELDS`), in ``model``'s train/eval mode.

    Only those fields: they are numbers applied after the network, so any weights fit them; any other field would
    change what the weights mean, and is refused."""
    other = sorted(set(stages) - set(FIXED_STAGE_FIELDS))
    if other:
        raise ConfigError(f"{other} are not fixed stages ({', '.join(FIXED_STAGE_FIELDS)}): the weights depend on them")
    staged = FusionNet(dataclasses.replace(model.config, **stages))
    staged.load_state_dict(model.state_dict())
    return staged.train(model.training)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: FusionNet, height: int, width: int) -> int:
    """Multiply–accumulates of the convolutions and linear layers for one (height × width) pair.

    Element-wise work (pooling, the guided filter, the blend) is not included; it is O(H·W) with a
    small constant and is visible in the measured timings instead.
    """
    macs = 0

    def conv_hook(mod: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            macs += out.numel() * k
        elif isinstance(mod, nn.Linear):
            macs += out.numel() * mod.in_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            x = torch.zeros(1, 1, height, width)
            model(x, x)
    finally:
        for h in hooks:
            h.remove()
    return macs
