"""Temporal stability of a fused sequence: flicker of the output and of α, the lag of α, test sequences.

Fused flicker (grey levels, 0–255 luminance, per frame pair t−1 → t). A temporally consistent
fusion can only change where its inputs changed, and by no more than they did: if every pixel is a
fixed convex combination ``F = w·IR + (1−w)·VI`` (w ∈ [0, 1] constant in time), then
``ΔF = w·ΔIR + (1−w)·ΔVI`` lies between ΔIR and ΔVI. So the flicker of a frame is the mean distance
of ΔF from that interval::

    r = max(ΔF − max(ΔIR, ΔVI), 0) + max(min(ΔIR, ΔVI) − ΔF, 0)        per pixel
    flicker_t = mean(r)

It is 0 for unchanged inputs and unchanged output, 0 for *any* time-constant per-pixel convex
blend whatever the inputs do, and grows with output jitter the inputs do not explain (a weight that
moves between frames, a detail gain that flips). It is not fooled by real scene change (a moving
target changes IR and so widens the interval). It does charge what no convex blend does: sharpening
or contrast stretching that amplifies an input change (a gain > 1 on ΔIR) counts as flicker beyond
the amplification. Plain ``mean|ΔF|`` is returned by :func:`temporal_change` for context.
``slack`` widens the interval by that many grey levels on each side: an 8-bit output is rounded by
up to ±0.5 in each frame, so ΔF of a perfect blend stored as uint8 strays up to 1 grey level outside
it, and ``slack=1`` makes the measure 0 for such a blend (jitter under one grey level is invisible).

α flicker: mean |α_t − α_{t−1}| with α in [0, 1] (IR weight; divide the engine's uint8 α by 255).

α lag: a hot target moving at a known velocity should move α's response with it. :func:`alpha_lag`
takes α maps with the target and without it (same frames, same engine settings), locates the
centroid of the positive excess ``max(α − α_background, 0)`` and returns, per frame, how far that
centroid trails the target's true position along the motion, in frames (distance / speed).

:func:`synthetic_sequence` builds deterministic test sequences from one real pair when no real
consecutive frames are at hand: thermal AGC-like gain/offset steps, sensor noise, a sub-pixel camera
drift shared by both cameras (they are a registered rig), and an optional hot blob moving across.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import ConfigError, InputError
from ._checks import as_luminance, check_same_shape


def _stack(frames: Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    """Validated 0–255 float64 (H, W) frames, at least two, all one shape."""
    if len(frames) < 2:
        raise InputError(f"{name} needs at least 2 frames to measure change, got {len(frames)}")
    out = [as_luminance(f, f"{name}[{i}]") for i, f in enumerate(frames)]
    check_same_shape(**{f"{name}[{i}]": f for i, f in enumerate(out)})
    return out


def _sources(fused: Sequence[np.ndarray], ir: Sequence[np.ndarray], vi: Sequence[np.ndarray]) -> tuple[list, list, list]:
    if not len(fused) == len(ir) == len(vi):
        raise InputError(f"fused, ir and vi must have as many frames, got {len(fused)}, {len(ir)}, {len(vi)}")
    f, a, b = _stack(fused, "fused"), _stack(ir, "ir"), _stack(vi, "vi")
    check_same_shape(fused=f[0], ir=a[0], vi=b[0])
    return f, a, b


def fused_flicker(fused: Sequence[np.ndarray], ir: Sequence[np.ndarray], vi: Sequence[np.ndarray],
                  slack: float = 0.0) -> np.ndarray:
    """(T−1,) flicker per frame pair, grey levels: ΔF's mean distance outside [min(ΔIR, ΔVI), max(ΔIR, ΔVI)].

    ``fused``, ``ir``, ``vi``: T registered (H, W) luminance frames each, 0–255; ``slack`` >= 0 grey
    levels widens the interval on each side (1.0 for uint8 outputs; see the module docstring)."""
    if not slack >= 0.0:
        raise ConfigError(f"flicker slack must be >= 0 grey levels, got {slack}")
    f, a, b = _sources(fused, ir, vi)
    out = np.empty(len(f) - 1)
    for t in range(1, len(f)):
        d_f, d_a, d_b = f[t] - f[t - 1], a[t] - a[t - 1], b[t] - b[t - 1]
        hi, lo = np.maximum(d_a, d_b) + slack, np.minimum(d_a, d_b) - slack
        out[t - 1] = float(np.mean(np.maximum(d_f - hi, 0.0) + np.maximum(lo - d_f, 0.0)))
    return out


def temporal_change(frames: Sequence[np.ndarray]) -> np.ndarray:
    """(T−1,) mean |frame_t − frame_{t−1}| in grey levels (0–255 luminance frames)."""
    f = _stack(frames, "frames")
    return np.array([float(np.mean(np.abs(f[t] - f[t - 1]))) for t in range(1, len(f))])


def _alphas(alphas: Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    out = []
    for i, a in enumerate(alphas):
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            raise InputError(f"{name}[{i}] must be a float array in [0, 1] (divide the engine's uint8 alpha by 255), "
                             f"got {getattr(a, 'dtype', type(a).__name__)}")
        if a.ndim != 2 or not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0:
            raise InputError(f"{name}[{i}] must be a finite (H, W) map in [0, 1], got shape {a.shape}")
        out.append(a.astype(np.float64))
    if len(out) < 2:
        raise InputError(f"{name} needs at least 2 frames to measure change, got {len(out)}")
    check_same_shape(**{f"{name}[{i}]": a for i, a in enumerate(out)})
    return out


def alpha_flicker(alphas: Sequence[np.ndarray]) -> np.ndarray:
    """(T−1,) mean |α_t − α_{t−1}| per frame pair; α (H, W) float in [0, 1]."""
    a = _alphas(alphas, "alpha")
    return np.array([float(np.mean(np.abs(a[t] - a[t - 1]))) for t in range(1, len(a))])


def alpha_lag(alphas: Sequence[np.ndarray], background: Sequence[np.ndarray], positions: Sequence[tuple[float, float]],
              velocity: tuple[float, float], reach: float | None = None) -> np.ndarray:
    """(T,) how many frames α's response trails a moving target, per frame (positive = behind).

    ``alphas``: α with the target, ``background``: α of the same frames without it (both [0, 1]);
    ``positions``: the target's true (x, y) centre per frame, pixels; ``velocity``: (vx, vy) px/frame,
    not zero. The response is ``max(α − background, 0)``, only within ``reach`` px of the target when
    given (a network with global context shifts α slightly everywhere when a target appears, which
    would pull the centroid towards the image centre); make ``reach`` several frames of motion wide, or
    the window itself hides the lag. Returns the centroid's distance behind the target along the
    motion, divided by the speed; NaN for a frame with no response."""
    a, bg = _alphas(alphas, "alphas"), _alphas(background, "background")
    if not len(a) == len(bg) == len(positions):
        raise InputError(f"alphas, background and positions must have as many frames, got {len(a)}, {len(bg)}, {len(positions)}")
    speed = float(np.hypot(*velocity))
    if speed == 0.0:
        raise ConfigError("alpha_lag needs a moving target: velocity (0, 0) has no direction")
    ux, uy = velocity[0] / speed, velocity[1] / speed
    ys, xs = np.mgrid[0:a[0].shape[0], 0:a[0].shape[1]]
    lags = np.full(len(a), np.nan)
    for t, (cur, ref) in enumerate(zip(a, bg)):
        excess = np.maximum(cur - ref, 0.0)
        if reach is not None:
            excess[np.hypot(xs - positions[t][0], ys - positions[t][1]) > reach] = 0.0
        total = excess.sum()
        if total > 0:
            cx, cy = (excess * xs).sum() / total, (excess * ys).sum() / total
            lags[t] = ((positions[t][0] - cx) * ux + (positions[t][1] - cy) * uy) / speed
    return lags


def paste_hot_blob(thermal: np.ndarray, centre: tuple[float, float], radius: float, peak: float = 250.0) -> np.ndarray:
    """A uint8 thermal frame with a hot disc (soft 1-px edge) at ``centre`` (x, y), pixels: max(thermal, disc)."""
    ys, xs = np.mgrid[0:thermal.shape[0], 0:thermal.shape[1]]
    inside = np.clip(radius + 0.5 - np.hypot(xs - centre[0], ys - centre[1]), 0.0, 1.0)  # 1 inside, ramp at the rim
    return np.maximum(thermal.astype(np.float64), peak * inside).round().clip(0, 255).astype(np.uint8)


def synthetic_sequence(thermal: np.ndarray, visible: np.ndarray, frames: int, seed: int = 0, noise: float = 2.0,
                       drift: float = 0.3, gain_every: int = 8, gain_range: float = 0.12,
                       offset_range: float = 10.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``frames`` (thermal uint8 (H, W), visible uint8 like ``visible``) pairs made from one real pair.

    Per frame: both images shifted by the same camera drift (a random walk, steps uniform in
    ±``drift`` px per axis, bilinear, borders replicated); thermal AGC steps every ``gain_every``
    frames to a new gain in 1 ± ``gain_range`` and offset in ±``offset_range`` grey levels; Gaussian
    noise of σ = ``noise`` grey levels on both; rounded to uint8. Deterministic for a ``seed``."""
    if frames < 1 or gain_every < 1:
        raise ConfigError(f"frames and gain_every must be >= 1, got {frames}, {gain_every}")
    rng = np.random.default_rng(seed)
    h, w = thermal.shape[:2]
    shift = np.zeros(2)
    gain, offset = 1.0, 0.0
    out = []
    for t in range(frames):
        if t > 0:
            shift += rng.uniform(-drift, drift, 2)
        if t > 0 and t % gain_every == 0:
            gain, offset = 1.0 + rng.uniform(-gain_range, gain_range), rng.uniform(-offset_range, offset_range)
        m = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
        moved = [cv2.warpAffine(img.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                 for img in (thermal, visible)]
        th = moved[0] * gain + offset + rng.normal(0.0, noise, moved[0].shape)
        vi = moved[1] + rng.normal(0.0, noise, moved[1].shape)
        out.append((np.clip(np.round(th), 0, 255).astype(np.uint8), np.clip(np.round(vi), 0, 255).astype(np.uint8)))
    return out
