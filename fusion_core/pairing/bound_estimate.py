"""Online estimate of an input's inter-message lower bound from the stamps it delivers.

The approximate-time policy can hand out a pair as soon as it can prove that no later frame of the
other input could be a nearer partner; the proof needs a lower bound on the gap between consecutive
stamps of that input. Without one a pair waits for the next frame of the other input (up to one
frame period: 100 ms at 10 Hz). A camera rarely says its rate, but its stamps do: this class keeps
the last ``window`` gaps and offers ``margin`` × the smallest of them.

Why the minimum, scaled down: the estimate must not exceed the true next gap, or the pairer may let
out a pair that a frame arriving sooner than promised would have beaten (the pair is still within
slop, unique and in order — only its optimality is at stake, and the pairer counts the event as a
bound violation). Dropped frames make gaps longer and leave the minimum alone; jitter is absorbed by
``margin``; a rate that goes up is followed at once (the new, shorter gap is the minimum), a rate
that goes down only after ``window`` gaps (a bound that is too small merely costs latency).
"""

from __future__ import annotations

from collections import deque

from ..errors import ConfigError


class InterMessageBoundEstimator:
    """Lower bound (ns) on the next stamp gap of one input, learnt from the stamps seen so far.

    ``window`` (>= 1): recent gaps kept. ``margin`` in (0, 1]: fraction of the smallest gap offered,
    room for stamp jitter (0.8 tolerates ±10 % jitter at a steady rate). ``min_gaps`` (1..window):
    gaps needed before any bound is offered; until then :attr:`bound_ns` is 0 (no bound).
    """

    def __init__(self, window: int = 32, margin: float = 0.8, min_gaps: int = 2) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConfigError(f"lower-bound estimate window must be an integer >= 1 gaps, got {window!r}")
        if not 0.0 < margin <= 1.0:  # also rejects NaN
            raise ConfigError(f"lower-bound estimate margin must be in (0, 1], got {margin!r}")
        if isinstance(min_gaps, bool) or not isinstance(min_gaps, int) or not 1 <= min_gaps <= window:
            raise ConfigError(f"lower-bound estimate min_gaps must be an integer in [1, window={window}], got {min_gaps!r}")
        self.window, self.margin, self.min_gaps = window, float(margin), min_gaps
        self._gaps: deque[int] = deque(maxlen=window)
        self._last: int | None = None

    @property
    def bound_ns(self) -> int:
        """Promised smallest gap (ns) to the next stamp; 0 while fewer than ``min_gaps`` gaps were seen."""
        if len(self._gaps) < self.min_gaps:
            return 0
        return int(self.margin * min(self._gaps))

    def observe(self, stamp_ns: int) -> None:
        """Record the stamp of an accepted item; stamps must increase (the pairer drops others first)."""
        stamp_ns = int(stamp_ns)
        if self._last is not None:
            if stamp_ns <= self._last:
                raise ValueError(f"stamps must increase: {stamp_ns} ns after {self._last} ns")
            self._gaps.append(stamp_ns - self._last)
        self._last = stamp_ns

    def reset(self) -> None:
        """Forget everything (the stamps jumped back; the rate may have changed)."""
        self._gaps.clear()
        self._last = None
