"""Approximate-time pairing of two streams (thermal, visible), shared by the ROS node and offline replay.

The policy is that of ROS ``message_filters.ApproximateTimeSynchronizer`` (the Python class, with
``queue_size`` and ``slop``) for two inputs, re-implemented without ROS so that the live node and
replay of a bag pair exactly the same frames. Per call of :meth:`ApproximateTimePairer.add`:

1. The item is stored in its input's queue, keyed by stamp (a second item with the same stamp on the
   same input replaces the first: reason ``duplicate``). An item whose stamp is not newer than the
   last item already emitted from its input can never be paired any more and is dropped at once
   (reason ``late``; message_filters assumes in-order arrival per input).
2. The queue is pruned to ``queue_size`` by dropping its oldest items (reason ``queue_full``).
3. If the new item survived, the other queue's item nearest in time is its partner candidate (ties go
   to the older stamp). When ``|Δt| <= slop`` the pair is emitted at once — the policy is greedy and
   never waits for a possibly better partner.
4. The emitted items and every older item in both queues are removed; those older items were never
   paired (reason ``superseded``). This keeps emitted pairs in time order and uses each item once.

Everything is integer nanoseconds, so the outcome depends only on the stamps and the order of
``add`` calls — deterministic, and testable with tables of stamps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")

DROP_REASONS = ("queue_full", "superseded", "late", "duplicate", "flushed", "reset")
INPUTS = (0, 1)


@dataclass
class PairingStats:
    """Counters since construction. Per input: ``received == paired + sum(dropped) + pending``.

    ``emitted``: pairs handed out. ``received``/``dropped`` are indexed by input (0, 1); ``dropped``
    maps each reason of :data:`DROP_REASONS` to a count.
    """

    emitted: int = 0
    received: list[int] = field(default_factory=lambda: [0, 0])
    dropped: list[dict[str, int]] = field(default_factory=lambda: [dict.fromkeys(DROP_REASONS, 0) for _ in INPUTS])

    def dropped_total(self, index: int | None = None) -> int:
        """Items dropped unpaired on one input, or on both when ``index`` is None."""
        indices = INPUTS if index is None else (index,)
        return sum(sum(self.dropped[i].values()) for i in indices)

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready copy (for diagnostics and replay reports)."""
        return {"emitted": self.emitted, "received": list(self.received), "dropped": [dict(d) for d in self.dropped]}


class ApproximateTimePairer(Generic[T]):
    """Pairs items of input 0 and input 1 whose stamps lie within ``slop`` seconds (see module docstring).

    ``queue_size`` (>= 1): items kept per input while waiting for a partner. ``slop`` (>= 0, seconds):
    the largest stamp difference of a pair, inclusive. Not thread-safe: callers serialise ``add``.
    """

    def __init__(self, queue_size: int, slop: float) -> None:
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ConfigError(f"pairing queue_size must be an integer >= 1, got {queue_size!r}")
        if not slop >= 0.0:  # also rejects NaN
            raise ConfigError(f"pairing slop must be >= 0 seconds, got {slop!r}")
        self.queue_size = queue_size
        self.slop = float(slop)
        self.slop_ns = round(self.slop * 1e9)
        self.stats = PairingStats()
        self._queues: tuple[dict[int, T], dict[int, T]] = ({}, {})
        self._last_emitted: list[int | None] = [None, None]

    def pending(self, index: int) -> list[int]:
        """Stamps (ns, ascending) waiting for a partner on input ``index``."""
        return sorted(self._queues[_check_index(index)])

    def add(self, index: int, stamp_ns: int, item: T) -> list[tuple[T, T]]:
        """Offer one item; returns the pairs (item of input 0, item of input 1) this completes (0 or 1)."""
        index = _check_index(index)
        stamp_ns = int(stamp_ns)
        stats, queue, other = self.stats, self._queues[index], self._queues[1 - index]
        stats.received[index] += 1
        last = self._last_emitted[index]
        if last is not None and stamp_ns <= last:
            stats.dropped[index]["late"] += 1
            return []
        if stamp_ns in queue:
            stats.dropped[index]["duplicate"] += 1
        queue[stamp_ns] = item
        while len(queue) > self.queue_size:
            del queue[min(queue)]
            stats.dropped[index]["queue_full"] += 1
        if stamp_ns not in queue or not other:
            return []
        partner = min(other, key=lambda s: (abs(s - stamp_ns), s))  # nearest; ties -> older
        if abs(partner - stamp_ns) > self.slop_ns:
            return []
        stamps = (stamp_ns, partner) if index == 0 else (partner, stamp_ns)
        pair = (self._queues[0][stamps[0]], self._queues[1][stamps[1]])
        for i in INPUTS:
            self._remove_through(i, stamps[i])
            self._last_emitted[i] = stamps[i]
        stats.emitted += 1
        return [pair]

    def flush(self) -> int:
        """Drop everything still waiting (end of a stream; reason ``flushed``); returns how many."""
        return self._drop_waiting("flushed")

    def reset(self) -> int:
        """Start over after the stamps jumped back (bag looped, simulation reset): drop everything waiting
        (reason ``reset``) and forget the last emitted stamps, so older stamps pair again. Counters are
        kept; returns how many items were dropped."""
        self._last_emitted = [None, None]
        return self._drop_waiting("reset")

    def _drop_waiting(self, reason: str) -> int:
        count = 0
        for i in INPUTS:
            self.stats.dropped[i][reason] += len(self._queues[i])
            count += len(self._queues[i])
            self._queues[i].clear()
        return count

    def _remove_through(self, index: int, stamp_ns: int) -> None:
        """Remove the emitted item of ``index`` and count the older, never-paired ones as superseded."""
        queue = self._queues[index]
        for s in [s for s in queue if s <= stamp_ns]:
            del queue[s]
            if s != stamp_ns:
                self.stats.dropped[index]["superseded"] += 1


def _check_index(index: int) -> int:
    if index not in INPUTS:
        raise ValueError(f"pairing input index must be 0 or 1, got {index!r}")
    return index
