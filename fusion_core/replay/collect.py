"""Per-pair bookkeeping of a replay, in constant memory: metrics, latency, α histogram, contact-sheet tiles.

Offline replay and live replay both hand every fused pair to :class:`PairCollector`; it scores the pair
(metric suite on float 0–255 luminance, optionally the classical baselines on the same inputs), appends a
row to ``pairs.csv`` at once, and keeps only running sums, one float per metric and pair for the
plots, a 256-bin α histogram and a few thumbnails chosen in advance. Nothing grows with image size.

The thermal reference for the metrics is the thermal frame as the network saw it: normalised by the
engine's thermal policy and registered into the visible frame (its own :class:`ThermalNormalizer` and
:class:`Registrar`, fed every pair in order, so AGC state matches the engine's), times 255.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from ..io import to_rgb
from ..registration import RegistrationConfig
from ..thermal import ThermalNormConfig
from .codec import Frame

# Report order of the classical floors (see fusion_core.baselines).
DEFAULT_BASELINES = ("average", "max", "laplacian", "ir_only", "vi_only")
FUSED = "fused"
QUANTILES = (50, 90, 99)
THUMB_WIDTH = 240


@dataclass(frozen=True)
class CollectSettings:
    """What to measure per pair. ``metric_stride`` N scores every N-th pair (metrics cost ~0.2 s per
    640×480 image and method); ``sheet_pairs`` pairs go on the contact sheet; ``labels_dir`` holds
    YOLO boxes ``<stem>.txt`` for ROI-SSIM and detection mAP (needs stems, i.e. a bag from make-bag)."""

    metrics: bool = True
    baselines: tuple[str, ...] = DEFAULT_BASELINES
    metric_stride: int = 1
    sheet_pairs: int = 4
    labels_dir: Path | None = None
    thermal: ThermalNormConfig = field(default_factory=ThermalNormConfig)
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)

    def __post_init__(self) -> None:
        from ..baselines import get_baseline

        for name in self.baselines:
            get_baseline(name)  # ConfigError naming the valid baselines
        if self.metric_stride < 1:
            raise ConfigError(f"metric stride must be >= 1, got {self.metric_stride}")
        if self.sheet_pairs < 0:
            raise ConfigError(f"contact-sheet pairs must be >= 0, got {self.sheet_pairs}")


@dataclass
class Collected:
    """Everything the report needs, all plain values (``series``: metric -> value per scored pair, NaN allowed)."""

    pairs: int
    scored: int
    metric_means: dict[str, dict[str, float]]
    metric_counts: dict[str, dict[str, int]]
    series_pair: list[int]
    series: dict[str, list[float]]
    latency: dict[str, dict[str, float]]
    alpha_hist: list[int]
    tiles: list[dict[str, Any]]
    detections: dict[str, Any] | None


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99, mean, max and n of a list of milliseconds, NaNs left out (NaN when none is left)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return {**{f"p{q}": math.nan for q in QUANTILES}, "mean": math.nan, "max": math.nan, "n": 0}
    return {**{f"p{q}": float(np.percentile(arr, q)) for q in QUANTILES}, "mean": float(arr.mean()),
            "max": float(arr.max()), "n": int(arr.size)}


class _Means:
    """Streaming mean of each metric over the rows where it is not NaN (the rule of metrics.summarize)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.sums = dict.fromkeys(names, 0.0)
        self.counts = dict.fromkeys(names, 0)

    def add(self, row: Mapping[str, float]) -> None:
        for name in self.sums:
            value = float(row.get(name, math.nan))
            if not math.isnan(value):
                self.sums[name] += value
                self.counts[name] += 1

    def means(self) -> dict[str, float]:
        return {n: self.sums[n] / self.counts[n] if self.counts[n] else math.nan for n in self.sums}


class _Reference:
    """The registered, normalised thermal frame (H, W) float32 in [0, 1], as the engine computes it."""

    def __init__(self, thermal: ThermalNormConfig, registration: RegistrationConfig) -> None:
        from ..registration import Registrar
        from ..thermal import ThermalNormalizer

        self.normalizer = ThermalNormalizer(thermal)
        self.registrar = Registrar(registration)

    def __call__(self, thermal: np.ndarray, visible_hw: tuple[int, int]) -> np.ndarray:
        import torch

        from ..engine.pipeline import check_thermal, normalise_thermal

        with torch.inference_mode():
            norm, _, _ = normalise_thermal(check_thermal(thermal), self.normalizer, torch.device("cpu"))
            return self.registrar(norm, visible_hw).numpy().astype(np.float32)


