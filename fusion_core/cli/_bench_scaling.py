"""How ``ivif bench`` cost grows with image size: named size sets, cost per megapixel, stage shares, a linear fit.

Cost per megapixel (ms/MP) = a p50 or stage median in ms / (width · height / 10⁶) of the input size, so
a user can size another camera: a stage that scales with the pixel count has a flat ms/MP across sizes;
one with a fixed cost (the detector's network always sees a 416 × 416 canvas) has an ms/MP that falls
as the image grows. The fit ``p50 ≈ fixed_ms + ms_per_mp · MP`` (least squares over the sizes run)
separates the two; extrapolate it only a little beyond the largest size measured.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ._bench_report import fmt_size, label

# WIDTHxHEIGHT: QVGA-class thermal cores, VGA (MSRS), 640x512 (common LWIR), HD, SXGA.
SIZE_SETS: dict[str, tuple[tuple[int, int], ...]] = {
    "scaling": ((320, 256), (640, 480), (640, 512), (1280, 720), (1280, 1024)),
}
STAGES = ("pre", "network", "post")
KINDS = ("fusion", "detection", "fusion+detection")


MAX_SIDE = 8192  # px: an 8K frame; --size beyond it is a typo, and would fail allocating the frames


def _one_size(text: str) -> list[tuple[int, int]]:
    name = text.strip().lower()
    if name in SIZE_SETS:
        return list(SIZE_SETS[name])
    w, _, h = name.partition("x")
    if not (w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        sets = "; ".join(f"{k} = {', '.join(f'{a}x{b}' for a, b in v)}" for k, v in SIZE_SETS.items())
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 640x480, nor a named size set ({sets})")
    if max(int(w), int(h)) > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"size {text!r}: each side must be at most {MAX_SIDE} px (larger than any camera "
                                         "this benchmark sizes, and its frames alone would not fit in memory)")
    return [(int(w), int(h))]


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``--size``: comma-separated WIDTHxHEIGHT and/or set names -> sizes in order, duplicates dropped."""
    items = [t for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated list of WIDTHxHEIGHT or size set names")
    out: list[tuple[int, int]] = []
    for item in items:
        out += [s for s in _one_size(item) if s not in out]
    return out


def megapixels(size: list[int] | tuple[int, int]) -> float:
    return size[0] * size[1] / 1e6


def add_per_megapixel(rows: list[dict[str, Any]]) -> None:
    """Set ``ms_per_mp`` (p50 and each stage median over the input's MP) and ``stage_share`` (each stage
    median over the sum of the three, in [0, 1]) on every ok row."""
    for r in rows:
        if r.get("status") != "ok":
            continue
        mp = megapixels(r["size"])
        st = r["stages_ms"]
        r["megapixels"] = round(mp, 6)
        r["ms_per_mp"] = {"p50": r["latency_ms"]["p50"] / mp, **{k: st[k] / mp for k in STAGES}}
        total = sum(st[k] for k in STAGES)
        r["stage_share"] = {k: (st[k] / total if total > 0 else float("nan")) for k in STAGES}


def fit_scaling(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (kind, backend or model/backend, precision) with ≥ 2 ok sizes: p50 ≈ fixed_ms + ms_per_mp · MP (least squares)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("status") == "ok":
            groups.setdefault((r.get("kind", "fusion"), label(r), r["precision"]), []).append(r)
    fits = []
    for (kind, name, precision), members in groups.items():
        mps = np.array([megapixels(r["size"]) for r in members])
        if len(set(mps.tolist())) < 2:
            continue
        p50 = np.array([r["latency_ms"]["p50"] for r in members])
        slope, intercept = np.polyfit(mps, p50, 1)
        fits.append({"kind": kind, "backend": members[0]["backend"], "label": name, "precision": precision, "sizes": len(members),
                     "fixed_ms": float(intercept), "ms_per_mp": float(slope)})
    return fits


def print_per_megapixel(rows: list[dict[str, Any]], fits: list[dict[str, Any]]) -> None:
    """The cost-per-megapixel table (p50 and stage medians in ms/MP, stage shares in %) and the fits."""
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        return
    width = max([12] + [len(label(r)) for r in ok])
    head = (f"{'kind':<17} {'backend':<{width}} {'prec':<5} {'size':<10} {'MP':>6} {'p50 ms':>8} {'ms/MP':>8} "
            f"{'pre/MP':>8} {'net/MP':>8} {'post/MP':>8} {'pre%':>5} {'net%':>5} {'post%':>5}")
    print("\ncost per megapixel (p50 and stage medians / input megapixels; share = stage / sum of stages)")
    print(head)
    print("-" * len(head))
    for r in sorted(ok, key=lambda r: (KINDS.index(r.get("kind", "fusion")), label(r), r["precision"])):
        m, s = r["ms_per_mp"], r["stage_share"]
        print(f"{r.get('kind', 'fusion'):<17} {label(r):<{width}} {r['precision']:<5} {fmt_size(r['size']):<10} "
              f"{r['megapixels']:6.3f} {r['latency_ms']['p50']:8.2f} {m['p50']:8.1f} {m['pre']:8.1f} {m['network']:8.1f} "
              f"{m['post']:8.1f} {100 * s['pre']:5.0f} {100 * s['network']:5.0f} {100 * s['post']:5.0f}")
    if fits:
        print("\nlinear fit over sizes: p50 ms ≈ fixed + slope · MP")
        print(f"{'kind':<17} {'backend':<{width}} {'prec':<5} {'sizes':>5} {'fixed ms':>9} {'ms/MP':>8}")
        for f in fits:
            print(f"{f['kind']:<17} {f['label']:<{width}} {f['precision']:<5} {f['sizes']:5d} {f['fixed_ms']:9.1f} "
                  f"{f['ms_per_mp']:8.1f}")
