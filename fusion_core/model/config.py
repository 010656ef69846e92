"""FusionNetConfig: every architectural choice of FusionNet, saved inside checkpoints and ONNX files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError

UPSAMPLERS = ("guided", "bilinear")


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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
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
        return cls(**data)
