"""The two segmentation branches of SSVIF (self-supervised, no labels).

* :class:`SegHead` reads FusionNet's fused *features* (``FusionNet.features``: (B, 2C, h, w) at
  1/scale resolution).
* :class:`SegNet` reads the fused *image* (B, 1, H, W), area-downsampled by the same ``scale`` so its
  logits land on exactly the same (h, w) grid as the head's.

Both output K-class logits (B, K, h, w). The consistency loss (:mod:`.ssvif`) makes them agree,
which pushes the fused image to keep what the features "know" about the scene's regions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..model.guided import downsample

DEFAULT_CLASSES = 9  # MSRS has 9 semantic classes; with no labels K is just the number of clusters


class SegHead(nn.Module):
    """Small conv head on fused features: (B, in_channels, h, w) -> (B, K, h, w) logits."""

    def __init__(self, in_channels: int, classes: int = DEFAULT_CLASSES, hidden: int = 32) -> None:
        super().__init__()
        self.classes = classes
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(hidden, hidden, kernel_size=3, padding=2, dilation=2),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(hidden, classes, kernel_size=1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1), nn.LeakyReLU(0.1, inplace=True))


class SegNet(nn.Module):
    """Small encoder–decoder on the fused image: (B, 1, H, W) -> (B, K, ceil(H/scale), ceil(W/scale)) logits.

    The input is first area-downsampled by ``scale`` (as FusionNet does), then one stride-2 level
    with a skip connection gives the net a receptive field of about 20 low-res pixels.
    """

    def __init__(self, classes: int = DEFAULT_CLASSES, width: int = 16, scale: int = 4) -> None:
        super().__init__()
        self.classes, self.scale = classes, scale
        self.enc1 = nn.Sequential(_conv(1, width), _conv(width, width))
        self.enc2 = nn.Sequential(_conv(width, 2 * width, stride=2), _conv(2 * width, 2 * width))
        self.dec = _conv(3 * width, width)
        self.out = nn.Conv2d(width, classes, kernel_size=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = downsample(image, self.scale)  # (B, 1, h, w)
        s1 = self.enc1(x)  # (B, W, h, w)
        s2 = self.enc2(s1)  # (B, 2W, h/2, w/2)
        up = F.interpolate(s2, size=s1.shape[-2:], mode="bilinear", align_corners=False)
        return self.out(self.dec(torch.cat((s1, up), dim=1)))  # (B, K, h, w)
