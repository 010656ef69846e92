"""The replay report: ``report.md`` and ``report.html`` (self-contained page; images are PNG files beside it).

Both renderings come from one list of blocks (heading, paragraph, table, image), so they always say
the same thing. Sections: run settings; frames (read, paired, unpaired by the pairing policy's reason,
bad frames, stamp gaps, frames the bag's maker dropped); for live runs, the pairs through the graph
(how many were fused and detected, and per stage why the others were dropped, :mod:`.delivery`); latency percentiles per stage; the metric
table of the fused output against the classical baselines; per-pair metrics over time; contact sheet;
α histogram; detections when there are any; live vs offline when the run was live.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import plots

Block = tuple[Any, ...]  # ("h", level, text) | ("p", text) | ("table", header, rows) | ("img", file, alt)

_BASELINE_LABELS = {"fused": "fused (this model)", "average": "average", "max": "max", "laplacian": "Laplacian pyramid",
                    "ir_only": "IR only", "vi_only": "visible only"}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _reasons(counts: dict[str, int]) -> str:
    parts = [f"{n} {reason}" for reason, n in counts.items() if n]
    return ", ".join(parts) if parts else "0"


def _frames_section(r: Any) -> list[Block]:
    blocks: list[Block] = [("h", 2, "Frames")]
    drops = r.recorded_drops
    rows = []
    for i, cam in enumerate(("thermal", "visible")):
        acc = r.inputs[cam]
        unpaired = r.pairing["dropped"][i]
        paired = acc["read"] - sum(acc["bad"].values()) - sum(unpaired.values())
        rows.append([cam, acc["topic"], acc["read"], paired, _reasons(unpaired), _reasons(acc["bad"]),
                     f"{acc['gaps']} gap(s), ~{acc['missing_estimate']} missing (median step {_fmt(acc['median_step_ms'], 1)} ms)",
                     "–" if drops is None else len(drops[cam])])
    blocks.append(("table", ["camera", "topic", "read", "paired", "unpaired (pairing reason)", "bad frames",
                             "stamp gaps", "dropped by make-bag"], rows))
    notes = [f"{r.pairs} pairs fused (slop {r.slop * 1000:.0f} ms, queue size {r.queue_size}: the fusion node's policy)."]
    notes.append("Pairing reasons (message_filters' ApproximateTime policy): `no_partner` = no frame of the other camera "
                 "within slop could arrive any more; `superseded` = a nearer partner was chosen instead; `queue_full` = "
                 "pushed out of a full queue; `partner_dropped` = its pair could not be proven best after a queue_full drop "
                 "on the other camera; `late` = stamp older than a frame already received from the same camera; "
                 "`duplicate` = same stamp twice; `flushed` / `pending at end` = still waiting for a partner when the "
                 "stream ended.")
    if drops is not None:
        lost = [f"{cam}: {', '.join(drops[cam])}" for cam in ("thermal", "visible") if drops[cam]]
        notes.append(f"The bag was made by `ivif make-bag` from {drops['pairs']} pairs; frames it dropped on purpose "
                     f"(simulated capture loss): {'; '.join(lost) if lost else 'none'}.")
    notes += list(r.extra.get("frame_notes", []))
    if r.extra.get("stamp_offset_advice"):
        notes.append(f"Why so few pairs: {r.extra['stamp_offset_advice']}.")
    if r.fusion_errors["count"]:
        notes.append(f"{r.fusion_errors['count']} pair(s) could not be fused: " + "; ".join(r.fusion_errors["examples"]))
    for cam in ("thermal", "visible"):
        for reason, example in r.inputs[cam]["bad_examples"].items():
            notes.append(f"Bad {cam} frame ({reason}), first example: {example}")
    blocks += [("p", n) for n in notes]
    return blocks


def _delivery_section(delivery: dict[str, Any] | None) -> list[Block]:
    """Live runs: how many of the bag's pairs reached each stage of the graph, and why the others did not."""
    if not delivery:
        return []
    what = "fused and detected" if delivery["detector"] else "fused"
    pct = 100.0 * delivery["fraction"] if delivery["pairs"] else float("nan")
    where = {"node": "detector_node on `fusion/image`", "inprocess": "fusion_node's in-process detector",
             None: "no detector"}[delivery["detector"]]
    text = (f"**{delivery['fused_and_detected']} of {delivery['pairs']} pairs {what} ({_fmt(pct, 1)} %)**: the pairs are "
            f"those the offline replay of this bag forms with the same pairing policy; a pair counts when the recorder "
            f"received its fused image{' and its detections (same stamp)' if delivery['detector'] else ''}. Detection: {where}. "
            "Each stage says how many pairs reached it and why the others did not, from the nodes' own counters (their "
            "last /diagnostics) and what the recorder received. Frames lost before pairing are counted in frames, causes "
            "first (a lost or bad frame also leaves its partner unpaired), up to the pairs lost.")
    if not delivery.get("node_counters", True):
        text += (" **fusion_node's /diagnostics were not recorded** (the run ended before its first one?): its stages "
                 "read 0 and their losses are uncounted.")
    rows = [[s["stage"], s["count"], s["lost"], _reasons(s["reasons"]) if s["lost"] else "–"] for s in delivery["stages"]]
    rows.append([f"{what} (recorded, same stamp)", delivery["fused_and_detected"], "", ""])
    return [("h", 2, "Pairs through the graph"), ("p", text), ("table", ["stage", "pairs", "lost", "why"], rows)]


