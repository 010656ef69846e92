"""FusionNetConfig: every architectural choice of FusionNet, saved inside checkpoints and ONNX files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError

UPSAMPLERS = ("guided", "bilinear")
# The config fields that are fixed numbers applied after the network, not architecture its weights depend on: a
# checkpoint's weights fit any values of them (training's run.init, scripts/set_fixed_stages.py).
FIXED_STAGE_FIELDS = ("pyramid_gains", "sum_mix", "contrast_gain", "hot_target", "hot_target_threshold", "hot_target_ramp")
MAX_PYRAMID_LEVELS = 6  # a 640-wide frame is 10 pixels wide at the sixth band


@dataclass(frozen=True)
class FusionNetConfig:
    """Architecture of :class:`~fusion_core.model.FusionNet`.

    ``scale`` is the heart of the speed design: encoders, attention and the α head run at
    1/``scale`` of the input resolution, and only the final blend touches every full-resolution
    pixel. ``upsample`` chooses how the low-resolution α returns to full resolution: ``guided``
    (a fast guided filter that snaps α edges to image edges) or plain ``bilinear``.
    """

    channels: int = 16
    scale: int = 4
    dilations: tuple[int, ...] = (1, 2, 4)
    upsample: str = "guided"
    guided_radius: int = 1
    guided_eps: float = 1e-3
    detail_residual: bool = True
    detail_kernel: int = 5
    max_detail_gain: float = 1.0
    # Laplacian detail transfer after the blend (:mod:`fusion_core.model.pyramid`), one gain per band, finest
    # first; () = off (every model before it). Fixed numbers, not weights: set per checkpoint.
    pyramid_gains: tuple[float, ...] = ()
    # Global tone after the blend (:mod:`fusion_core.model.tone`): share of the way towards the sources' sum, and a
    # contrast gain about the image mean; 0 and 1 = off (every model before it). Fixed numbers, not weights.
    sum_mix: float = 0.0
    contrast_gain: float = 1.0
    # Hot targets towards the thermal image (:mod:`fusion_core.model.hot_target`), last: weight (0 = off, every model
    # before it), and how far above its background a thermal pixel starts to (threshold) and fully (+ ramp) count.
    hot_target: float = 0.0
    hot_target_threshold: float = 0.06
    hot_target_ramp: float = 0.05

    def __post_init__(self) -> None:
        if self.channels < 4:
            raise ConfigError(f"channels must be >= 4, got {self.channels}")
        if self.scale < 1:
            raise ConfigError(f"scale must be >= 1, got {self.scale}")
        if not self.dilations or any(d < 1 for d in self.dilations):
            raise ConfigError(f"dilations must be a non-empty list of positive integers, got {self.dilations}")
        if self.upsample not in UPSAMPLERS:
            raise ConfigError(f"upsample {self.upsample!r} is not one of {', '.join(UPSAMPLERS)}")
        if self.guided_radius < 0 or self.guided_eps <= 0:
            raise ConfigError("guided_radius must be >= 0 and guided_eps > 0")
        if self.detail_kernel < 3 or self.detail_kernel % 2 == 0:
            raise ConfigError(f"detail_kernel must be an odd number >= 3, got {self.detail_kernel}")
        if self.max_detail_gain < 0:
            raise ConfigError(f"max_detail_gain must be >= 0, got {self.max_detail_gain}")
        if len(self.pyramid_gains) > MAX_PYRAMID_LEVELS or any(not 0.0 <= g <= 2.0 for g in self.pyramid_gains):
            raise ConfigError(f"pyramid_gains must be at most {MAX_PYRAMID_LEVELS} gains in [0, 2], got {self.pyramid_gains}")
        if not 0.0 <= self.sum_mix <= 1.0:
            raise ConfigError(f"sum_mix must be in [0, 1], got {self.sum_mix}")
        if not 0.5 <= self.contrast_gain <= 2.0:
            raise ConfigError(f"contrast_gain must be in [0.5, 2], got {self.contrast_gain}")
        if not 0.0 <= self.hot_target <= 1.0:
            raise ConfigError(f"hot_target must be in [0, 1], got {self.hot_target}")
        if not 0.0 <= self.hot_target_threshold <= 1.0 or not 0.0 < self.hot_target_ramp <= 1.0:
            raise ConfigError("hot_target_threshold must be in [0, 1] and hot_target_ramp in (0, 1], got "
                              f"{self.hot_target_threshold} and {self.hot_target_ramp}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        d["pyramid_gains"] = list(self.pyramid_gains)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FusionNetConfig":
        """Build from a plain dict (YAML, checkpoint, ONNX metadata); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown FusionNetConfig keys {unknown}; valid keys: {sorted(known)}")
        data = dict(data)
        if "dilations" in data:
            data["dilations"] = tuple(int(d) for d in data["dilations"])
        if "pyramid_gains" in data:
            data["pyramid_gains"] = tuple(float(g) for g in data["pyramid_gains"])
        return cls(**data)
