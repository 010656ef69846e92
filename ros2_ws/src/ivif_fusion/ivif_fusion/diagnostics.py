"""Counters, rates, latency percentiles, input silence and the status level for the nodes' /diagnostics
(diagnostic_msgs/DiagnosticArray), and per-kind throttling of the nodes' warnings about dropped frames.

Values are published as strings under stable, machine-readable keys (``rate_thermal_hz``,
``dropped_worker`` …) so tools and tests can parse them.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict, deque
from typing import Any, Callable

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


class InputSilence:
    """Seconds since each named input last delivered a message (since construction before the first).

    ``silent(timeout)`` names the inputs quiet for longer than ``timeout`` seconds, so /diagnostics can
    say "no thermal frames for 3.1 s" instead of reporting OK at 0 Hz.
    """

    def __init__(self, names: tuple[str, ...], clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        start = clock()
        self._last = dict.fromkeys(names, start)

    def heard(self, name: str) -> None:
        with self._lock:
            self._last[name] = self._clock()

    def seconds(self) -> dict[str, float]:
        """name -> seconds since its last message (or since construction)."""
        now = self._clock()
        with self._lock:
            return {name: now - last for name, last in self._last.items()}

    def silent(self, timeout: float) -> dict[str, float]:
        """The inputs silent for longer than ``timeout`` s -> their silence, s (in construction order)."""
        return {name: s for name, s in self.seconds().items() if s > timeout}


def summarize(new_errors: int, new_drops: int, silent: dict[str, float], ok_message: str,
              what: str = "frame(s)") -> tuple[str, str]:
    """(level, message) of a status report: 'error' when the worker failed since the last report, else
    'warn' for silent inputs (``{input: seconds}``) and/or drops since the last report, else 'ok' with
    ``ok_message``. Every problem found is named in the message, most severe first."""
    problems: list[str] = []
    if new_errors:
        problems.append(f"{new_errors} error(s) since the last report")
    if silent:
        problems.append(", ".join(f"no {name} frames for {seconds:.1f} s" for name, seconds in silent.items()))
    if new_drops:
        problems.append(f"{new_drops} {what} dropped since the last report")
    if not problems:
        return "ok", ok_message
    return ("error" if new_errors else "warn"), "; ".join(problems)


_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\d+")


def problem_kind(text: str) -> str:
    """A message with its quoted values and numbers blanked: messages that differ only in values (sizes,
    stamps, encodings) share a kind, so they share a log throttle."""
    return _VALUES.sub("#", text)


class ThrottledLog:
    """Log lines throttled per key: rclpy's ``throttle_duration_sec`` is per call site, so one site that
    logs every kind of bad frame would hide a second kind for the whole period. Here each key (a drop
    reason plus :func:`problem_kind` of the message) has its own period, and the line that gets
    through says how many were held back. At most ``max_keys`` keys are remembered (least recently
    logged forgotten first), so odd messages cannot grow it without bound."""

    def __init__(self, logger, period: float, max_keys: int = 64, clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self.period = period
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, tuple[float, int]] = OrderedDict()  # key -> (last logged, held back since)

    def due(self, key: str) -> int | None:
        """None while ``key`` is throttled (counted as held back), else how many were held back since its last line."""
        now = self._clock()
        with self._lock:
            last, held = self._keys.get(key, (-math.inf, 0))
            if now - last < self.period:
                self._keys[key] = (last, held + 1)
                return None
            self._keys[key] = (now, 0)
            self._keys.move_to_end(key)
            while len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
            return held

    def log(self, level: str, reason: str, text: str) -> bool:
        """Log ``text`` at ``level`` ('warning' | 'error' …) unless its kind under ``reason`` is throttled."""
        held = self.due(f"{reason}: {problem_kind(text)}")
        if held is None:
            return False
        more = f" ({held} more like this since the last one)" if held else ""
        getattr(self._logger, level)(text + more)
        return True


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
