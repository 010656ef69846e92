"""Ratios and the printed tables of ``ivif bench`` (pure functions over its result dicts)."""

from __future__ import annotations

from typing import Any


def add_ratios(rows: list[dict[str, Any]], group: str | None, key: str) -> None:
    """Set ``ratio_to_fastest`` = value / fastest value among ok rows of the same size and precision."""
    def value(r: dict[str, Any]) -> float:
        return r[group][key] if group else r[key]

    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    for r in ok:
        peers = [value(p) for p in ok if p["size"] == r["size"] and p["precision"] == r["precision"]]
        r["ratio_to_fastest"] = round(value(r) / min(peers), 3)


def fmt_size(size: list[int]) -> str:
    return f"{size[0]}x{size[1]}"


_TITLES = {
    "fusion": "full fusion per pair (FusionEngine.fuse; stage medians in ms)",
    "detection": "detection per fused image (YOLOX-nano on onnxruntime, 416 px letterbox rounded to the image's aspect, "
                 "416x416 with --square-detector; backend = the fusion backend "
                 "that made the image; pre = letterbox, net = ONNX session, post = decode + NMS; ms)",
    "fusion+detection": "fusion + detection per pair (fuse then detect; stages = sums of both; ms)",
}


def label(r: dict[str, Any]) -> str:
    """The row's name in the tables: its backend, or model/backend when several models were timed."""
    return r.get("label", r["backend"])


def print_tables(results: list[dict[str, Any]], network: list[dict[str, Any]]) -> None:
    width = max([12] + [len(label(r)) for r in results + network])
    head = (f"{'backend':<{width}} {'prec':<5} {'size':<10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'pairs/s':>8} "
            f"{'pre':>6} {'net':>7} {'post':>6} {'peak MiB':>9} {'x fastest':>9}")
    for kind, title in _TITLES.items():
        rows = [r for r in results if r.get("kind", "fusion") == kind]
        if not rows:
            continue
        print(f"\n{title}")
        print(head)
        print("-" * len(head))
        for r in rows:
            name = f"{label(r):<{width}} {r['precision']:<5} {fmt_size(r['size']):<10}"
            if r["status"] != "ok":
                print(f"{name} {r['status']}: {r['reason']}")
                continue
            lat, st = r["latency_ms"], r["stages_ms"]
            print(f"{name} {lat['p50']:8.2f} {lat['p90']:8.2f} {lat['p99']:8.2f} {r['throughput_pairs_per_s']:8.1f} "
                  f"{st['pre']:6.2f} {st['network']:7.2f} {st['post']:6.2f} {r['peak_memory']['mib']:9.1f} "
                  f"{r['ratio_to_fastest']:9.2f}")
    if network:
        print("\nnetwork forward only (median of timed calls after warm-up; ../shared/TARGETS.md protocol: 10 after 3)")
        print(f"{'backend':<{width}} {'prec':<5} {'size':<10} {'median ms':>10} {'x fastest':>9}")
        for r in network:
            print(f"{label(r):<{width}} {r['precision']:<5} {fmt_size(r['size']):<10} {r['median_ms']:10.2f} {r['ratio_to_fastest']:9.2f}")
