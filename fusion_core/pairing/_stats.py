"""Counters of the pairing policy: what each input received, paired and dropped (and why)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INPUTS = (0, 1)

# Why an item left the pairer without being paired (see ApproximateTimePairer for when each happens):
#   queue_full       pushed out, oldest first, when its input held more than queue_size items
#   no_partner       no partner within slop can arrive any more (the other input is already past it)
#   superseded       a nearer partner for the same frame was found; this one was skipped
#   partner_dropped  its only possible pivot came from an input that lost items to queue_full since,
#                    so optimality of the pair could not be established (message_filters drops it too)
#   late             stamp older than an item already received on the same input (out of order)
#   duplicate        same stamp as the previous item of the same input (the first one is kept)
#   flushed          still waiting when the stream ended (flush)
#   reset            still waiting when the stamps jumped back (reset)
DROP_REASONS = ("queue_full", "no_partner", "superseded", "partner_dropped", "late", "duplicate", "flushed", "reset")


def check_index(index: int) -> int:
    """``index`` when it names an input (0 thermal, 1 visible); ValueError otherwise."""
    if isinstance(index, bool) or index not in INPUTS:
        raise ValueError(f"pairing input index must be 0 or 1, got {index!r}")
    return int(index)


@dataclass
class PairingStats:
    """Counters since construction. Per input: ``received == paired + sum(dropped) + pending``.

    ``emitted``: pairs handed out (each pair uses one item of each input, so ``paired == emitted``).
    ``received``/``dropped`` are indexed by input (0, 1); ``dropped`` maps each reason of
    :data:`DROP_REASONS` to a count. ``bound_violations``: items that arrived closer to their
    predecessor than the inter-message lower bound in force — each one may have let a pair out
    early that a later item would have beaten (the pair is still valid, just possibly not optimal).
    """

    emitted: int = 0
    received: list[int] = field(default_factory=lambda: [0, 0])
    dropped: list[dict[str, int]] = field(default_factory=lambda: [dict.fromkeys(DROP_REASONS, 0) for _ in INPUTS])
    bound_violations: list[int] = field(default_factory=lambda: [0, 0])

    def dropped_total(self, index: int | None = None) -> int:
        """Items dropped unpaired on one input, or on both when ``index`` is None."""
        indices = INPUTS if index is None else (check_index(index),)
        return sum(sum(self.dropped[i].values()) for i in indices)

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready copy (for diagnostics and replay reports)."""
        return {"emitted": self.emitted, "received": list(self.received), "dropped": [dict(d) for d in self.dropped],
                "bound_violations": list(self.bound_violations)}
