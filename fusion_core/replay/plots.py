"""The report's pictures: metrics over time, α histogram, latency per stage (matplotlib, Agg) and the
IR | visible | fused | α contact sheet (OpenCV). Each function writes one PNG and returns its path."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..io import write_image


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        from ..errors import ConfigError

        raise ConfigError("the replay report needs matplotlib: pip install -e '.[replay]' (scripts/setup.sh does this)") from None

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def metrics_over_time(path: Path, pair_index: Sequence[int], series: Mapping[str, Sequence[float]],
                      means: Mapping[str, Mapping[str, float]] | None = None) -> Path:
    """One small panel per metric: the fused value per scored pair, the fused mean (solid) and, when
    given, the best baseline mean (dashed) for reference."""
    plt = _pyplot()
    names = list(series)
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False, sharex=True)
    for ax, name in zip(axes.flat, names):
        values = np.asarray(series[name], dtype=np.float64)
        ax.plot(pair_index, values, marker=".", lw=1, color="tab:blue")
        finite = values[np.isfinite(values)]
        if finite.size:
            ax.axhline(float(finite.mean()), color="tab:blue", lw=0.8)
        if means:
            others = {m: v[name] for m, v in means.items() if m != "fused" and np.isfinite(v.get(name, np.nan))}
            if others:
                best_name = (min if name == "MSE" else max)(others, key=others.__getitem__)
                ax.axhline(others[best_name], color="tab:orange", ls="--", lw=0.8, label=f"{best_name}")
                ax.legend(fontsize=6, loc="best")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    from matplotlib.ticker import MaxNLocator

    for ax in axes[-1]:
        ax.set_xlabel("pair", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("per-pair metrics of the fused output (line: mean; dashed: best baseline mean)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def alpha_histogram(path: Path, counts: Sequence[int]) -> Path:
    """Histogram of α over every fused pixel (0 = all visible, 255 = all thermal), log count axis."""
    plt = _pyplot()
    counts_arr = np.asarray(counts, dtype=np.float64)
    total = counts_arr.sum()
    mean = float((counts_arr * np.arange(256)).sum() / total / 255.0) if total else float("nan")
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.bar(np.arange(256) / 255.0, counts_arr, width=1 / 255.0, color="tab:red")
    if total:
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no fused pairs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("α (0 = visible, 1 = thermal)")
    ax.set_ylabel("pixels")
    ax.set_title(f"α over {int(total):,} pixels, mean {mean:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_boxes(path: Path, percentiles: Mapping[str, Mapping[str, float]]) -> Path:
    """p50 bars with p90/p99 markers per stage, milliseconds."""
    plt = _pyplot()
    stages = [s for s, p in percentiles.items() if p.get("n", 0)]
    fig, ax = plt.subplots(figsize=(6, 2.8))
    x = np.arange(len(stages))
    ax.bar(x, [percentiles[s]["p50"] for s in stages], color="tab:green", label="p50")
    ax.scatter(x, [percentiles[s]["p90"] for s in stages], marker="_", s=200, color="k", label="p90")
    ax.scatter(x, [percentiles[s]["p99"] for s in stages], marker="x", color="tab:red", label="p99")
    ax.set_xticks(x, stages, fontsize=8)
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)
    ax.set_title("latency per stage", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """RGB tile with a caption bar on top."""
    rgb = tile if tile.ndim == 3 else np.repeat(tile[:, :, None], 3, axis=2)
    bar = np.full((18, rgb.shape[1], 3), 32, dtype=np.uint8)
    cv2.putText(bar, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([bar, rgb])


def contact_sheet(path: Path, tiles: Sequence[Mapping[str, Any]]) -> Path | None:
    """Rows of IR | visible | fused | α thumbnails (α grey: white = thermal); None without tiles."""
    if not tiles:
        return None
    rows = []
    for tile in tiles:
        name = tile.get("stem") or f"pair {tile['pair']}"
        cells = [_label(tile["ir"], f"IR  {name}"), _label(tile["visible"], "visible"),
                 _label(tile["fused"], "fused"), _label(tile["alpha"], "alpha (white = IR)")]
        height = max(c.shape[0] for c in cells)
        cells = [np.pad(c, ((0, height - c.shape[0]), (0, 0), (0, 0))) for c in cells]
        rows.append(np.hstack([np.pad(c, ((0, 4), (0, 4), (0, 0)), constant_values=255) for c in cells]))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    write_image(path, sheet, "rgb")
    return path
