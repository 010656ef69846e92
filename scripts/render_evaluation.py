"""Turn the JSON written by ``ivif eval`` into Markdown tables with a win count per fusion baseline.

    python scripts/render_evaluation.py runs/eval_dev/metrics_msrs.json [more.json ...] [--extra NAME=JSON]

``--extra NAME=JSON`` adds the ``fused`` row of another ``ivif eval`` JSON (e.g. the SSVIF model) under NAME.
``--paired BASELINE`` adds, per counted metric, how far ``fused`` is from that baseline: the mean per-pair
difference with a 95% paired-bootstrap interval (1000 resamples of the pairs, seed 0) and the share of pairs
on which ``fused`` is better; a win of the means whose interval crosses 0 is a narrow one.
The ten compared metrics are those of the project's goal (EN, SD, SF, AG, MI, SCD, VIF, Qabf, SSIM,
ROI-SSIM); MSE/PSNR are shown but not counted.
"""

from __future__ import annotations

import argparse
import json
import math

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=JSON")
    ap.add_argument("--paired", action="append", default=[], metavar="BASELINE")
    args = ap.parse_args()
    extra = dict(e.split("=", 1) for e in args.extra)
    for path in args.json:
        print(render(path, {k: v.replace("{set}", path.rsplit("_", 1)[-1].split(".")[0]) for k, v in extra.items()}))
        for baseline in args.paired:
            print(paired_margins(path, baseline))


if __name__ == "__main__":
    main()
