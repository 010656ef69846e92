"""Median offset between the two cameras' stamps, from the stamps alone.

Why: two cameras on a robot rarely stamp alike. One driver stamps at exposure start, another at the end of the
transfer; a USB thermal core reports 30-60 ms after the frame was seen; two hosts' clocks drift apart. When the
offset exceeds the pairing ``slop`` no pair forms and every frame is dropped as ``no_partner`` — counted, but
the counters do not say why. This estimate does: for each thermal stamp, the nearest visible stamp once the
visible stream has passed it (so the partner that arrives later is not missed), and the median of the recent
differences (thermal − visible). That is the offset itself while it stays within half a visible frame period (16.7 ms
at 30 Hz); beyond, a thermal frame's nearest visible frame is its neighbour's, and pairs form with it, one frame
apart, which no stamp can show. A thermal camera faster than the visible one has frames without a near partner
by design, so callers act on the estimate only when pairs actually fail (fusion_node: fewer pairs than half the
slower camera's frames).
"""

from __future__ import annotations

import bisect
from collections import deque
from statistics import median

from ..errors import ConfigError


class StampOffsetEstimate:
    """Median of thermal − nearest visible stamp (ns) over the last ``window`` thermal frames, after the correction in
    force (``correction_s``, added to every thermal stamp: the ``thermal_stamp_offset`` of the node and the CLIs).

    Correct each received stamp with :meth:`corrected` (what pairing uses) and feed it with :meth:`add` (input 0
    thermal, 1 visible, any arrival order); ``min_samples`` differences are needed before :attr:`offset_ns` is given
    (None until then). ``horizon`` visible stamps are kept to look partners up in; a thermal stamp waits (at most
    ``horizon`` of them) until a visible stamp at or after it arrives."""

    def __init__(self, correction_s: float = 0.0, window: int = 60, min_samples: int = 10, horizon: int = 64) -> None:
        if not (isinstance(window, int) and isinstance(min_samples, int) and isinstance(horizon, int)) \
                or not 1 <= min_samples <= window or horizon < 2:
            raise ConfigError(f"stamp offset estimate needs 1 <= min_samples <= window and horizon >= 2, got "
                              f"window {window!r}, min_samples {min_samples!r}, horizon {horizon!r}")
        self.correction_s, self._correction_ns = correction_s, round(correction_s * 1e9)
        self.min_samples = min_samples
        self._differences: deque[int] = deque(maxlen=window)
        self._visible: list[int] = []  # sorted, at most horizon
        self._waiting: deque[int] = deque(maxlen=horizon)  # thermal stamps whose later visible neighbour is not in yet
        self._horizon = horizon

    def corrected(self, index: int, stamp_ns: int) -> int:
        """A received stamp of input ``index`` with the correction applied (thermal only)."""
        return stamp_ns + self._correction_ns if index == 0 else stamp_ns

    def add(self, index: int, stamp_ns: int) -> None:
        """One frame's corrected stamp (``index`` 0 thermal, 1 visible)."""
        if index == 0:
            self._waiting.append(stamp_ns)
        else:
            bisect.insort(self._visible, stamp_ns)
            if len(self._visible) > self._horizon:
                del self._visible[0]
        while self._waiting and self._visible and self._visible[-1] >= self._waiting[0]:
            self._differences.append(self._nearest_difference(self._waiting.popleft()))

    def reset(self) -> None:
        """Forget everything (a new timeline: a bag looped, a clock reset)."""
        self._differences.clear()
        self._visible.clear()
        self._waiting.clear()

    @property
    def samples(self) -> int:
        return len(self._differences)

    @property
    def offset_ns(self) -> float | None:
        """Median thermal − visible stamp difference (ns) of the recent thermal frames, or None without enough."""
        return float(median(self._differences)) if len(self._differences) >= self.min_samples else None

    def advice(self, slop_s: float, parameter: str) -> str | None:
        """:func:`offset_advice` for the offset measured and the correction in force."""
        return offset_advice(self.offset_ns, slop_s, self.correction_s, parameter)

    def _nearest_difference(self, thermal: int) -> int:
        i = bisect.bisect_left(self._visible, thermal)
        candidates = self._visible[max(i - 1, 0):i + 1]
        return min((thermal - v for v in candidates), key=abs)


def few_pairs(pairs: int, thermal_frames: int, visible_frames: int) -> bool:
    """Pairs failed: fewer than half the slower camera's frames were paired (a faster camera's extra frames are
    unpaired by design, so the slower camera is the measure)."""
    return pairs * 2 < min(thermal_frames, visible_frames)


def offset_advice(offset_ns: float | None, slop_s: float, correction_s: float, parameter: str) -> str | None:
    """A sentence for a user whose cameras' stamps differ by more than ``slop_s`` (so pairs cannot form), naming
    ``parameter``, the stamp correction (s) that would fix it, given the one in force (``correction_s``); None when
    the offset is within slop or not known yet."""
    if offset_ns is None or abs(offset_ns) <= slop_s * 1e9:
        return None
    side = "after" if offset_ns > 0 else "before"
    return (f"thermal stamps are {abs(offset_ns) / 1e6:.1f} ms {side} the visible ones (median over recent frames), "
            f"more than the pairing slop of {slop_s * 1e3:g} ms, so pairs cannot form: if the cameras stamp at "
            f"different moments, set {parameter} to {correction_s - offset_ns / 1e9:.4f} (now {correction_s:g}); "
            "else check the two drivers' clocks")
