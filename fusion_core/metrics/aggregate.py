"""Averaging per-pair metric values into one row of a report, skipping undefined (NaN) values.

A metric can be undefined for a pair (ROI-SSIM without boxes, SCD with a constant image); its mean
is taken over the pairs where it is defined and the number of those pairs is reported beside it,
so a mean over 12 pairs is never mistaken for a mean over 100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSummary:
    """``mean[name]``: mean over the pairs where the metric is not NaN (NaN when there are none);
    ``count[name]``: how many pairs contributed; ``pairs``: how many pairs were given."""

    mean: dict[str, float]
    count: dict[str, int]
    pairs: int


def summarize(rows: Iterable[Mapping[str, float]], names: Iterable[str]) -> MetricSummary:
    """Mean and contributing-pair count of each metric in ``names`` over per-pair result ``rows``.

    A row missing a name counts as NaN for it. +inf (PSNR of a perfect copy) is kept and makes the
    mean +inf, because dropping it would hide a perfect pair.
    """
    names = tuple(names)
    sums = dict.fromkeys(names, 0.0)
    count = dict.fromkeys(names, 0)
    pairs = 0
    for row in rows:
        pairs += 1
        for name in names:
            value = float(row.get(name, math.nan))
            if not math.isnan(value):
                sums[name] += value
                count[name] += 1
    mean = {name: sums[name] / count[name] if count[name] else math.nan for name in names}
    return MetricSummary(mean=mean, count=count, pairs=pairs)
