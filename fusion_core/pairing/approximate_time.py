"""Approximate-time pairing of two streams (thermal, visible), shared by the ROS node and offline replay.

The policy is that of the C++ ``message_filters`` ``ApproximateTime`` synchroniser (the one C++ nodes
and image_pipeline use), written here for two inputs from its documented algorithm, without ROS, so
that the live node and the replay of a bag pair exactly the same frames.

What comes out. Each pair holds one item of each input, and its *interval* is the difference of the
two stamps. Pairs are never wider than ``slop``; no item is used twice; pairs come out in stamp
order on both inputs; an item that is skipped is dropped, with its reason counted. Within those
rules each pair is the narrowest one available for its *pivot*:

- Look at the oldest waiting item of each input (the heads). The later head, P, is the pivot: the
  earlier head cannot wait for anything older than P on P's input (items of one input arrive in
  stamp order), so if it is more than ``slop`` before P it can never be paired (``no_partner``).
  Otherwise the next pair is built around P: every pair still possible ends at P or later (it needs
  an item of P's input, and P is the oldest one there), and a pair that skipped P would leave P
  behind unused although it has a partner within slop.
- P's partner is the item of the other input nearest to P in time. Items before P are scanned
  oldest first; each one closer to P than the previous replaces it (the previous is
  ``superseded``). The first item after P decides the rest: it wins if it is closer to P than the
  best item before P, otherwise the item before P does (ties go to the older item).
- ``age_penalty`` (>= 0) tilts that choice towards the older partner: a partner after P counts
  ``(1 + age_penalty)`` times its distance. 0 (the default here) is pure "nearest"; message_filters'
  own default is 0.1.

When it comes out. The choice is final only once the first item of the other input after P is
known — up to one frame period after P, unless the wait can be cut short by a promise: a per-input
``inter_message_lower_bound`` (s) says that the input's next stamp is at least that far after its
newest one. If even that earliest possible next item would be no closer to P than the best item
already found, the pair is provably optimal and goes out at once. With the bound at least twice
``slop`` every pair goes out as soon as its later item arrives. A bound that turns out too large
(an item arrives sooner than promised) is counted in ``stats.bound_violations``: pairs stay valid
but may not be the narrowest. A bound of ``None`` is learnt from the input's own stamps
(:class:`InterMessageBoundEstimator`).

Queues, arrival order, end of stream.

- ``queue_size`` items are held per input (including a pivot's best partner so far); one more drops
  the oldest of that input (``queue_full``) and restarts the search. Until that input again has
  the older head, a pair pivoted on it might have missed a better partner among the dropped items,
  so a head that would pair with such a pivot is dropped instead (``partner_dropped``) — as in
  message_filters, only provably optimal pairs are handed out.
- Items of one input must arrive in stamp order (DDS keeps one publisher's order). An item older
  than one already received on its input is dropped (``late``); one with the same stamp as the
  previous item is dropped too (``duplicate``, the first stays). Nothing raises on bad order.
- :meth:`flush` ends the stream: no more items can come, so a pair still waiting for its proof is
  optimal and is handed out; everything else left is dropped (``flushed``).
- :meth:`reset` (stamps jumped back: bag looped, simulation restarted) drops everything waiting
  (``reset``) and forgets the stamps seen, so older stamps pair again.

Everything is integer nanoseconds, so the outcome depends only on the stamps and the order of the
calls — deterministic and testable with tables of stamps. With lower bounds that hold and no queue
overflow, the pairs do not depend on how the two inputs interleave in arrival, only on when each
pair comes out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

from ..errors import ConfigError
from ._stats import INPUTS, PairingStats, check_index
from .bound_estimate import InterMessageBoundEstimator

T = TypeVar("T")


class ApproximateTimePairer(Generic[T]):
    """Pairs items of input 0 and input 1 with message_filters' ApproximateTime policy (module docstring).

    ``queue_size`` (>= 1, 2 or more recommended): items held per input. ``slop`` (>= 0 s): the widest
    pair, inclusive. ``age_penalty`` (>= 0): weight against partners newer than the pivot.
    ``inter_message_lower_bound``: per input, seconds (>= 0; 0 = unknown) or None to estimate it from
    the stamps. Not thread-safe: callers serialise the calls.
    """

    def __init__(self, queue_size: int, slop: float, age_penalty: float = 0.0,
                 inter_message_lower_bound: Sequence[float | None] = (0.0, 0.0)) -> None:
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ConfigError(f"pairing queue_size must be an integer >= 1, got {queue_size!r}")
        if not slop >= 0.0:  # also rejects NaN
            raise ConfigError(f"pairing slop must be >= 0 seconds, got {slop!r}")
        if not age_penalty >= 0.0:
            raise ConfigError(f"pairing age_penalty must be >= 0, got {age_penalty!r}")
        bounds = tuple(inter_message_lower_bound)
        if len(bounds) != 2 or not all(b is None or b >= 0.0 for b in bounds):
            raise ConfigError("pairing inter_message_lower_bound must be two values (thermal, visible), each >= 0 "
                              f"seconds or None (estimate from the stamps), got {inter_message_lower_bound!r}")
        self.queue_size = queue_size
        self.slop = float(slop)
        self.slop_ns = round(self.slop * 1e9)
        self.age_penalty = float(age_penalty)
        self._fixed_bound_ns = [None if b is None else round(b * 1e9) for b in bounds]
        self._estimators = [InterMessageBoundEstimator() if b is None else None for b in bounds]
        self.stats = PairingStats()
        self._queues: tuple[deque[tuple[int, T]], deque[tuple[int, T]]] = (deque(), deque())
        self._newest: list[int | None] = [None, None]  # newest stamp accepted per input
        self._lost: list[bool] = [False, False]  # input dropped items to queue_full; not yet a trusted pivot

    def pending(self, index: int) -> list[int]:
        """Stamps (ns, ascending) waiting on input ``index``."""
        return [stamp for stamp, _ in self._queues[check_index(index)]]

    def lower_bound_ns(self, index: int) -> int:
        """Inter-message lower bound (ns) in force on input ``index`` (fixed, or the current estimate)."""
        estimator = self._estimators[check_index(index)]
        return estimator.bound_ns if estimator is not None else self._fixed_bound_ns[index] or 0

    def add(self, index: int, stamp_ns: int, item: T) -> list[tuple[T, T]]:
        """Offer one item; returns the pairs (item of input 0, item of input 1) it lets out, oldest first."""
        index, stamp_ns = check_index(index), int(stamp_ns)
        stats, queue = self.stats, self._queues[index]
        stats.received[index] += 1
        newest = self._newest[index]
        if newest is not None and stamp_ns <= newest:
            stats.dropped[index]["late" if stamp_ns < newest else "duplicate"] += 1
            return []
        if newest is not None and stamp_ns - newest < self.lower_bound_ns(index):
            stats.bound_violations[index] += 1
        self._newest[index] = stamp_ns
        if self._estimators[index] is not None:
            self._estimators[index].observe(stamp_ns)
        queue.append((stamp_ns, item))
        pairs = self._match(final=False)
        if len(queue) > self.queue_size:  # can only be this input, by one item
            queue.popleft()
            stats.dropped[index]["queue_full"] += 1
            self._lost[index] = True
            pairs += self._match(final=False)
        return pairs

    def flush(self) -> list[tuple[T, T]]:
        """End of stream: hand out the pairs that no further item could improve, then drop the rest
        (reason ``flushed``). Returns those last pairs; the pairer can be used again afterwards."""
        pairs = self._match(final=True)
        self._drop_waiting("flushed")
        return pairs

    def reset(self) -> int:
        """Start over after the stamps jumped back (bag looped, simulation reset): drop everything waiting
        (reason ``reset``) and forget the stamps seen, so older stamps pair again. Counters are kept;
        returns how many items were dropped."""
        self._newest = [None, None]
        self._lost = [False, False]
        for estimator in self._estimators:
            if estimator is not None:
                estimator.reset()
        return self._drop_waiting("reset")

    # --- the policy ---------------------------------------------------------------------------------
    def _match(self, final: bool) -> list[tuple[T, T]]:
        """Hand out every pair that is decided now; ``final``: no more items will come."""
        pairs: list[tuple[T, T]] = []
        queues = self._queues
        while queues[0] and queues[1]:
            heads = (queues[0][0][0], queues[1][0][0])
            pivot = 1 if heads[1] >= heads[0] else 0  # the later head (on a tie either way pairs the two heads)
            other = 1 - pivot
            pivot_ns, partners = heads[pivot], queues[other]
            self._lost[other] = False  # its head is older than the pivot: nothing it lost could pair better
            if pivot_ns - heads[other] > self.slop_ns:
                self._drop_head(other, "no_partner")
                continue
            if self._lost[pivot]:
                self._drop_head(other, "partner_dropped")
                continue
            while len(partners) > 1 and partners[1][0] <= pivot_ns:  # a closer partner before (or at) the pivot
                self._drop_head(other, "superseded")
            before_ns = partners[0][0]  # the best partner not after the pivot
            if before_ns != pivot_ns:
                if len(partners) > 1:  # the first partner after the pivot decides
                    if self._weighted_after(partners[1][0] - pivot_ns) < pivot_ns - before_ns:
                        self._drop_head(other, "superseded")
                elif not final and not self._proven(other, pivot_ns, before_ns):
                    break  # wait for the next item of `other`
            pairs.append(self._emit())
        return pairs

    def _proven(self, other: int, pivot_ns: int, before_ns: int) -> bool:
        """Whether no future item of ``other`` can beat ``before_ns`` as the pivot's partner: the earliest
        stamp it may have (newest + lower bound, and after the pivot) is no closer."""
        newest = self._newest[other]
        assert newest is not None
        earliest_ns = max(newest + self.lower_bound_ns(other), pivot_ns)
        return self._weighted_after(earliest_ns - pivot_ns) >= pivot_ns - before_ns

    def _weighted_after(self, distance_ns: int) -> float:
        """Distance of a partner after the pivot, weighted against its age (exact for age_penalty 0)."""
        return distance_ns if self.age_penalty == 0.0 else distance_ns * (1.0 + self.age_penalty)

    def _emit(self) -> tuple[T, T]:
        """Hand out the two heads as a pair."""
        self.stats.emitted += 1
        return self._queues[0].popleft()[1], self._queues[1].popleft()[1]

    def _drop_head(self, index: int, reason: str) -> None:
        self._queues[index].popleft()
        self.stats.dropped[index][reason] += 1

    def _drop_waiting(self, reason: str) -> int:
        count = 0
        for i in INPUTS:
            self.stats.dropped[i][reason] += len(self._queues[i])
            count += len(self._queues[i])
            self._queues[i].clear()
        return count