def _latency_section(c: Any, mode: str) -> list[Block]:
    rows = [[stage, *(_fmt(p[k], 1) for k in ("p50", "p90", "p99", "mean", "max")), p["n"]]
            for stage, p in c.latency.items() if p["n"]]
    text = ("Per pair, milliseconds, on this machine. `decode`: both input messages to arrays; `pre`/`network`/`post`: the "
            "engine's stages; `fuse`: the engine call; `encode`: fused and α to messages; `detect`: YOLOX on the fused "
            "image; `total`: the sum." if mode == "offline" else
            "Milliseconds, measured between processes on one clock. `end_to_end`: player publishes the later input of a pair "
            "-> recorder receives `fusion/image`; `detect_after_fusion`: `fusion/image` received -> `detections` received.")
    return [("h", 2, "Latency"), ("p", text), ("table", ["stage", "p50", "p90", "p99", "mean", "max", "n"], rows)]


def _metrics_section(c: Any) -> list[Block]:
    if not c.metric_means:
        return [("h", 2, "Metrics"), ("p", "Metrics were not computed (--no-metrics).")]
    names = list(next(iter(c.metric_means.values())))
    best: dict[str, float] = {}
    for name in names:
        vals = [m[name] for m in c.metric_means.values() if not math.isnan(m[name])]
        if vals:
            best[name] = min(vals) if name == "MSE" else max(vals)
    rows = []
    for method, means in c.metric_means.items():
        cells = [_BASELINE_LABELS.get(method, method)]
        for name in names:
            cell = _fmt(means[name])
            cells.append(f"**{cell}**" if name in best and means[name] == best[name] else cell)
        rows.append(cells)
    roi = c.metric_counts.get("fused", {}).get("ROI-SSIM", 0)
    text = (f"Means over {c.scored} scored pair(s) of float 0–255 luminance (never min–max normalised); higher is better "
            f"except MSE; best per column in bold. The baselines fuse the same normalised, registered thermal frame and "
            f"the visible frame. ROI-SSIM over the {roi} pair(s) with boxes.")
    return [("h", 2, "Metrics vs baselines"), ("p", text), ("table", ["method", *names], rows)]


def _detection_section(det: dict[str, Any] | None) -> list[Block]:
    if not det:
        return []
    rows = [[name, n] for name, n in det["per_class"].items()]
    blocks: list[Block] = [("h", 2, "Detections"),
                           ("p", f"{det['total']} detections on {det['pairs']} fused image(s), "
                                 f"{_fmt(det['mean_per_pair'], 2)} per image."),
                           ("table", ["class", "detections"], rows)]
    if "map50" in det:
        m = det["map50"]
        blocks.append(("p", f"mAP@0.5 against the IR boxes in `{m['labels']}` over {m['n_images']} image(s): "
                            f"**{_fmt(m['mean_ap'])}** (at the detector's display threshold, so a lower bound of the "
                            "evaluation-threshold mAP)."))
        blocks.append(("table", ["class", "AP@0.5", "ground-truth boxes"],
                       [[k, _fmt(v), m["n_ground_truth"][k]] for k, v in m["ap"].items()]))
    return blocks


