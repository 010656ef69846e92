"""Counting frames that were published but never delivered, from the publishers' own sequence numbers.

A ROS 2 Image carries no sequence number, and Fast DDS raises no event when a reliable sample is
overwritten in a KEEP_LAST history (the writer's or the subscription's). But every sample does carry
its writer's sequence number: rclpy hands it to a subscription callback that takes a second
argument, ``MessageInfo`` — ``publication_sequence_number`` (1, 2, 3 … per writer, one per
``publish`` call whether or not anyone matched) and ``publisher_gid`` (the writer's GUID). With
rmw_fastrtps_cpp (Kilted) both are filled; ``reception_sequence_number`` is not (None).

:class:`DeliveryMonitor` turns them into counts, per writer:

* ``gaps``: sequence numbers skipped after the first one seen — frames the writer published while
  matched with us that never reached this callback (lost in transport, overwritten in a history,
  refused by a full queue). A frame that arrives late (out of order, within ``reorder_window``) is
  taken back off the count.
* ``before_first``: ``first sequence number − 1`` — published before this subscription received
  anything (discovery, or a late-joining subscriber); reported apart, not a loss.
* ``reordered`` (late but matched with its gap), ``too_late`` (beyond the window: stays a gap),
  ``duplicates``, ``restarts``.

Writers are told apart by GUID. Without a GUID (another RMW) all samples share one ledger; a jump
back of more than ``reorder_window`` is then taken as a publisher restart, and two live publishers
on one topic make the count meaningless (:attr:`DeliveryMonitor.ambiguous` says so).
Pure Python, no ROS import: the node feeds it the two MessageInfo fields.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

NO_GID = b""
COUNTS = ("received", "gaps", "reordered", "duplicates", "too_late")


@dataclass
class WriterLedger:
    """Delivery bookkeeping of one writer (one publisher GUID, or one restart epoch without GUID)."""

    first: int
    highest: int
    received: int = 1
    gaps: int = 0
    reordered: int = 0
    duplicates: int = 0
    too_late: int = 0  # arrived more than the reorder window behind: stays counted as a gap
    missing: set[int] = field(default_factory=set)  # skipped numbers still inside the reorder window

    def add(self, seq: int, window: int) -> int:
        """Record ``seq``; returns the change of ``gaps`` (positive: newly missing, −1: a late arrival)."""
        if seq > self.highest:
            skipped = seq - self.highest - 1
            if skipped:
                self.missing.update(range(max(self.highest + 1, seq - window), seq))
            self.highest = seq
            self.received += 1
            self.gaps += skipped
            if len(self.missing) > window or (self.missing and min(self.missing) < seq - window):
                self.missing = {s for s in self.missing if s >= seq - window}
            return skipped
        if seq in self.missing:
            self.missing.discard(seq)
            self.received += 1
            self.reordered += 1
            self.gaps -= 1
            return -1
        if seq < self.highest - window:
            self.too_late += 1
        else:
            self.duplicates += 1
        return 0


class DeliveryMonitor:
    """Per-writer gap counting for one subscription (thread-safe).

    ``reorder_window``: how far behind the highest number a late sample is still matched with its gap
    (also the jump back that, without a GUID, means "publisher restarted"). ``max_writers``: writers
    remembered; the least recently heard one is retired into the totals beyond that.
    """

    def __init__(self, reorder_window: int = 256, max_writers: int = 64) -> None:
        if reorder_window < 1 or max_writers < 1:
            raise ValueError(f"reorder_window and max_writers must be >= 1, got {reorder_window}, {max_writers}")
        self.reorder_window = reorder_window
        self.max_writers = max_writers
        self._lock = threading.Lock()
        self._writers: OrderedDict[bytes, WriterLedger] = OrderedDict()
        self._retired = dict.fromkeys(COUNTS + ("before_first",), 0)
        self.restarts = 0
        self.without_sequence = 0
        self.ambiguous = False

    @staticmethod
    def key(publisher_gid: Any) -> bytes:
        """The writer key from MessageInfo's ``publisher_gid`` ({'data': bytes, ...}, bytes, or None)."""
        if isinstance(publisher_gid, dict):
            publisher_gid = publisher_gid.get("data")
        return bytes(publisher_gid) if publisher_gid else NO_GID

    def on_message(self, publisher_gid: Any, sequence_number: int | None) -> int:
        """Record one delivered sample; returns how many frames this sample revealed as missing (≥ −1)."""
        if sequence_number is None or sequence_number <= 0:
            with self._lock:
                self.without_sequence += 1
            return 0
        key = self.key(publisher_gid)
        with self._lock:
            ledger = self._writers.get(key)
            if ledger is not None and key == NO_GID and sequence_number < ledger.highest - self.reorder_window:
                self.restarts += 1  # no GUID: a big jump back is a new writer (restart) or a second one
                self._retire(key)
                ledger = None
            if ledger is None:
                self._writers[key] = WriterLedger(sequence_number, sequence_number)
                while len(self._writers) > self.max_writers:
                    self._retire(next(iter(self._writers)))
                return 0
            self._writers.move_to_end(key)
            before = ledger.duplicates
            change = ledger.add(sequence_number, self.reorder_window)
            if key == NO_GID and ledger.duplicates > before:
                self.ambiguous = True  # the same number twice without a GUID: two writers share the ledger
            return change

    def _retire(self, key: bytes) -> None:
        ledger = self._writers.pop(key)
        for name in COUNTS:
            self._retired[name] += getattr(ledger, name)
        self._retired["before_first"] += ledger.first - 1

    def snapshot(self) -> dict[str, int | bool]:
        """Totals over every writer seen: received, gaps, before_first, reordered, duplicates, writers, restarts …"""
        with self._lock:
            totals = dict(self._retired)
            for ledger in self._writers.values():
                for name in COUNTS:
                    totals[name] += getattr(ledger, name)
                totals["before_first"] += ledger.first - 1
            totals.update(writers=len(self._writers), restarts=self.restarts, without_sequence=self.without_sequence,
                          ambiguous=self.ambiguous)
            return totals


class StallMeter:
    """Inter-arrival times of one stream: the longest, and how many exceeded ``threshold_s`` (a stall)."""

    def __init__(self, threshold_s: float = 0.1) -> None:
        self.threshold_s = threshold_s
        self._lock = threading.Lock()
        self._last: float | None = None
        self.gaps_s: list[float] = []

    def arrived(self, t: float) -> None:
        """A sample arrived at ``t`` (seconds, monotonic)."""
        with self._lock:
            if self._last is not None:
                self.gaps_s.append(t - self._last)
            self._last = t

    def summary(self) -> dict[str, float | int]:
        """stalls (> threshold), stall_s_total, max_gap_ms, p99_gap_ms (NaN before two arrivals)."""
        with self._lock:
            gaps = sorted(self.gaps_s)
        if not gaps:
            return {"stalls": 0, "stall_s_total": 0.0, "max_gap_ms": float("nan"), "p99_gap_ms": float("nan")}
        stalls = [g for g in gaps if g > self.threshold_s]
        p99 = gaps[min(len(gaps) - 1, int(round(0.99 * (len(gaps) - 1))))]
        return {"stalls": len(stalls), "stall_s_total": round(sum(stalls), 3), "max_gap_ms": gaps[-1] * 1000.0,
                "p99_gap_ms": p99 * 1000.0}
