"""Bringing the thermal frame into the visible camera's pixel grid before fusion.

* A 3×3 homography ``H`` (row-major, 9 numbers) maps thermal pixel coordinates to visible pixel
  coordinates, the same convention as ``cv2.warpPerspective(thermal, H, visible_size)``. Pixels
  that fall outside the thermal image become 0.
* Without a homography, a thermal frame of another size is resized to the visible size when
  ``allow_resize`` is set and the aspect ratios agree within ``max_aspect_change``; otherwise the pair
  cannot be registered and :class:`~fusion_core.errors.InputError` is raised.

Field of view. A homography can leave part of the visible frame outside the thermal camera's view.
The *footprint* is the set of visible pixels whose thermal value is a measurement. Rule (bilinear,
``align_corners=True``: thermal pixel centres sit at integer coordinates, the image spans the closed
rectangle ``[0, Wt−1] × [0, Ht−1]`` from first to last centre): a visible pixel is *covered* when
its exact source position ``H⁻¹·(x, y, 1)`` (float64, in front of the camera) lies in that closed
rectangle, within ``EDGE_TOLERANCE_PX`` for the float64 rounding of the inverted homography. Any
position beyond it takes weight from the zero padding and is *outside*. A position exactly on the
edge is covered: its sample is the edge pixel (weight 1 on it, 0 beyond); to keep that true after
the grid is rounded to float32, the grid of covered pixels is clamped to ``[-1, 1]``, so a covered
pixel never takes any weight from the padding. Identity, same size and plain resize cover the whole
frame and cost nothing: :meth:`Registrar.outside` returns ``None`` for them (and for a homography
whose footprint contains the whole frame). The engine treats outside pixels like non-finite ones
(:mod:`fusion_core.engine.validity`): α = 0, output = the visible image.

Everything is torch, so the warp runs on the GPU when the frame is there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError, InputError

# Source positions within this distance (thermal pixels) beyond the edge count as on it: the
# inverted homography is exact only to float64 rounding (~1e-13 px at 640 px); 1e-6 px is far
# below anything bilinear interpolation can show (a weight of 1e-6 moves a grey level by 2.6e-4).
EDGE_TOLERANCE_PX = 1e-6


@dataclass(frozen=True)
class RegistrationConfig:
    """How thermal is aligned to visible; the default assumes pre-registered, same-size pairs."""

    homography: tuple[float, ...] | None = None
    allow_resize: bool = True
    max_aspect_change: float = 0.1
    # ((thermal w, h), (visible w, h)) the homography was estimated for (a calibration file records them);
    # a homography maps pixels of those resolutions only, so frames of other sizes are an InputError
    # instead of a silently misaligned fusion. None = not checked.
    calibrated_sizes: tuple[tuple[int, int], tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        if self.calibrated_sizes is not None:
            if self.homography is None:
                raise ConfigError("calibrated_sizes needs a homography (they are the sizes it was estimated for)")
            if len(self.calibrated_sizes) != 2 or any(len(s) != 2 or min(s) < 1 for s in self.calibrated_sizes):
                raise ConfigError(f"calibrated_sizes must be ((thermal w, h), (visible w, h)) in pixels, "
                                  f"got {self.calibrated_sizes}")
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
        """Nothing to warp: no homography, or the identity given without calibrated sizes (the node's default
        parameter). A calibration's identity is a mapping between the sizes it records (thermal pixel (x, y) ->
        visible pixel (x, y), e.g. a small thermal frame in a corner of a larger visible one), warped and
        size-checked like any other homography."""
        return self.homography is None or (self.calibrated_sizes is None and tuple(self.homography) == (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))


@dataclass(frozen=True)
class Footprint:
    """The thermal camera's footprint in the visible frame (see the module docstring for the rule).

    ``covered``: (H, W) bool, True where the thermal value is a measurement. ``coverage``: the
    covered fraction of the visible pixels, [0, 1] (1.0 = full). ``bbox``: (x_min, y_min, x_max,
    y_max) of the covered pixels, inclusive visible pixel indices, ``None`` when nothing is covered.
    """

    covered: np.ndarray
    coverage: float
    bbox: tuple[int, int, int, int] | None

    def outline(self) -> list[tuple[float, float]]:
        """The covered region as a convex polygon, vertices (x, y) in visible pixel indices in order; [] when
        nothing is covered. Why convex, and so exact to a pixel: the region is the thermal frame's rectangle
        mapped by a homography (a convex quadrilateral, for a camera looking forward) clipped to the visible
        rectangle, and both keep convexity. For a downstream node that drops detections outside the thermal
        view, or draws it (rviz)."""
        if self.bbox is None:
            return []
        import cv2

        contours, _ = cv2.findContours(self.covered.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        polygon = cv2.approxPolyDP(cv2.convexHull(np.concatenate(contours)), 1.0, True)
        return [(float(x), float(y)) for x, y in polygon[:, 0]]


@dataclass(frozen=True)
class _Warp:
    grid: torch.Tensor  # (1, H, W, 2) float32 grid_sample coordinates, align_corners=True
    outside: torch.Tensor | None  # (H, W) bool, True outside the footprint; None when all covered
    coverage: float  # covered fraction of the visible frame


class Registrar:
    """Applies a :class:`RegistrationConfig`; caches the warp grid and footprint per (sizes, device)."""

    def __init__(self, config: RegistrationConfig | None = None) -> None:
        self.config = config or RegistrationConfig()
        self._warps: dict[tuple, _Warp] = {}

    def __call__(self, thermal: torch.Tensor, visible_hw: tuple[int, int]) -> torch.Tensor:
        """(Ht, Wt) float thermal -> (H, W) thermal in the visible frame."""
        th, tw = thermal.shape
        h, w = visible_hw
        if not self.config.is_identity:
            self._check_calibrated((th, tw), (h, w))
            grid = self._warp((th, tw), (h, w), thermal.device).grid
            warped = F.grid_sample(thermal[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            return warped[0, 0]
        if (th, tw) == (h, w):
            return thermal
        self._check_resizable((th, tw), (h, w))
        resized = F.interpolate(thermal[None, None], size=(h, w), mode="bilinear", align_corners=False, antialias=th > h or tw > w)
        return resized[0, 0]

    def outside(self, thermal_hw: tuple[int, int], visible_hw: tuple[int, int],
                device: torch.device | str = "cpu") -> torch.Tensor | None:
        """(H, W) bool on ``device``, True at visible pixels outside the thermal footprint; None when none is.

        Cached with the warp grid, so the engine pays for it once per (sizes, homography, device)."""
        if self.config.is_identity:
            if tuple(thermal_hw) != tuple(visible_hw):
                self._check_resizable(thermal_hw, visible_hw)
            return None
        self._check_calibrated(thermal_hw, visible_hw)
        return self._warp(tuple(thermal_hw), tuple(visible_hw), torch.device(device)).outside

    def coverage(self, thermal_hw: tuple[int, int], visible_hw: tuple[int, int]) -> float:
        """Fraction of the visible pixels inside the thermal footprint, [0, 1]; cached, no device sync."""
        if self.outside(thermal_hw, visible_hw) is None:
            return 1.0
        return self._warp(tuple(thermal_hw), tuple(visible_hw), torch.device("cpu")).coverage

    def footprint(self, thermal_hw: tuple[int, int], visible_hw: tuple[int, int]) -> Footprint:
        """The footprint as host data (mask, coverage, bounding box) for reports and diagnostics.

        ``thermal_hw``/``visible_hw``: (height, width) of the two frames. Raises :class:`InputError`
        when the sizes cannot be registered, exactly as fusing such a pair would."""
        h, w = visible_hw
        outside = self.outside(thermal_hw, visible_hw)
        if outside is None:
            return Footprint(np.ones((h, w), bool), 1.0, (0, 0, w - 1, h - 1))
        covered = ~outside.numpy()
        ys, xs = np.nonzero(covered)
        bbox = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())) if ys.size else None
        return Footprint(covered, float(covered.mean()), bbox)

    def _check_calibrated(self, thermal_hw: tuple[int, int], visible_hw: tuple[int, int]) -> None:
        sizes = self.config.calibrated_sizes
        if sizes is None:
            return
        (th, tw), (h, w) = thermal_hw, visible_hw
        (ctw, cth), (cw, ch) = sizes
        if (tw, th, w, h) != (ctw, cth, cw, ch):
            raise InputError(f"the homography was calibrated for thermal {ctw}x{cth} and visible {cw}x{ch}, but this pair "
                             f"is thermal {tw}x{th} and visible {w}x{h}; recalibrate (ivif calibrate) for these resolutions")

    def _check_resizable(self, thermal_hw: tuple[int, int], visible_hw: tuple[int, int]) -> None:
        (th, tw), (h, w) = thermal_hw, visible_hw
        aspect_change = abs((tw / th) / (w / h) - 1.0)
        if not self.config.allow_resize or aspect_change > self.config.max_aspect_change:
            raise InputError(
                f"thermal {tw}x{th} and visible {w}x{h} differ in size and cannot be registered"
                + (" (resizing is disabled)" if not self.config.allow_resize
                   else f" by resizing (aspect ratios differ by {aspect_change:.0%})")
                + "; give a homography"
            )

    def _warp(self, thermal_hw: tuple[int, int], visible_hw: tuple[int, int], device: torch.device) -> _Warp:
        key = (thermal_hw, visible_hw, str(device))
        if key not in self._warps:
            cpu_key = (thermal_hw, visible_hw, "cpu")
            if cpu_key not in self._warps:  # built once on the CPU (float64 maths), copied to other devices
                self._warps[cpu_key] = _build_warp(self.config, thermal_hw, visible_hw)
            cpu = self._warps[cpu_key]
            self._warps[key] = _Warp(cpu.grid.to(device), None if cpu.outside is None else cpu.outside.to(device),
                                     cpu.coverage)
        return self._warps[key]


def _build_warp(config: RegistrationConfig, thermal_hw: tuple[int, int], visible_hw: tuple[int, int]) -> _Warp:
    """The grid and footprint of ``config.homography`` for these sizes, on the CPU."""
    assert config.homography is not None
    (th, tw), (h, w) = thermal_hw, visible_hw
    inv = torch.linalg.inv(torch.tensor(config.homography, dtype=torch.float64).reshape(3, 3))
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    pts = torch.stack((xs, ys, torch.ones_like(xs)), dim=-1) @ inv.T  # (H, W, 3) thermal homogeneous coords
    in_front = pts[..., 2] > 0  # w <= 0: the ray never meets the thermal image plane in front of the camera
    src = pts[..., :2] / torch.where(in_front, pts[..., 2], torch.ones_like(pts[..., 2]))[..., None]  # (H, W, 2) x, y
    tol = EDGE_TOLERANCE_PX
    covered = (in_front & (src[..., 0] >= -tol) & (src[..., 0] <= tw - 1 + tol)
               & (src[..., 1] >= -tol) & (src[..., 1] <= th - 1 + tol))  # (H, W)
    # grid_sample wants [-1, 1] with align_corners=True: -1 = pixel 0, +1 = last pixel.
    grid = torch.stack((src[..., 0] / max(tw - 1, 1) * 2 - 1, src[..., 1] / max(th - 1, 1) * 2 - 1), dim=-1).float()
    grid = torch.where(covered[..., None], grid.clamp(-1.0, 1.0), grid)  # covered: never a weight from the padding
    grid = torch.where(in_front[..., None] & torch.isfinite(grid), grid, torch.full_like(grid, -2.0))  # -> padding 0
    all_covered = bool(covered.all())
    return _Warp(grid[None].contiguous(), None if all_covered else ~covered, float(covered.double().mean()))
