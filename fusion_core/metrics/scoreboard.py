"""Scoreboard: one of our models against the best published method per metric, with paired intervals.

Input is the per-image table that ``ivif eval --json`` writes (method -> stem -> metric -> value;
``None``/NaN = undefined for that image, e.g. ROI-SSIM without boxes). For each counted metric the
*best published* value is the best mean among the published methods in that metric's own direction
(:data:`fusion_core.metrics.HIGHER_IS_BETTER`: MSE is lower-better, the rest higher-better). Our model
wins a metric when its mean is strictly better than that value.

The margin ``ours − best`` comes with a paired bootstrap interval: the per-image differences (over the
images where both are defined) are resampled with replacement and the interval is the 2.5th/97.5th
percentile of the resampled means. The difference is always ours minus theirs, whatever the direction;
``clear`` says the whole interval lies on our winning side of 0 (a win of the means whose interval
crosses 0 is not a demonstrated one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError

PerImage = Mapping[str, Mapping[str, Mapping[str, Any]]]  # method -> stem -> metric -> value (None = undefined)


@dataclass(frozen=True)
class Interval:
    """Mean of per-image differences and its paired-bootstrap percentile interval over ``n`` images."""

    mean: float
    low: float
    high: float
    n: int
    reps: int
    seed: int


@dataclass(frozen=True)
class MetricVerdict:
    """One metric of the scoreboard: our mean, the best published mean and who holds it, the win and the margin."""

    metric: str
    higher_is_better: bool
    ours: float
    best_method: str
    best: float
    win: bool
    margin: Interval  # ours − best published, per image
    clear: bool  # the whole interval lies on our winning side of 0


@dataclass(frozen=True)
class Scoreboard:
    """Verdicts of model ``ours`` against the methods ``published`` over ``metrics`` (in table order)."""

    ours: str
    published: tuple[str, ...]
    verdicts: tuple[MetricVerdict, ...]

    @property
    def wins(self) -> int:
        return sum(v.win for v in self.verdicts)

    @property
    def won(self) -> list[str]:
        return [v.metric for v in self.verdicts if v.win]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (non-finite floats become None)."""
        def clean(x: Any) -> Any:
            if isinstance(x, float):
                return x if math.isfinite(x) else None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            return x

        return {"ours": self.ours, "published": list(self.published), "wins": self.wins, "counted": len(self.verdicts),
                "won": self.won, "metrics": [clean(asdict(v)) for v in self.verdicts]}


def _value(raw: Any) -> float:
    """A JSON cell as float: None -> NaN; the strings 'inf'/'-inf' that ``ivif eval`` writes -> ±inf."""
    return math.nan if raw is None else float(raw)


def paired_interval(diff: Sequence[float] | np.ndarray, reps: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap of the mean of paired per-image differences ``diff`` (n,).

    Each replicate draws n images with replacement from a generator seeded with ``seed`` (so the interval
    of one metric does not depend on which metrics were computed before it).
    """
    d = np.asarray(diff, dtype=np.float64).ravel()
    if reps < 1:
        raise ConfigError(f"reps must be >= 1, got {reps}")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must lie in (0, 1), got {level}")
    if d.size == 0:
        raise InputError("no paired images with a defined value on both sides: nothing to bootstrap")
    if not np.all(np.isfinite(d)):
        raise InputError(f"{int((~np.isfinite(d)).sum())} non-finite paired difference(s); drop undefined images first")
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, d.size, size=(reps, d.size))].mean(axis=1)  # (reps,)
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(boot, [tail, 100.0 - tail])
    return Interval(mean=float(d.mean()), low=float(low), high=float(high), n=int(d.size), reps=reps, seed=seed)


def method_mean(rows: Mapping[str, Mapping[str, Any]], metric: str) -> float:
    """Mean of ``metric`` over the images where it is defined (NaN when it is nowhere defined)."""
    values = [v for v in (_value(r.get(metric)) for r in rows.values()) if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def check_stems(per_image: PerImage, methods: Sequence[str]) -> list[str]:
    """The sorted stems shared by ``methods``; an unknown method or differing stem sets are errors naming them."""
    unknown = [m for m in methods if m not in per_image]
    if unknown:
        raise ConfigError(f"method {unknown[0]!r} is not in the table; available: {', '.join(per_image)}")
    reference = set(per_image[methods[0]])
    for m in methods[1:]:
        stems = set(per_image[m])
        if stems != reference:
            missing, extra = sorted(reference - stems), sorted(stems - reference)
            detail = "; ".join(part for part in (f"missing {len(missing)} e.g. {missing[0]!r}" if missing else "",
                                                 f"extra {len(extra)} e.g. {extra[0]!r}" if extra else "") if part)
            raise InputError(f"method {m!r} was scored on other images than {methods[0]!r}: {detail}; "
                             "score every method on the same pairs (one ivif eval run)")
    return sorted(reference)


def counted_metrics(per_image: PerImage, methods: Sequence[str], candidates: Sequence[str]) -> tuple[str, ...]:
    """The metrics of ``candidates`` (in order) that every one of ``methods`` has on at least one image.

    This is how a set without boxes drops ROI-SSIM (10 metrics on MSRS dev, 9 on RoadScene dev)."""
    return tuple(m for m in candidates if all(not math.isnan(method_mean(per_image[x], m)) for x in methods))


def score(per_image: PerImage, ours: str, published: Sequence[str], metrics: Sequence[str],
          higher_is_better: Mapping[str, bool], reps: int = 2000, seed: int = 0) -> Scoreboard:
    """Compare ``ours`` with the best of ``published`` on each of ``metrics``; see the module docstring."""
    if not published:
        raise ConfigError("no published methods to compare with")
    if ours in published:
        raise ConfigError(f"{ours!r} is listed both as ours and as published")
    stems = check_stems(per_image, [ours, *published])
    verdicts = []
    for metric in metrics:
        if metric not in higher_is_better:
            raise ConfigError(f"metric {metric!r} has no direction; known: {', '.join(higher_is_better)}")
        up = higher_is_better[metric]
        means = {m: method_mean(per_image[m], metric) for m in published}
        defined = {m: v for m, v in means.items() if not math.isnan(v)}
        ours_mean = method_mean(per_image[ours], metric)
        if not defined or math.isnan(ours_mean):
            raise InputError(f"metric {metric!r} is undefined for {ours!r} or for every published method")
        best_method = (max if up else min)(defined, key=lambda m: defined[m])
        best = defined[best_method]
        pairs = [(_value(per_image[ours][s].get(metric)), _value(per_image[best_method][s].get(metric))) for s in stems]
        diff = [a - b for a, b in pairs if math.isfinite(a) and math.isfinite(b)]
        margin = paired_interval(diff, reps=reps, seed=seed)
        win = ours_mean > best if up else ours_mean < best
        clear = margin.low > 0 if up else margin.high < 0
        verdicts.append(MetricVerdict(metric, up, ours_mean, best_method, best, win, margin, clear))
    return Scoreboard(ours=ours, published=tuple(published), verdicts=tuple(verdicts))
