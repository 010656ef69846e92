"""Screen fusion variants on held-out selection pairs and project their wins onto the dev scoreboard (issue 12).

Why: a candidate scored on the dev split and then picked would be selected on the dev split. So a variant is
judged first on pairs no candidate trained on, by a rule fixed before its dev score is seen, and only a
variant that passes is scored on the dev split (``scripts/scoreboard.sh``). The *projection* is that rule's
yardstick: per metric, the reference model's dev mean (``docs/eval/scoreboard_<set>.json``) plus the
variant's mean difference to the reference on the selection pairs, compared with the best published dev
mean. It forecasts which bars a variant could meet; it is not a result.

Selection pairs (the same as docs/evaluation.md's screens): MSRS/trainval stems in
config/splits/msrs_dev_and_selection.txt and not in config/splits/msrs_dev.txt (65, IR-side boxes for
ROI-SSIM), and the first 40 of every third sorted RoadScene/trainval stem outside
config/splits/roadscene_dev.txt. The shipped v2 trained on all of them (only the v3 selection runs hold them
out), which is why only differences to v2 are read, never v2's own values.

    python scripts/selection_screen.py pairs runs/screen
    ivif fuse --ir runs/screen/msrs/ir --vi runs/screen/msrs/vi --out runs/screen/msrs/v2     # and roadscene,
    ivif fuse ... --model CANDIDATE.pt --out runs/screen/msrs/NAME                             # per candidate
    python scripts/selection_screen.py shift runs/screen --shift 2:0.3 8:0.6                   # optional
    python scripts/selection_screen.py score runs/screen --json OUT.json

``shift`` writes, from the reference's fusion, variants whose base (Gaussian blur at σ) is moved a fraction
w of the way to the sources' average base: how far SSIM can rise, and at what cost to SD and EN, without
retraining (docs/evaluation.md, "SSIM against SD on MSRS").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from fusion_core.io import read_thermal, read_visible, to_luminance
from training.data import read_split, read_split_excluding

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SETS = {"msrs": "MSRS", "roadscene": "RoadScene"}
ROADSCENE_PAIRS = 40


def selection_stems(name: str) -> list[str]:
    """The selection stems of ``name`` ('msrs' or 'roadscene'), sorted, from the committed split files."""
    if name == "msrs":
        return sorted(read_split_excluding(REPO / "config/splits/msrs_dev_and_selection.txt", REPO / "config/splits/msrs_dev.txt"))
    dev = set(read_split(REPO / "config/splits/roadscene_dev.txt"))
    rest = sorted(p.stem for p in (DATA / "RoadScene" / "trainval" / "ir").iterdir() if p.stem not in dev)
    return rest[::3][:ROADSCENE_PAIRS]


def link_pairs(out: Path) -> None:
    """OUT/<set>/{ir,vi}[/labels_det_ir] as symlinks to the selection pairs in ../shared/data."""
    for name, folder in SETS.items():
        root = DATA / folder / "trainval"
        stems = selection_stems(name)
        subdirs = ["ir", "vi"] + (["labels_det_ir"] if name == "msrs" else [])
        for sub in subdirs:
            target = out / name / sub
            target.mkdir(parents=True, exist_ok=True)
            for stem in stems:
                found = sorted((root / sub).glob(stem + ".*"))
                if not found:
                    if sub == "labels_det_ir":
                        continue  # a pair without boxes: ROI-SSIM is undefined there, as in ivif eval
                    raise SystemExit(f"{root / sub} has no file for selection stem {stem}")
                link = target / found[0].name
                if not link.exists():
                    link.symlink_to(found[0])
        print(f"{name}: {len(stems)} pairs linked under {out / name}")


def base_shift(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, sigma: float, weight: float) -> np.ndarray:
    """``fused`` + weight · (blur(average of the sources) − blur(fused)), all float luminance 0–255 (H, W)."""
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)  # noqa: E731
    return fused + weight * (blur(0.5 * (ir + vi)) - blur(fused))


def write_shifts(out: Path, reference: str, shifts: list[str]) -> None:
    """OUT/<set>/<reference>_base<σ>_<w>/fused/<stem>.png: grey luminance with the base moved (see base_shift).
    Every spec is checked before anything is written; each pair is read once for all of them."""
    specs = {}
    for spec in shifts:
        try:
            specs[spec] = tuple(float(x) for x in spec.split(":"))
        except ValueError:
            specs[spec] = ()
        if len(specs[spec]) != 2:
            raise SystemExit(f"--shift {spec!r}: expected SIGMA:W, e.g. 2:0.3")
    sources = [name for name in SETS if (out / name / reference / "fused").is_dir()]
    if not sources:
        raise SystemExit(f"no {reference}/fused folder under {out}/<set>: fuse the selection pairs first")
    for name in sources:
        targets = {spec: out / name / f"{reference}_base{spec.replace(':', '_')}" / "fused" for spec in specs}
        for target in targets.values():
            target.mkdir(parents=True, exist_ok=True)
        for path in sorted((out / name / reference / "fused").iterdir()):
            ir = to_luminance(read_thermal(next((out / name / "ir").glob(path.stem + ".*"))))
            vi = to_luminance(read_visible(next((out / name / "vi").glob(path.stem + ".*"))))
            fused = to_luminance(read_visible(path))
            for spec, (sigma, weight) in specs.items():
                shifted = base_shift(fused, ir, vi, sigma, weight)
                cv2.imwrite(str(targets[spec] / f"{path.stem}.png"), np.clip(np.rint(shifted), 0, 255).astype(np.uint8))
        for target in targets.values():
            print(f"{name}: wrote {target}")


def project(selection_means: dict[str, dict[str, float]], reference: str, board: dict) -> dict[str, dict]:
    """Per model: projected dev mean per metric, whether it beats the best published dev mean, and the count.

    ``selection_means``: model -> metric -> mean on the selection pairs (``reference`` among them);
    ``board``: a committed ``docs/eval/scoreboard_<set>.json`` holding ``reference``'s dev means."""
    dev = board["means"][reference]
    best = {v["metric"]: v for v in board["scoreboards"][reference]["metrics"]}
    result = {}
    for model, means in selection_means.items():
        rows = {}
        for metric, verdict in best.items():
            projected = dev[metric] + means[metric] - selection_means[reference][metric]
            up = verdict["higher_is_better"]
            rows[metric] = {"projected": projected, "best": verdict["best"], "best_method": verdict["best_method"],
                            "win": bool(projected > verdict["best"] if up else projected < verdict["best"])}
        result[model] = {"metrics": rows, "wins": sum(r["win"] for r in rows.values()), "counted": len(rows)}
    return result


