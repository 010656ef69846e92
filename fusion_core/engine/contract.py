"""The one fusion contract every door (CLI, ROS node, replay) calls, whatever the backend.

``FusionEngine.fuse(thermal, visible)`` takes numpy images in their native dtypes and returns a
:class:`FusionResult`. A backend only supplies a :class:`NetworkRunner`: the function from
(IR Y, visible Y) tensors to (fused Y, α) tensors. Pre- and post-processing are shared torch code
(:mod:`fusion_core.engine.pipeline`), so they run on the GPU with the network when the engine is
on CUDA, and every backend fuses the same pixels the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from ..errors import ConfigError
from ..registration import RegistrationConfig
from ..thermal import ThermalNormConfig

BACKENDS = ("torch", "onnxruntime", "tensorrt")
DEVICES = ("cpu", "cuda")
AUTO = "auto"  # backend/device chosen by create_engine for this machine (fusion_core.engine.auto)
BACKEND_CHOICES = (AUTO,) + BACKENDS
DEVICE_CHOICES = (AUTO,) + DEVICES
PRECISIONS = ("fp32", "fp16")
VISIBLE_ORDERS = ("rgb", "bgr", "rgba", "bgra", "mono")


@dataclass(frozen=True)
class EngineConfig:
    """Everything needed to build a :class:`FusionEngine`.

    ``model_path`` is a checkpoint (``.pt``) for ``torch``, an ONNX file for ``onnxruntime`` and
    ``tensorrt`` (a ``.pt`` is exported on the fly); ``None`` means the shipped default model.
    ``fp16`` needs ``device='cuda'``. ``backend``/``device`` ``'auto'`` (the defaults) are resolved
    once by :func:`~fusion_core.engine.create_engine` (:mod:`fusion_core.engine.auto`).

    ``alpha_smoothing``: weight of the previous frame's α in a motion-aware exponential smoothing of
    α over a stream, [0, 1); 0 (default) = off, every frame fused on its own.
    ``alpha_motion_threshold``: local input change (registered luminance, [0, 1] scale, 5×5 mean) up
    to which a pixel counts as static; smoothing fades out linearly between 1× and 2× this value, so
    moving targets are not smoothed (:mod:`fusion_core.engine.temporal`). (0, 1]; 1 = plain EMA.
    """

    backend: str = AUTO
    model_path: str | None = None
    device: str = AUTO
    precision: str = "fp32"
    thermal: ThermalNormConfig = field(default_factory=ThermalNormConfig)
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    threads: int | None = None
    alpha_smoothing: float = 0.0
    alpha_motion_threshold: float = 0.02

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_CHOICES:
            raise ConfigError(f"backend {self.backend!r} is not one of {', '.join(BACKEND_CHOICES)}")
        if self.device not in DEVICE_CHOICES:
            raise ConfigError(f"device {self.device!r} is not one of {', '.join(DEVICE_CHOICES)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.precision == "fp16" and self.device == "cpu":  # 'auto' is checked once resolved
            raise ConfigError("precision 'fp16' needs device 'cuda'")
        if self.backend == "tensorrt" and self.device == "cpu":
            raise ConfigError("backend 'tensorrt' needs device 'cuda'")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        if not 0.0 <= self.alpha_smoothing < 1.0:
            raise ConfigError(f"alpha_smoothing must lie in [0, 1) (0 = off), got {self.alpha_smoothing}")
        if not 0.0 < self.alpha_motion_threshold <= 1.0:
            raise ConfigError(f"alpha_motion_threshold must lie in (0, 1] (1 = no motion gating), got {self.alpha_motion_threshold}")


@dataclass
class FusionResult:
    """One fused pair, on the host.

    ``fused``: uint8, the visible image's layout (H, W, 3|4) in its channel order, or (H, W) for a
    grey visible. ``alpha``: uint8 (H, W), α·255 (255 = all thermal). ``timings``: milliseconds
    for the stages ``pre``, ``network``, ``post`` and ``total``. ``invalid_thermal``: how many pixels
    of the thermal frame (its own grid) were not finite; where they land, α = 0 and ``fused`` is the
    visible image (see :mod:`fusion_core.engine.validity`). Always 0 for integer thermal.
    ``thermal_coverage``: fraction of the visible pixels fused with valid thermal, [0, 1]: inside the
    thermal camera's footprint (:meth:`~fusion_core.registration.Registrar.footprint`) and not
    reached by an invalid pixel; 1.0 when every pixel is. Elsewhere α = 0 and ``fused`` = visible.
    """

    fused: np.ndarray
    alpha: np.ndarray
    timings: dict[str, float]
    invalid_thermal: int = 0
    thermal_coverage: float = 1.0


class NetworkRunner(Protocol):
    """A backend's network: (1, 1, H, W) float32 [0, 1] tensors on ``device`` -> (fused Y, α), same shape."""

    device: torch.device
    name: str

    def __call__(self, ir_y: torch.Tensor, vi_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...
