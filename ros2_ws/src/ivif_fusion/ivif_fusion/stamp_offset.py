"""Why pairs do not form, said in time: the two cameras' stamp offset (:mod:`fusion_core.pairing.stamp_offset`).

Why: when a thermal core stamps its frames 40 ms later than the RGB camera (stamped at transfer end, a USB
delay, another host's clock) and ``slop`` is 20 ms, fusion_node fuses nothing; /diagnostics counts every frame as
``unpaired_*_no_partner`` but does not say why. The node feeds every (corrected) stamp to the estimate, reports it
as ``stamp_offset_ms`` and, at a diagnostics report where fewer pairs formed than half the slower camera's frames
since the previous one, warns with the ``thermal_stamp_offset`` that would fix it. A thermal camera faster than the
visible one leaves frames unpaired by design; they do not trigger it, since the slower camera's frames still pair.
"""

from __future__ import annotations

import math
from typing import Callable

from fusion_core.pairing import StampOffsetEstimate, few_pairs

PARAMETER = "thermal_stamp_offset"


class StampOffsetWatch:
    """The stamp offset estimate of one fusion_node and its warning (see the module docstring)."""

    def __init__(self, slop_s: float, correction_s: float, warn: Callable[[str], object]) -> None:
        self.estimate = StampOffsetEstimate(correction_s)
        self._slop_s, self._warn = slop_s, warn
        self._last: tuple[int, int, int] | None = None  # (pairs, received thermal, received visible) at the last check

    def offset_ms(self) -> float:
        """Median thermal − visible stamp offset after the correction, ms (NaN until known)."""
        offset = self.estimate.offset_ns
        return math.nan if offset is None else offset / 1e6

    def check(self, pairs: int, received_thermal: int, received_visible: int) -> str | None:
        """At a diagnostics report, with the cumulative counters: warn (and return the text) when pairs failed since
        the previous report and the stamps say why."""
        last, self._last = self._last, (pairs, received_thermal, received_visible)
        if last is None:
            return None
        thermal, visible = received_thermal - last[1], received_visible - last[2]
        if min(thermal, visible) < 5 or not few_pairs(pairs - last[0], thermal, visible):
            return None
        advice = self.estimate.advice(self._slop_s, PARAMETER)
        if advice is not None:
            self._warn(advice)
        return advice
