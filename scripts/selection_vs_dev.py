"""How well the selection screen's detection gain forecast the dev split's, over every candidate scored on both.

Why (docs/evaluation.md, "What the selection screen forecasts"): candidates go to the dev split on a rule read
from the 65 held-out MSRS selection pairs (mAP ≥ v2 + 0.02). Whether that rule picks what the dev bar needs is
itself measurable from the committed JSON: each candidate's mAP@0.5 minus v2's on the selection pairs
(``docs/eval/*selection_detection.json``, ``folders[].map50``) against the same on the dev split
(``docs/eval/scoreboard*/scoreboard_detection.json``, ``map50``). Nothing is re-run.

    python scripts/selection_vs_dev.py --json docs/eval/selection_vs_dev.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO / "docs" / "eval"

# (name, selection JSON, folder name in it, dev JSON): every candidate held out of the selection pairs and scored
# on the dev split, as committed.
CANDIDATES: tuple[tuple[str, str, str, str], ...] = (
    ("v3detlong", "v3detlong2_selection_detection.json", "v3detlong", "scoreboard_detection.json"),
    ("v3detlong2", "v3detlong2_selection_detection.json", "v3detlong2", "scoreboard_detection.json"),
    ("v3aug", "v3aug_selection_detection.json", "v3aug", "scoreboard_augmented/scoreboard_detection.json"),
    ("v3baltone", "v3bal_selection_detection.json", "v3baltone", "scoreboard_balanced/scoreboard_detection.json"),
    ("v3roidet", "v3roi_selection_detection.json", "v3roidet", "scoreboard_roi/scoreboard_detection.json"),
    ("v3roimax", "v3roimax_selection_detection.json", "v3roimax", "scoreboard_roimax/scoreboard_detection.json"),
    ("v3wide", "v3wide_selection_detection.json", "v3wide", "scoreboard_wide/scoreboard_detection.json"),
    ("v3widetone", "v3wide_selection_detection.json", "v3widetone", "scoreboard_wide/scoreboard_detection.json"),
    ("v3wideroidet", "v3wideroidet_selection_detection.json", "v3wideroidet", "scoreboard_wideroidet/scoreboard_detection.json"),
    ("v3wideroidettone", "v3wideroidet_selection_detection.json", "v3wideroidettone",
     "scoreboard_wideroidet/scoreboard_detection.json"),
    ("v3anchorroidet", "anchor_selection_detection.json", "v3anchorroidet", "scoreboard_anchor/scoreboard_detection.json"),
    ("v3anchorrider", "anchorrider_selection_detection.json", "v3anchorrider", "scoreboard_anchorrider/scoreboard_detection.json"),
    ("v3anchorroidet384", "crop384_selection_detection.json", "v3anchorroidet384", "scoreboard_crop384/scoreboard_detection.json"),
    # Not trained: v2's and v3baltone's weights with the label-free hot-target stage, so nothing in them was fitted
    # to (or held out of) the selection pairs beyond what v2 and v3baltone already were.
    ("v2hot", "hot_selection_detection.json", "v2hot", "scoreboard_hot/scoreboard_detection.json"),
    ("v3baltonehot", "hot_selection_detection.json", "v3baltonehot", "scoreboard_hot/scoreboard_detection.json"),
)


def selection_gain(path: Path, folder: str) -> float:
    """The candidate's selection mAP minus v2's (the folder named ``v2``) in one ``ivif detect`` JSON."""
    maps = {Path(f["images"]).parent.name: f["map50"] for f in json.loads(path.read_text(encoding="utf-8"))["folders"]}
    return maps[folder] - maps["v2"]


def dev_gain(path: Path, name: str) -> float:
    """The candidate's dev mAP minus v2's in one scoreboard detection JSON."""
    maps = json.loads(path.read_text(encoding="utf-8"))["map50"]
    return maps[f"{name} (candidate)"] - maps["v2"]


def compare(eval_dir: Path = EVAL) -> dict:
    rows = [{"name": name, "selection_minus_v2": selection_gain(eval_dir / sel, folder),
             "dev_minus_v2": dev_gain(eval_dir / dev, name)} for name, sel, folder, dev in CANDIDATES]
    xs, ys = [r["selection_minus_v2"] for r in rows], [r["dev_minus_v2"] for r in rows]
    passed = [r for r in rows if r["selection_minus_v2"] >= 0.02]
    return {"rows": rows, "candidates": len(rows), "pearson_r": statistics.correlation(xs, ys),
            "passed_rule": len(passed),
            "passed_mean_selection": statistics.fmean(r["selection_minus_v2"] for r in passed),
            "passed_mean_dev": statistics.fmean(r["dev_minus_v2"] for r in passed),
            "passed_max_dev": max(r["dev_minus_v2"] for r in passed),
            "passed_pearson_r": statistics.correlation([r["selection_minus_v2"] for r in passed], [r["dev_minus_v2"] for r in passed])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = compare()
    print(f"{'candidate':<20}{'selection − v2':>16}{'dev − v2':>12}")
    for r in result["rows"]:
        print(f"{r['name']:<20}{r['selection_minus_v2']:>+16.4f}{r['dev_minus_v2']:>+12.4f}")
    print(f"{result['passed_rule']} of {result['candidates']} passed the selection rule (>= +0.02): mean selection "
          f"{result['passed_mean_selection']:+.4f}, mean dev {result['passed_mean_dev']:+.4f}, best dev "
          f"{result['passed_max_dev']:+.4f}; Pearson r {result['passed_pearson_r']:+.2f} among them, "
          f"{result['pearson_r']:+.2f} over all")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