def _comparison_section(cmp: dict[str, Any] | None) -> list[Block]:
    if not cmp:
        return []
    rows = [["fused pairs offline", cmp["offline_pairs"]], ["fused frames received live", cmp["live_frames"]],
            ["matched by stamp", cmp["matched"]], ["pixel-identical (fused and α)", cmp["identical"]],
            ["largest absolute difference live − offline (fused, α)", f"{cmp['max_abs_fused']}, {cmp['max_abs_alpha']}"],
            ["offline only (lost or dropped live)", cmp["offline_only"]], ["live only", cmp["live_only"]]]
    text = ("Each fused frame received live is matched by stamp with the offline replay of the same bag (same engine "
            "settings and pairing policy): identical pixels mean the live path adds nothing but transport.")
    return [("h", 2, "Live vs offline"), ("p", text), ("table", ["", "count"], rows)]


def build_blocks(r: Any, comparison: dict[str, Any] | None, images: dict[str, str],
                 extra: Sequence[Block] = ()) -> list[Block]:
    """The report's blocks; ``extra``: sections a caller adds (e.g. the demo's calibrated pair), before the footer."""
    c = r.collected
    head = (f"Bag `{r.bag}` → `{r.out_bag or '(no output bag)'}`; backend {r.backend} on {r.device}; "
            f"{r.pairs} pairs in {r.wall_s:.1f} s wall time ({r.mode} run).")
    blocks: list[Block] = [("h", 1, f"Replay report ({r.mode})"), ("p", head)]
    blocks += _frames_section(r) + _delivery_section(r.extra.get("delivery")) + _latency_section(c, r.mode)
    if "latency" in images:
        blocks.append(("img", images["latency"], "latency per stage"))
    blocks += _metrics_section(c)
    if "metrics" in images:
        blocks += [("h", 2, "Metrics over time"), ("img", images["metrics"], "per-pair metrics")]
    if "sheet" in images:
        blocks += [("h", 2, "Contact sheet"), ("p", "IR (as the network saw it) | visible | fused | α, for a few pairs."),
                   ("img", images["sheet"], "contact sheet")]
    blocks += [("h", 2, "α histogram"), ("img", images["alpha"], "alpha histogram")]
    blocks += _detection_section(c.detections) + _comparison_section(comparison)
    blocks += list(extra)
    blocks.append(("p", "Per-pair values: `pairs.csv`; everything above as data: `summary.json`."))
    return blocks


def to_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if block[0] == "h":
            out.append("#" * block[1] + " " + block[2])
        elif block[0] == "p":
            out.append(block[1])
        elif block[0] == "img":
            out.append(f"![{block[2]}]({block[1]})")
        else:
            header, rows = block[1], block[2]
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        out.append("")
    return "\n".join(out)


def _inline(text: str) -> str:
    """Markdown's **bold** and `code` as HTML, everything else escaped."""
    parts = html.escape(text).split("`")
    text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;"
        "margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}code{background:#f3f3f3}")


def to_html(blocks: Sequence[Block], title: str) -> str:
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_CSS}</style></head><body>"]
    for block in blocks:
        if block[0] == "h":
            out.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
        elif block[0] == "p":
            out.append(f"<p>{_inline(block[1])}</p>")
        elif block[0] == "img":
            out.append(f"<p><img src='{html.escape(block[1])}' alt='{html.escape(block[2])}'></p>")
        else:
            out.append("<table><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in block[1]) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row) + "</tr>" for row in block[2]]
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(result: Any, out_dir: str | Path, comparison: dict[str, Any] | None = None,
                 extra: Sequence[Block] = ()) -> Path:
    """Write the pictures, ``report.md`` and ``report.html`` into ``out_dir``; returns the HTML path.
    ``extra``: caller's sections (:data:`Block` lists; their images already in ``out_dir``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    c = result.collected
    images = {"alpha": plots.alpha_histogram(out_dir / "alpha_hist.png", c.alpha_hist).name}
    if any(p["n"] for p in c.latency.values()):
        images["latency"] = plots.latency_boxes(out_dir / "latency.png", c.latency).name
    if c.scored:
        images["metrics"] = plots.metrics_over_time(out_dir / "metrics_over_time.png", c.series_pair, c.series,
                                                    c.metric_means).name
    sheet = plots.contact_sheet(out_dir / "contact_sheet.png", c.tiles)
    if sheet is not None:
        images["sheet"] = sheet.name
    blocks = build_blocks(result, comparison, images, extra)
    (out_dir / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    path = out_dir / "report.html"
    path.write_text(to_html(blocks, f"ivif replay report: {result.bag}"), encoding="utf-8")
    return path