def _thumb(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    size = (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class _DetectionTally:
    """Detections per class and per pair; per-stem detections when stems are known (for mAP)."""

    def __init__(self) -> None:
        self.per_class: dict[str, int] = {}
        self.pairs = 0
        self.total = 0
        self.by_stem: dict[str, list[Any]] = {}
        self.sizes: dict[str, tuple[int, int]] = {}

    def add(self, detections: Sequence[Any], stem: str, hw: tuple[int, int]) -> None:
        self.pairs += 1
        self.total += len(detections)
        for det in detections:
            self.per_class[det.class_name] = self.per_class.get(det.class_name, 0) + 1
        if stem:
            self.by_stem[stem] = list(detections)
            self.sizes[stem] = hw

    def summary(self, labels_dir: Path | None) -> dict[str, Any]:
        out: dict[str, Any] = {"pairs": self.pairs, "total": self.total, "per_class": dict(sorted(self.per_class.items())),
                               "mean_per_pair": self.total / self.pairs if self.pairs else math.nan}
        if labels_dir is not None and self.by_stem:
            from ..detection import evaluate_map, load_ground_truth

            truth = load_ground_truth(labels_dir, self.sizes)
            result = evaluate_map(self.by_stem, truth)
            out["map50"] = {"mean_ap": result.mean_ap, "ap": result.ap, "n_images": result.n_images,
                            "n_ground_truth": result.n_ground_truth, "labels": str(labels_dir)}
        return out


class PairCollector:
    """Collects fused pairs one at a time (see the module docstring); ``close`` returns :class:`Collected`."""

    def __init__(self, out_dir: str | Path, settings: CollectSettings, stages: Sequence[str],
                 names: Mapping[int, str] | None = None, expected_pairs: int = 0) -> None:
        from ..metrics import METRICS

        self.settings = settings
        self.stages = tuple(stages)
        self.names = dict(names or {})
        self.metric_names = METRICS
        self.methods = (FUSED, *settings.baselines) if settings.metrics else ()
        self._means = {m: _Means(METRICS) for m in self.methods}
        self._latency = {s: array("d") for s in self.stages}
        self._series_pair = array("l")
        self._series = {n: array("d") for n in METRICS}
        self._alpha_hist = np.zeros(256, dtype=np.int64)
        n_sheet = min(settings.sheet_pairs, expected_pairs)
        self._sheet_at = set(np.linspace(0, expected_pairs - 1, n_sheet).round().astype(int).tolist()) if n_sheet else set()
        self._tiles: list[dict[str, Any]] = []
        self._detections: _DetectionTally | None = None
        self._reference = _Reference(settings.thermal, settings.registration)
        self.pairs = 0
        self.scored = 0
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = out_dir / "pairs.csv"
        self._fh = self.csv_path.open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._fh)
        self._csv.writerow(["pair", "stem", "visible_stamp_ns", "thermal_stamp_ns", "dt_ms",
                            *(f"{s}_ms" for s in self.stages), "detections", *METRICS])

    def stem_of(self, thermal: Frame, visible: Frame) -> str:
        return self.names.get(visible.stamp_ns) or self.names.get(thermal.stamp_ns, "")

    def add(self, thermal: Frame, visible: Frame, fused: np.ndarray, alpha: np.ndarray, latency_ms: Mapping[str, float],
            detections: Sequence[Any] | None = None) -> dict[str, float]:
        """Record one fused pair; ``fused`` is in ``visible``'s channel order. Returns its metrics ({} when not scored)."""
        index, self.pairs = self.pairs, self.pairs + 1
        stem = self.stem_of(thermal, visible)
        hw = (visible.image.shape[0], visible.image.shape[1])
        ir_norm = self._reference(thermal.image, hw)  # (H, W) [0, 1]
        self._alpha_hist += np.bincount(alpha.reshape(-1), minlength=256)
        for stage in self.stages:
            self._latency[stage].append(float(latency_ms.get(stage, math.nan)))
        vis_rgb, fused_rgb = to_rgb(visible.image, visible.order), to_rgb(fused, visible.order)
        row: dict[str, float] = {}
        if self.methods and index % self.settings.metric_stride == 0:
            row = self._score(ir_norm, vis_rgb, fused_rgb, stem, hw)
        if detections is not None:
            if self._detections is None:
                self._detections = _DetectionTally()
            self._detections.add(detections, stem, hw)
        if index in self._sheet_at:
            self._tiles.append({"pair": index, "stem": stem, "stamp_ns": visible.stamp_ns,
                                "ir": _thumb(np.rint(ir_norm * 255.0).astype(np.uint8)), "visible": _thumb(vis_rgb),
                                "fused": _thumb(fused_rgb), "alpha": _thumb(alpha)})
        self._csv.writerow([index, stem, visible.stamp_ns, thermal.stamp_ns, f"{(visible.stamp_ns - thermal.stamp_ns) / 1e6:.3f}",
                            *(f"{latency_ms.get(s, math.nan):.3f}" for s in self.stages),
                            "" if detections is None else len(detections),
                            *(f"{row[n]:.6g}" if n in row else "" for n in self.metric_names)])
        return row

    def _score(self, ir_norm: np.ndarray, vis_rgb: np.ndarray, fused_rgb: np.ndarray, stem: str,
               hw: tuple[int, int]) -> dict[str, float]:
        from ..baselines import fuse_baseline_image
        from ..boxes import roi_mask_for
        from ..io import to_luminance
        from ..metrics import compute_all

        ir_y, vi_y = ir_norm.astype(np.float64) * 255.0, to_luminance(vis_rgb)
        mask = roi_mask_for(self.settings.labels_dir, stem, hw) if self.settings.labels_dir and stem else None
        row = compute_all(to_luminance(fused_rgb), ir_y, vi_y, mask)
        self._means[FUSED].add(row)
        for name in self.settings.baselines:  # float [0, 1] thermal passes the baselines' normaliser unchanged
            image = fuse_baseline_image(name, ir_norm, vis_rgb)
            self._means[name].add(compute_all(to_luminance(image), ir_y, vi_y, mask))
        self.scored += 1
        self._series_pair.append(self.pairs - 1)
        for name in self.metric_names:
            self._series[name].append(row[name])
        return row

    def close(self) -> Collected:
        """Finish ``pairs.csv`` and summarise."""
        self._fh.close()
        det = self._detections.summary(self.settings.labels_dir) if self._detections is not None else None
        return Collected(
            pairs=self.pairs,
            scored=self.scored,
            metric_means={m: self._means[m].means() for m in self.methods},
            metric_counts={m: dict(self._means[m].counts) for m in self.methods},
            series_pair=list(self._series_pair),
            series={n: list(v) for n, v in self._series.items()},
            latency={s: percentiles(v) for s, v in self._latency.items()},
            alpha_hist=self._alpha_hist.tolist(),
            tiles=sorted(self._tiles, key=lambda t: t["pair"]),
            detections=det,
        )
