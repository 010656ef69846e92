"""Turn the JSON written by ``ivif eval`` into Markdown tables with a win count per fusion baseline.

    python scripts/render_evaluation.py runs/eval_dev/metrics_msrs.json [more.json ...] [--extra NAME=JSON]

``--extra NAME=JSON`` adds the ``fused`` row of another ``ivif eval`` JSON (e.g. the SSVIF model) under NAME.
``--paired BASELINE`` adds, per counted metric, how far ``fused`` is from that baseline: the mean per-pair
difference with a 95% paired-bootstrap interval (1000 resamples of the pairs, seed 0) and the share of pairs
on which ``fused`` is better; a win of the means whose interval crosses 0 is a narrow one.
The ten compared metrics are those of the project's goal (EN, SD, SF, AG, MI, SCD, VIF, Qabf, SSIM,
ROI-SSIM); MSE/PSNR are shown but not counted.

Scoreboard mode (what ``scripts/scoreboard.sh`` runs):

    python scripts/render_evaluation.py --scoreboard runs/scoreboard/eval_msrs.json runs/scoreboard/eval_roadscene.json \
        --ours v2[,v3] --published SeAFusion,DATFuse,DenseFuse,TarDAL \
        [--detection DETECT_VS_SEAFUSION.json DETECT_VS_VISIBLE.json] [--json-dir docs/eval]

prints, per set, one table of means (ours, published, baselines) and, per model of ours, the verdict against the
best published value of each counted metric (:mod:`fusion_core.metrics.scoreboard`: metric directions,
paired bootstrap of per-image differences, 2000 resamples, seed 0) with the win count. Several
``--scoreboard`` files of one set (named ``*_<set>.json``) are merged method by method, so a model scored later
on the same pairs joins the table. ``--detection`` takes two ``ivif detect --json`` files whose first folder is SeAFusion's colour output and the visible
images, with our models' folders compared in ``--ours`` order. ``--json-dir`` writes
``scoreboard_<set>.json`` and ``scoreboard_detection.json`` there. ``--bars JSON_DIR`` prints, from those files,
each of issue 12's bars per model (``scripts/scoreboard.sh`` appends it to its output).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

COUNTED = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "ROI-SSIM")
FUSION_BASELINES = ("average", "max", "laplacian")


def _fmt(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def render(path: str, extra: dict[str, str]) -> str:
    data = json.load(open(path))
    names, methods = data["metrics"], dict(data["methods"])
    for label, other in extra.items():
        methods[label] = json.load(open(other))["methods"]["fused"]
    lines = [f"**{path}** — {data['pairs']} pairs, ROI-SSIM over {data.get('roi_pairs', 0)} pairs with boxes", "",
             "| method | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for m, row in methods.items():
        lines.append(f"| {m} | " + " | ".join(_fmt(row["mean"].get(n)) for n in names) + " |")
    lines.append("")
    for model in ["fused", *extra]:
        wins = []
        for b in FUSION_BASELINES:
            if b not in methods:
                continue
            got = [n for n in COUNTED if methods[model]["mean"].get(n) is not None and methods[b]["mean"].get(n) is not None
                   and methods[model]["mean"][n] > methods[b]["mean"][n]]
            comparable = sum(1 for n in COUNTED if methods[model]["mean"].get(n) is not None and methods[b]["mean"].get(n) is not None)
            wins.append(f"{b}: {len(got)}/{comparable} ({', '.join(got)})")
        lines.append(f"- `{model}` beats " + "; ".join(wins))
    return "\n".join(lines) + "\n"


def paired_margins(path: str, baseline: str, reps: int = 1000, seed: int = 0) -> str:
    """Markdown table of fused − ``baseline`` per counted metric from the per-pair values of one JSON."""
    methods = json.load(open(path))["methods"]
    ours, theirs = methods["fused"]["per_pair"], methods[baseline]["per_pair"]
    rng = np.random.default_rng(seed)
    lines = [f"fused − {baseline} per pair ({path}):", "", "| metric | pairs | mean difference | 95% interval | fused better on |",
             "|---|---|---|---|---|"]
    for name in COUNTED:
        diff = np.array([ours[k][name] - theirs[k][name] for k in ours
                         if ours[k].get(name) is not None and theirs.get(k, {}).get(name) is not None])
        diff = diff[np.isfinite(diff)]
        if diff.size == 0:
            continue
        boot = diff[rng.integers(0, diff.size, size=(reps, diff.size))].mean(axis=1)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        lines.append(f"| {name} | {diff.size} | {diff.mean():+.4f} | [{lo:+.4f}, {hi:+.4f}] | {(diff > 0).mean():.0%} |")
    return "\n".join(lines) + "\n"


SET_TITLES = {"msrs": "MSRS dev", "roadscene": "RoadScene dev"}


def _set_name(path: str) -> str:
    """'runs/scoreboard/eval_msrs.json' -> 'msrs'."""
    return Path(path).stem.rsplit("_", 1)[-1]


def load_set(paths: list[str]) -> dict[str, Any]:
    """One set's ``ivif eval`` JSON; several files of one set (e.g. a later run that scored only a new model on the
    same pairs) are merged method by method. A method in two files, or files over different pairs, is an error."""
    data = json.load(open(paths[0]))
    for path in paths[1:]:
        more = json.load(open(path))
        if (more["pairs"], more.get("roi_pairs", 0)) != (data["pairs"], data.get("roi_pairs", 0)):
            raise SystemExit(f"{path} scored {more['pairs']} pairs ({more.get('roi_pairs', 0)} with boxes), "
                             f"{paths[0]} {data['pairs']} ({data.get('roi_pairs', 0)}): not the same pairs")
        twice = sorted(set(more["methods"]) & set(data["methods"]))
        if twice:
            raise SystemExit(f"method {twice[0]!r} is in both {paths[0]} and {path}")
        data["methods"].update(more["methods"])
    return data


def scoreboard_set(paths: list[str], ours: list[str], published: list[str], reps: int, seed: int,
                   candidates: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    """Markdown (means table, then one verdict table per model of ours) and the JSON record of one set.
    ``candidates``: models of ours that are not shipped, labelled so in the tables."""
    from fusion_core.metrics.scoreboard import counted_metrics, method_mean, score

    data, path = load_set(paths), " + ".join(paths)
    per_image = {m: row["per_pair"] for m, row in data["methods"].items()}
    directions = data["higher_is_better"]
    metrics = counted_metrics(per_image, [*ours, *published], COUNTED)
    rows = list(per_image)
    name = _set_name(paths[0])
    means = {m: {k: method_mean(per_image[m], k) for k in metrics} for m in rows}
    arrow = {k: "↑" if directions[k] else "↓" for k in metrics}
    lines = [f"**{SET_TITLES.get(name, name)}** — {data['pairs']} pairs"
             + (f", ROI-SSIM over the {data['roi_pairs']} with IR boxes" if "ROI-SSIM" in metrics else "")
             + f"; {len(metrics)} counted metrics (↑ higher is better, ↓ lower)", "",
             "| method | kind | " + " | ".join(f"{k} {arrow[k]}" for k in metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]
    for m in rows:
        kind = "candidate" if m in candidates else "ours" if m in ours else "published" if m in published else "baseline"
        best = {k: m in published and means[m][k] == (max if directions[k] else min)(means[p][k] for p in published)
                for k in metrics}
        cells = [f"**{_fmt(means[m][k])}**" if best[k] else _fmt(means[m][k]) for k in metrics]
        lines.append(f"| {m} | {kind} | " + " | ".join(cells) + " |")
    lines += ["", "Bold: the best published value of each column (the bar).", ""]
    record: dict[str, Any] = {"set": name, "source": path, "pairs": data["pairs"], "roi_pairs": data.get("roi_pairs", 0),
                              "metrics": list(metrics), "higher_is_better": {k: directions[k] for k in metrics},
                              "published": published, "ours": ours, "candidates": list(candidates),
                              "baselines": [m for m in rows if m not in ours and m not in published],
                              "means": {m: {k: (v if math.isfinite(v) else None) for k, v in means[m].items()} for m in rows},
                              "bootstrap": {"reps": reps, "seed": seed, "level": 0.95, "of": "mean per-image difference"},
                              "scoreboards": {},
                              # the per-image values behind every verdict (ours and published; None = undefined)
                              "per_image": {m: {stem: {k: row.get(k) for k in metrics} for stem, row in per_image[m].items()}
                                            for m in [*ours, *published]}}
    for model in ours:
        board = score(per_image, model, published, metrics, directions, reps=reps, seed=seed)
        record["scoreboards"][model] = board.to_dict()
        tag = " (candidate, not shipped)" if model in candidates else ""
        lines += [f"`{model}`{tag} against the best published method per metric: **{board.wins}/{len(metrics)} wins**"
                  + (f" ({', '.join(board.won)})" if board.won else ""), "",
                  f"| metric | {model} | best published | {model} − best | 95% interval | images | win |",
                  "|---|---|---|---|---|---|---|"]
        for v in board.verdicts:
            behind = v.margin.high < 0 if v.higher_is_better else v.margin.low > 0
            verdict = (("**yes**" if v.clear else "yes, interval crosses 0") if v.win
                       else "no, clearly behind" if behind else "no, interval crosses 0")
            lines.append(f"| {v.metric} {arrow[v.metric]} | {_fmt(v.ours)} | {_fmt(v.best)} ({v.best_method}) | {v.margin.mean:+.4f} "
                         f"| [{v.margin.low:+.4f}, {v.margin.high:+.4f}] | {v.margin.n} | {verdict} |")
        lines.append("")
    return "\n".join(lines), record


def scoreboard_detection(vs_first: str, vs_visible: str, ours: list[str], candidates: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    """Markdown and JSON record of YOLOX-nano mAP@0.5: SeAFusion colour, visible, ours, with paired intervals."""
    a, b = json.load(open(vs_first)), json.load(open(vs_visible))
    for blob, path in ((a, vs_first), (b, vs_visible)):
        if len(blob["folders"]) != 1 + len(ours):
            raise SystemExit(f"{path}: {len(blob['folders'])} folders, expected the reference then {len(ours)} of ours ({', '.join(ours)})")
    if a["n_images"] != b["n_images"]:
        raise SystemExit(f"{vs_first} and {vs_visible} scored different image counts ({a['n_images']} vs {b['n_images']})")
    rows = {"SeAFusion (colour)": a["folders"][0], "visible only": b["folders"][0]}
    rows.update({m + (" (candidate)" if m in candidates else ""): a["folders"][i + 1] for i, m in enumerate(ours)})
    classes = list(a["folders"][0]["ap50"])
    diff = a["differences_vs_first"][0]
    lines = [f"YOLOX-nano on MSRS dev ({a['n_images']} images, `labels_det_ir`), AP@0.5 and mAP@0.5 "
             f"(paired bootstrap over images, {diff['reps']} resamples, seed {diff['seed']}):", "",
             "| input | " + " | ".join(classes) + " | mAP@0.5 |", "|---|" + "---|" * (len(classes) + 1)]
    for label, row in rows.items():
        lines.append(f"| {label} | " + " | ".join(_fmt(row["ap50"][c]) for c in classes) + f" | {_fmt(row['map50'])} |")
    lines.append("")
    record: dict[str, Any] = {"n_images": a["n_images"], "reps": diff["reps"], "seed": diff["seed"],
                              "map50": {k: r["map50"] for k, r in rows.items()}, "ap50": {k: r["ap50"] for k, r in rows.items()},
                              "differences": {}}
    for i, model in enumerate(ours):
        da, db = a["differences_vs_first"][i], b["differences_vs_first"][i]
        record["differences"][model] = {"vs_seafusion_colour": {"observed": da["observed"], "ci95": da["ci95"]},
                                        "vs_visible": {"observed": db["observed"], "ci95": db["ci95"]}}
        lines.append(f"- `{model}` − SeAFusion colour: {da['observed']:+.3f}, 95% [{da['ci95'][0]:+.3f}, {da['ci95'][1]:+.3f}]; "
                     f"`{model}` − visible: {db['observed']:+.3f}, 95% [{db['ci95'][0]:+.3f}, {db['ci95'][1]:+.3f}]")
    return "\n".join(lines) + "\n", record


# Issue 12's bars for a default v3: wins against the best published method per set, and YOLOX-nano mAP@0.5 above
# SeAFusion's colour output by at least DETECTION_BAR with the paired interval clear of 0. (Its fourth bar, fusion
# time within 2x v2's, comes from one `ivif bench` run, not from these files.)
WIN_BARS = {"msrs": 8, "roadscene": 7}
DETECTION_BAR = 0.02


def bars_table(json_dir: Path) -> str:
    """Markdown: per model of ours, each bar of issue 12 from ``scoreboard_{msrs,roadscene,detection}.json``."""
    try:
        sets = {name: json.loads((json_dir / f"scoreboard_{name}.json").read_text()) for name in WIN_BARS}
        detection = json.loads((json_dir / "scoreboard_detection.json").read_text())
    except FileNotFoundError as exc:
        raise SystemExit(f"--bars {json_dir}: {exc.filename} is missing; run scripts/scoreboard.sh first") from None
    lines = ["Issue 12's bars per model (the fourth, fusion time ≤ 2× v2's, comes from `ivif bench`):", "",
             f"| model | MSRS wins (≥ {WIN_BARS['msrs']}) | RoadScene wins (≥ {WIN_BARS['roadscene']}) "
             f"| mAP@0.5 − SeAFusion colour (≥ +{DETECTION_BAR}, interval above 0) | bars met |", "|---|---|---|---|---|"]
    for model in sets["msrs"]["ours"]:
        cells, met = [], 0
        for name, bar in WIN_BARS.items():
            board = sets[name]["scoreboards"].get(model)
            if board is None:
                raise SystemExit(f"--bars: {model!r} is in scoreboard_msrs.json but not in scoreboard_{name}.json")
            cells.append(f"{board['wins']}/{board['counted']}" + (" **met**" if board["wins"] >= bar else ""))
            met += board["wins"] >= bar
        diff = detection["differences"][model]["vs_seafusion_colour"]
        low, high = diff["ci95"]
        detected = diff["observed"] >= DETECTION_BAR and low > 0
        cells.append(f"{diff['observed']:+.3f} [{low:+.3f}, {high:+.3f}]" + (" **met**" if detected else ""))
        label = model + (" (candidate)" if model in sets["msrs"]["candidates"] else "")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {met + detected} of 3 |")
    return "\n".join(lines) + "\n"


def scoreboard_main(args: argparse.Namespace) -> None:
    ours = [m for m in args.ours.split(",") if m]
    published = [m for m in args.published.split(",") if m]
    candidates = tuple(m for m in args.candidates.split(",") if m)
    out_dir = Path(args.json_dir) if args.json_dir else None
    sets: dict[str, list[str]] = {}
    for path in args.scoreboard:
        sets.setdefault(_set_name(path), []).append(path)
    for paths in sets.values():
        text, record = scoreboard_set(paths, ours, published, args.reps, args.seed, candidates)
        print(text)
        if out_dir is not None:
            _dump(out_dir / f"scoreboard_{record['set']}.json", record)
    if args.detection:
        text, record = scoreboard_detection(*args.detection, ours, candidates)
        print(text)
        if out_dir is not None:
            _dump(out_dir / "scoreboard_detection.json", record)


def _dump(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="*")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=JSON")
    ap.add_argument("--paired", action="append", default=[], metavar="BASELINE")
    ap.add_argument("--scoreboard", nargs="+", default=[], metavar="EVAL_JSON", help="scoreboard mode (see above)")
    ap.add_argument("--ours", default="v2", help="comma-separated labels of our models in the eval JSON")
    ap.add_argument("--candidates", default="", help="comma-separated models of --ours that are candidates, not shipped")
    ap.add_argument("--published", default="SeAFusion,DATFuse,DenseFuse,TarDAL", help="comma-separated published labels")
    ap.add_argument("--detection", nargs=2, default=None, metavar=("VS_SEAFUSION_JSON", "VS_VISIBLE_JSON"))
    ap.add_argument("--json-dir", default=None, help="write scoreboard_<set>.json / scoreboard_detection.json here")
    ap.add_argument("--reps", type=int, default=2000, help="bootstrap resamples of the scoreboard (default 2000)")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed of the scoreboard (default 0)")
    ap.add_argument("--bars", type=Path, default=None, metavar="JSON_DIR",
                    help="print issue 12's bars per model from the scoreboard_*.json in JSON_DIR")
    args = ap.parse_args()
    if args.bars is not None:
        print(bars_table(args.bars))
        return
    if args.scoreboard:
        scoreboard_main(args)
        return
    if not args.json:
        ap.error("give eval JSON files, or --scoreboard EVAL_JSON ...")
    extra = dict(e.split("=", 1) for e in args.extra)
    for path in args.json:
        print(render(path, {k: v.replace("{set}", path.rsplit("_", 1)[-1].split(".")[0]) for k, v in extra.items()}))
        for baseline in args.paired:
            print(paired_margins(path, baseline))


if __name__ == "__main__":
    main()
