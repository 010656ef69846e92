"""Thermal normalisation: any thermal frame (uint8, uint16 raw/radiometric counts, float) -> float [0, 1].

Two policies:

* ``fixed``: a linear map of ``[low, high]`` (in the input's own units: counts for integer images,
  whatever the float image holds) to ``[0, 1]``, clipped. With ``low``/``high`` unset the input
  dtype's full range is used (uint8 0–255, uint16 0–65535, float 0–1), so 8-bit thermal passes
  through exactly as ``x / 255``.
* ``percentile``: automatic gain control for streams. The ``p_low``/``p_high`` percentiles of each
  frame are smoothed over time with an exponential moving average (``smoothing`` = weight of the
  previous bounds, 0 = no memory), so video does not flicker when a hot object enters the view.

The normaliser is stateful only under ``percentile``; call :meth:`ThermalNormalizer.reset` between
unrelated sequences.

Invalid pixels. A float frame may hold NaN or ±inf (dead pixels, a driver's "no data"). The caller
passes them as an ``invalid`` mask: they never enter the percentiles or the smoothed state, and they
come out as :data:`INVALID_FILL` so nothing downstream sees a non-finite value. Bounds that are not
finite (no usable pixel, an overflowing range) raise :class:`~fusion_core.errors.InputError` before
the state is touched, so one bad frame never poisons the frames after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .errors import ConfigError, InputError

POLICIES = ("fixed", "percentile")

# Normalised thermal at invalid pixels: "no thermal signal", the same value registration's warp puts
# outside the thermal image. The engine forces alpha = 0 there anyway; the fill only keeps the
# network's inputs finite, and 0 leans its neighbourhood towards the visible image as well.
INVALID_FILL = 0.0

_DTYPE_RANGE = {np.dtype(np.uint8): (0.0, 255.0), np.dtype(np.uint16): (0.0, 65535.0)}


@dataclass(frozen=True)
class ThermalNormConfig:
    """How raw thermal values become [0, 1] intensities (see the module docstring)."""

    policy: str = "fixed"
    low: float | None = None
    high: float | None = None
    p_low: float = 1.0
    p_high: float = 99.0
    smoothing: float = 0.9

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ConfigError(f"thermal policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        if (self.low is None) != (self.high is None):
            raise ConfigError("thermal low and high must be given together (or neither)")
        if self.low is not None and self.high is not None and not self.high > self.low:
            raise ConfigError(f"thermal high ({self.high}) must be greater than low ({self.low})")
        if not 0.0 <= self.p_low < self.p_high <= 100.0:
            raise ConfigError(f"thermal percentiles need 0 <= p_low < p_high <= 100, got {self.p_low}, {self.p_high}")
        if not 0.0 <= self.smoothing < 1.0:
            raise ConfigError(f"thermal smoothing must lie in [0, 1), got {self.smoothing}")


def dtype_range(dtype: np.dtype) -> tuple[float, float]:
    """The value range a thermal image of this dtype is assumed to span under ``fixed`` without bounds."""
    dtype = np.dtype(dtype)
    if dtype in _DTYPE_RANGE:
        return _DTYPE_RANGE[dtype]
    if dtype.kind == "f":
        return (0.0, 1.0)
    raise ConfigError(f"thermal dtype {dtype} is not supported; use uint8, uint16 or float")


# ``fixed`` without a range wastes a frame when its 1st-99th percentile span covers less than this share of the
# dtype's range (a 16-bit core's counts: e.g. 21000-24000 of 0-65535 is 4.6 %), or when more than half of its
# pixels lie outside that range (a float camera in kelvin or degrees Celsius against 0-1).
NARROW_SHARE = 0.10


def range_warning(thermal: np.ndarray, config: ThermalNormConfig) -> str | None:
    """Why ``config`` maps this frame to a nearly flat thermal image, or None when it does not.

    Only ``fixed`` normalisation with no range set and a 16-bit or float frame can: 8-bit thermal cameras use their
    whole range (x / 255 is exact), the percentile AGC and a given range adapt by construction. Why it matters: the
    shipped default (``fixed``, the dtype's full range) suits 8-bit cameras, but a 16-bit core's counts fill a few
    percent of 0-65535, so its side of the fusion is nearly black without a word; the callers (fusion_node, ``ivif
    fuse``) say so with the measured span and their own way to set a range. Costs a percentile of a 1/16
    subsample (< 1 ms at 640x512)."""
    dtype = np.dtype(thermal.dtype)
    if config.policy != "fixed" or config.low is not None or dtype == np.uint8 or thermal.ndim != 2:
        return None
    sample = np.asarray(thermal[::4, ::4], dtype=np.float64).reshape(-1)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return None
    full_low, full_high = dtype_range(dtype)
    p1, p99 = (float(v) for v in np.percentile(sample, [1.0, 99.0]))
    outside = float(np.mean((sample < full_low) | (sample > full_high)))
    share = (p99 - p1) / (full_high - full_low)
    if outside <= 0.5 and share >= NARROW_SHARE:
        return None
    why = (f"{outside:.0%} of its pixels lie outside" if outside > 0.5 else f"that is {share:.1%} of")
    return (f"{dtype} thermal frames span {p1:.6g} to {p99:.6g} (1st-99th percentile); {why} the range "
            f"{full_low:g}-{full_high:g} that the fixed policy maps to 0-1 when no range is set, so the thermal side of "
            f"the fusion is {'clipped' if outside > 0.5 else 'nearly'} flat")


class ThermalNormalizer:
    """Applies a :class:`ThermalNormConfig` to single frames, keeping the AGC state between frames."""

    def __init__(self, config: ThermalNormConfig | None = None) -> None:
        self.config = config or ThermalNormConfig()
        self._bounds: tuple[float, float] | None = None
        self.applied: tuple[float, float] | None = None  # the (low, high) source values the last frame was mapped by

    def reset(self) -> None:
        """Forget the smoothed percentile bounds and the last applied range (start of a new sequence)."""
        self._bounds = None
        self.applied = None

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The smoothed percentile bounds (source units) after the last frame; None before the first."""
        return self._bounds

    def __call__(self, thermal: torch.Tensor, source_dtype: np.dtype, invalid: torch.Tensor | None = None) -> torch.Tensor:
        """(H, W) float tensor in source units -> (H, W) float tensor in [0, 1] on the same device.

        ``invalid``: optional (H, W) bool, True at pixels to ignore (non-finite); they are left out of
        the AGC statistics and set to :data:`INVALID_FILL` in the result.
        """
        low, high = self._bounds_for(thermal, source_dtype, invalid)
        self.applied = (low, high)
        scale = 1.0 / max(high - low, 1e-6)
        out = ((thermal - low) * scale).clamp_(0.0, 1.0)
        if invalid is not None:
            out.masked_fill_(invalid, INVALID_FILL)  # NaN survives clamp_; this is where it ends
        return out

    def _bounds_for(self, thermal: torch.Tensor, source_dtype: np.dtype, invalid: torch.Tensor | None) -> tuple[float, float]:
        cfg = self.config
        if cfg.policy == "fixed":
            if cfg.low is not None and cfg.high is not None:
                return cfg.low, cfg.high
            return dtype_range(source_dtype)
        # Percentiles of a strided subsample: the same bounds to well under a grey level, far cheaper.
        sample = thermal[::4, ::4].reshape(-1).float()
        if invalid is not None:
            sample = sample[~invalid[::4, ::4].reshape(-1)]
            if sample.numel() == 0:  # every sampled pixel is invalid: fall back to all valid pixels
                sample = thermal[~invalid].float()
        if sample.numel() == 0:
            raise InputError("thermal frame has no finite pixel; percentile AGC has nothing to measure")
        q = torch.tensor([cfg.p_low / 100.0, cfg.p_high / 100.0], device=sample.device)
        lo, hi = (float(v) for v in torch.quantile(sample, q))
        if hi - lo < 1e-6:  # a flat frame: keep a unit-width window instead of dividing by zero
            hi = lo + 1.0
        if self._bounds is not None and cfg.smoothing > 0.0:
            plo, phi = self._bounds
            lo = cfg.smoothing * plo + (1.0 - cfg.smoothing) * lo
            hi = cfg.smoothing * phi + (1.0 - cfg.smoothing) * hi
        if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(hi - lo)):
            # Checked before the state is updated: a bad frame is dropped, the AGC keeps its memory.
            raise InputError(f"thermal percentile bounds ({lo}, {hi}) are not finite (non-finite pixels not passed as "
                             "invalid?); the frame is refused and the AGC state kept")
        self._bounds = (lo, hi)
        return lo, hi
