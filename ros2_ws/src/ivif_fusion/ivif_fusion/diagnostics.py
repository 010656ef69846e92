"""Counters, rates and latency percentiles for the nodes' /diagnostics (diagnostic_msgs/DiagnosticArray).

Values are published as strings under stable, machine-readable keys (``rate_thermal_hz``,
``dropped_worker`` …) so tools and tests can parse them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np


class Counters:
    """Thread-safe named counters (callbacks and the worker both count)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(names, 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)


class LatencyWindow:
    """The most recent ``size`` latencies (milliseconds); percentiles over that window."""

    def __init__(self, size: int = 500) -> None:
        self._lock = threading.Lock()
        self._values: deque[float] = deque(maxlen=size)

    def add(self, ms: float) -> None:
        with self._lock:
            self._values.append(ms)

    def percentiles(self, *qs: float) -> list[float]:
        """Percentiles (0–100) of the window; NaN while it is empty."""
        with self._lock:
            values = np.asarray(self._values, dtype=np.float64)
        if values.size == 0:
            return [float("nan")] * len(qs)
        return [float(v) for v in np.percentile(values, qs)]


class RateMeter:
    """Events per second over the interval since the previous :meth:`rates` call, per counter name."""

    def __init__(self) -> None:
        self._last_time = time.monotonic()
        self._last: dict[str, int] = {}

    def rates(self, counts: dict[str, int]) -> dict[str, float]:
        now = time.monotonic()
        dt = max(now - self._last_time, 1e-9)
        rates = {name: (value - self._last.get(name, 0)) / dt for name, value in counts.items()}
        self._last_time, self._last = now, dict(counts)
        return rates


def status_message(node_name: str, component: str, level: str, message: str, values: dict[str, Any], stamp):
    """A DiagnosticArray with one DiagnosticStatus ``"<node>: <component>"`` (level 'ok' | 'warn' | 'error')."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    levels = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR}
    status = DiagnosticStatus(level=levels[level], name=f"{node_name}: {component}", message=message,
                              hardware_id="ivif_fusion")
    status.values = [KeyValue(key=k, value=_fmt(v)) for k, v in values.items()]
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = [status]
    return array


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.3f}"
    return str(value)