def score(out: Path, reference: str) -> dict:
    """``ivif eval`` of every OUT/<set>/<model>/fused on its selection pairs, then :func:`project` per set."""
    report = {}
    for name, board_name in (("msrs", "msrs"), ("roadscene", "roadscene")):
        models = sorted(p.parent.name for p in (out / name).glob("*/fused"))
        if reference not in models:
            continue
        eval_json = out / name / "eval.json"
        cmd = [sys.executable, "-m", "fusion_core.cli.main", "eval", "--ir", str(out / name / "ir"), "--vi", str(out / name / "vi"),
               "--json", str(eval_json), *[f"--fused={m}={out / name / m / 'fused'}" for m in models]]
        if (out / name / "labels_det_ir").is_dir():
            cmd += ["--boxes", str(out / name / "labels_det_ir")]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        scored = json.loads(eval_json.read_text())
        means = {m: scored["methods"][m]["mean"] for m in models}
        board = json.loads((REPO / "docs" / "eval" / f"scoreboard_{board_name}.json").read_text())
        report[name] = {"pairs": scored["pairs"], "selection_means": means, "projection": project(means, reference, board)}
        print_projection(name, scored["pairs"], report[name]["projection"])
    return report


def print_projection(name: str, pairs: int, projection: dict[str, dict]) -> None:
    metrics = list(next(iter(projection.values()))["metrics"])
    print(f"\n{name}, {pairs} selection pairs: projected dev means (reference dev + selection difference); * beats the best published")
    print("model".ljust(24) + "".join(m.rjust(10) for m in metrics) + "   wins")
    for model, row in projection.items():
        cells = "".join(f"{r['projected']:9.3f}{'*' if r['win'] else ' '}" for r in row["metrics"].values())
        print(model.ljust(24) + cells + f"   {row['wins']}/{row['counted']}")
    first = next(iter(projection.values()))["metrics"].values()
    print("best published".ljust(24) + "".join(f"{r['best']:9.3f} " for r in first))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pairs", help="link the selection pairs under OUT")
    p.add_argument("out", type=Path)
    p = sub.add_parser("shift", help="write base-shifted variants of the reference's fusion")
    p.add_argument("out", type=Path)
    p.add_argument("--reference", default="v2")
    p.add_argument("--shift", nargs="+", required=True, metavar="SIGMA:W")
    p = sub.add_parser("score", help="score every fused folder and project onto the dev scoreboard")
    p.add_argument("out", type=Path)
    p.add_argument("--reference", default="v2", help="model with dev means in docs/eval/scoreboard_*.json (default v2)")
    p.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.command == "pairs":
        link_pairs(args.out)
    elif args.command == "shift":
        write_shifts(args.out, args.reference, args.shift)
    else:
        report = score(args.out, args.reference)
        if not report:
            raise SystemExit(f"no {args.reference}/fused folder under {args.out}/<set>: fuse the selection pairs first")
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
            print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
