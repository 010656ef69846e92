"""Photometric augmentation of training crops: what real cameras do to the same scene from frame to frame.

A thermal core's automatic gain control (AGC) rescales and shifts its 8-bit output whenever the scene's
temperature range changes; a visible camera's auto-exposure changes brightness and, with its tone curve, the
mid-tones; both add sensor noise and lose focus. The datasets are single, well-exposed frames, so a model
trained on them sees none of this. Each crop is therefore given, independently per camera:

* thermal: gain (log-uniform in ``thermal_gain``) and offset (uniform in ±``thermal_offset`` of full scale),
  the AGC's two numbers;
* visible: exposure gain (log-uniform in ``visible_gain``; scales luminance and chroma about grey, as a gain
  on the RGB values does) and a gamma on luminance (log-uniform in ``visible_gamma``);
* both: Gaussian noise of σ uniform in [0, ``noise``] (of full scale), and with probability ``blur`` a
  Gaussian blur of σ uniform in [0.5, 1.5] crop pixels.

Values are clipped to [0, 1] afterwards, as a camera saturates. The fusion losses are computed on the
augmented inputs, so the model learns to fuse whatever the cameras deliver, not a fixed exposure.

The defaults are the identity, and an identity config draws no random numbers, so every run configured
before this module existed reproduces sample for sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from fusion_core.errors import ConfigError

BLUR_SIGMA = (0.5, 1.5)  # crop pixels: from slightly soft to clearly out of focus at the crops' scale


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the photometric augmentation (see the module docstring); defaults = off."""

    thermal_gain: tuple[float, float] = (1.0, 1.0)
    thermal_offset: float = 0.0
    visible_gain: tuple[float, float] = (1.0, 1.0)
    visible_gamma: tuple[float, float] = (1.0, 1.0)
    noise: float = 0.0
    blur: float = 0.0

    def __post_init__(self) -> None:
        for name in ("thermal_gain", "visible_gain", "visible_gamma"):
            low, high = getattr(self, name)
            if not 0.0 < low <= high:
                raise ConfigError(f"data.augment.{name} must be [low, high] with 0 < low <= high, got {[low, high]}")
        if not 0.0 <= self.thermal_offset <= 0.5:
            raise ConfigError(f"data.augment.thermal_offset must be in [0, 0.5] (of full scale), got {self.thermal_offset}")
        if not 0.0 <= self.noise <= 0.2:
            raise ConfigError(f"data.augment.noise must be in [0, 0.2] (σ, of full scale), got {self.noise}")
        if not 0.0 <= self.blur <= 1.0:
            raise ConfigError(f"data.augment.blur is a probability in [0, 1], got {self.blur}")

    @property
    def active(self) -> bool:
        identity = AugmentConfig()
        return self != identity


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return float(np.exp(rng.uniform(np.log(low), np.log(high)))) if high > low else float(low)


def _noise_and_blur(image: torch.Tensor, config: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """``image`` (H, W) with the sensor noise and the focus loss of :class:`AugmentConfig`."""
    if config.blur > 0 and rng.random() < config.blur:
        sigma = float(rng.uniform(*BLUR_SIGMA))
        image = torch.from_numpy(cv2.GaussianBlur(image.numpy(), (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101))
    if config.noise > 0:
        sigma = float(rng.uniform(0.0, config.noise))
        image = image + sigma * torch.from_numpy(rng.standard_normal(image.shape).astype(np.float32))
    return image


def augment(ir: torch.Tensor, vi_ycc: torch.Tensor, config: AugmentConfig,
            rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One crop's cameras, changed as :class:`AugmentConfig` says.

    ``ir``: (H, W) float32 in [0, 1]; ``vi_ycc``: (H, W, 3) float32 YCbCr in [0, 1] (chroma centred on 0.5).
    Returns new tensors of the same shapes; the inputs themselves are returned when ``config`` is the
    identity (no random number is drawn then)."""
    if not config.active:
        return ir, vi_ycc
    gain = _log_uniform(rng, config.thermal_gain)
    offset = float(rng.uniform(-config.thermal_offset, config.thermal_offset)) if config.thermal_offset > 0 else 0.0
    if (gain, offset) != (1.0, 0.0):
        ir = ir * gain + offset
    ir = _noise_and_blur(ir, config, rng).clamp(0.0, 1.0)
    exposure = _log_uniform(rng, config.visible_gain)
    gamma = _log_uniform(rng, config.visible_gamma)
    y, chroma = vi_ycc[..., 0], vi_ycc[..., 1:]
    if exposure != 1.0:
        y = (y * exposure).clamp(0.0, 1.0)
        chroma = (0.5 + (chroma - 0.5) * exposure).clamp(0.0, 1.0)
    if gamma != 1.0:
        y = y ** gamma
    y = _noise_and_blur(y.contiguous(), config, rng).clamp(0.0, 1.0)
    return ir.contiguous(), torch.cat((y[..., None], chroma), dim=-1)
