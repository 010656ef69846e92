"""Realistic capture timing for two free-running cameras: stamps, receive times and dropped frames.

Frame ``i`` of a camera is exposed at ``start + i/rate + phase + jitter`` (header stamp) and reaches the
recorder ``transport`` later (the bag's log time). The two cameras are not hardware-synchronised:

* ``phase``: a constant offset of the visible camera against the thermal one, drawn once per bag,
  uniform in ±5 % of the period (±5 ms at 10 Hz);
* ``jitter``: independent per camera and frame, Gaussian with standard deviation ``jitter_ms``,
  clipped to ±3σ and to ±40 % of the period so a camera's stamps stay in order;
* ``transport``: stamp-to-log delay, 3 ± 1 ms for the thermal camera and 5 ± 1 ms for the visible one
  (a colour frame is larger), uniform;
* drops: each frame of each camera is lost independently with probability ``drop_prob``.

Everything is drawn from one ``numpy`` generator seeded with ``seed``, so a bag is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

CAMERAS = ("thermal", "visible")
DEFAULT_START_NS = 1_717_243_200_000_000_000  # 2024-06-01T12:00:00Z: plausible wall-clock stamps, reproducible
_TRANSPORT_MS = {"thermal": 3.0, "visible": 5.0}


@dataclass(frozen=True)
class Capture:
    """One camera message: frame index, header stamp (ns), log time (ns)."""

    camera: str
    index: int
    stamp_ns: int
    log_ns: int


@dataclass(frozen=True)
class Schedule:
    """The messages of a bag in log-time order, and the (camera, index) frames that were dropped."""

    captures: list[Capture]
    dropped: list[tuple[str, int]]
    phase_ns: int


def check_timing(rate: float, jitter_ms: float, drop_prob: float) -> None:
    """ConfigError naming the bad setting and its valid range."""
    if not rate > 0 or not np.isfinite(rate):
        raise ConfigError(f"rate must be > 0 Hz, got {rate}")
    if not 0.0 <= jitter_ms < 1e6:
        raise ConfigError(f"jitter must be >= 0 ms, got {jitter_ms}")
    if not 0.0 <= drop_prob < 1.0:
        raise ConfigError(f"drop probability must lie in [0, 1), got {drop_prob}")


def make_schedule(n: int, rate: float, jitter_ms: float = 0.0, drop_prob: float = 0.0, seed: int = 0,
                  start_ns: int = DEFAULT_START_NS) -> Schedule:
    """The capture timing of ``n`` frame pairs (see the module docstring for the model)."""
    check_timing(rate, jitter_ms, drop_prob)
    if n < 1:
        raise ConfigError(f"a bag needs at least one frame pair, got {n}")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    last_s = (start_ns + n / rate * 1e9) / 1e9 + 1.0
    if last_s >= 2**31:  # builtin_interfaces/Time holds int32 seconds
        raise ConfigError(f"{n} pair(s) at {rate} Hz from {start_ns / 1e9:.0f} s run past the largest ROS time "
                          f"(2^31 s); raise the rate")
    rng = np.random.default_rng(seed)
    period_ms = 1000.0 / rate
    phase_ms = {"thermal": 0.0, "visible": float(rng.uniform(-0.05, 0.05) * period_ms)}
    bound_ms = min(3.0 * jitter_ms, 0.4 * period_ms)
    captures: list[Capture] = []
    dropped: list[tuple[str, int]] = []
    base_ms = np.arange(n) * period_ms  # (n,)
    for camera in CAMERAS:
        jitter = np.clip(rng.normal(0.0, jitter_ms, n), -bound_ms, bound_ms) if jitter_ms > 0 else np.zeros(n)
        transport = _TRANSPORT_MS[camera] + rng.uniform(-1.0, 1.0, n)
        lost = rng.random(n) < drop_prob
        stamp_ms = base_ms + phase_ms[camera] + jitter
        for i in range(n):
            if lost[i]:
                dropped.append((camera, i))
                continue
            stamp = start_ns + round(stamp_ms[i] * 1e6)
            captures.append(Capture(camera, i, stamp, stamp + round(transport[i] * 1e6)))
    captures.sort(key=lambda c: (c.log_ns, c.camera))
    return Schedule(captures, sorted(dropped, key=lambda d: (d[1], d[0])), round(phase_ms["visible"] * 1e6))
