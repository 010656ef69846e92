"""Bringing the thermal frame into the visible camera's pixel grid before fusion.

* A 3×3 homography ``H`` (row-major, 9 numbers) maps thermal pixel coordinates to visible pixel
  coordinates, the same convention as ``cv2.warpPerspective(thermal, H, visible_size)``. Pixels
  that fall outside the thermal image become 0.
* Without a homography, a thermal frame of another size is resized to the visible size when
  ``allow_resize`` is set and the aspect ratios agree within ``max_aspect_change``; otherwise the pair
  cannot be registered and :class:`~fusion_core.errors.InputError` is raised.

Everything is torch, so the warp runs on the GPU when the frame is there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import ConfigError, InputError


@dataclass(frozen=True)
class RegistrationConfig:
    """How thermal is aligned to visible; the default assumes pre-registered, same-size pairs."""

    homography: tuple[float, ...] | None = None
    allow_resize: bool = True
    max_aspect_change: float = 0.1

    def __post_init__(self) -> None:
        if self.homography is not None:
            if len(self.homography) != 9:
                raise ConfigError(f"homography needs 9 numbers (row-major 3x3), got {len(self.homography)}")
            mat = torch.tensor(self.homography, dtype=torch.float64).reshape(3, 3)
            if abs(float(torch.linalg.det(mat))) < 1e-12:
                raise ConfigError("homography is singular (determinant 0)")
        if self.max_aspect_change < 0:
            raise ConfigError(f"max_aspect_change must be >= 0, got {self.max_aspect_change}")

    @property
    def is_identity(self) -> bool:
        return self.homography is None or tuple(self.homography) == (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)


class Registrar:
    """Applies a :class:`RegistrationConfig`; caches the warp grid per (sizes, device)."""

    def __init__(self, config: RegistrationConfig | None = None) -> None:
        self.config = config or RegistrationConfig()
        self._grids: dict[tuple, torch.Tensor] = {}

    def __call__(self, thermal: torch.Tensor, visible_hw: tuple[int, int]) -> torch.Tensor:
        """(Ht, Wt) float thermal -> (H, W) thermal in the visible frame."""
        cfg = self.config
        th, tw = thermal.shape
        h, w = visible_hw
        if not cfg.is_identity:
            grid = self._grid((th, tw), (h, w), thermal.device)
            warped = F.grid_sample(thermal[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            return warped[0, 0]
        if (th, tw) == (h, w):
            return thermal
        aspect_change = abs((tw / th) / (w / h) - 1.0)
        if not cfg.allow_resize or aspect_change > cfg.max_aspect_change:
            raise InputError(
                f"thermal {tw}x{th} and visible {w}x{h} differ in size and cannot be registered"
                + (" (resizing is disabled)" if not cfg.allow_resize else f" by resizing (aspect ratios differ by {aspect_change:.0%})")
                + "; give a homography"
            )
        resized = F.interpolate(thermal[None, None], size=(h, w), mode="bilinear", align_corners=False, antialias=th > h or tw > w)
        return resized[0, 0]

    def _grid(self, thermal_hw: tuple[int, int], visible_hw: tuple[int, int], device: torch.device) -> torch.Tensor:
        key = (thermal_hw, visible_hw, str(device))
        if key not in self._grids:
            assert self.config.homography is not None
            (th, tw), (h, w) = thermal_hw, visible_hw
            inv = torch.linalg.inv(torch.tensor(self.config.homography, dtype=torch.float64).reshape(3, 3))
            ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
            pts = torch.stack((xs, ys, torch.ones_like(xs)), dim=-1) @ inv.T  # (H, W, 3) thermal homogeneous coords
            src = pts[..., :2] / pts[..., 2:3]
            # grid_sample wants [-1, 1] with align_corners=True: -1 = pixel 0, +1 = last pixel.
            gx = src[..., 0] / max(tw - 1, 1) * 2 - 1
            gy = src[..., 1] / max(th - 1, 1) * 2 - 1
            self._grids[key] = torch.stack((gx, gy), dim=-1)[None].float().to(device)
        return self._grids[key]
