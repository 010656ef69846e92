"""YOLOX-nano AP by day and by night: MSRS names its pairs ``<index>D`` and ``<index>N`` (issue 12).

Why: the detection fine-tunes gain on the selection pairs and not on the dev split, and mAP over a whole set
mixes two different problems (by day the visible camera sees the targets; at night mostly the thermal one).
This links each folder's day and night images into ``OUT/<D|N>/<name>/`` (with their labels) and runs
``ivif detect`` on each half, the first folder the reference of the paired bootstrap:

    python scripts/detection_day_night.py --labels runs/scoreboard_roimax/msrs/labels_det_ir \\
        --fused v2=runs/scoreboard_roimax/msrs/v2/fused --fused v3roimax=runs/scoreboard_roimax/msrs/v3roimax/fused \\
        --work runs/day_night_dev --json docs/eval/day_night_dev.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.cli.evaluate import parse_fused  # noqa: E402
from fusion_core.errors import ConfigError  # noqa: E402

HALVES = {"D": "day", "N": "night"}


def link_half(src: Path, dst: Path, suffix: str, pattern: str) -> int:
    """Symlink the files of ``src`` matching ``pattern`` whose stem ends in ``suffix`` into ``dst``; their count."""
    dst.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(src.glob(pattern)):
        if path.stem.endswith(suffix):
            link = dst / path.name
            if not link.exists():
                link.symlink_to(path.resolve())
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--fused", action="append", required=True, help="NAME=DIR, repeat; the first is the reference")
    p.add_argument("--work", type=Path, required=True, help="folder for the linked halves")
    p.add_argument("--reps", type=int, default=1000)
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        folders = parse_fused(args.fused)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = {}
    for suffix, half in HALVES.items():
        names = [str(args.work / half / name) for name in folders]
        counts = [link_half(folder, Path(name), suffix, "*.png") for folder, name in zip(folders.values(), names)]
        if len(set(counts)) != 1:
            print(f"error: the folders hold different numbers of {half} images: {counts}", file=sys.stderr)
            return 2
        link_half(args.labels, args.work / half / "labels", suffix, "*.txt")
        out = args.work / f"{half}.json"
        cmd = ["ivif", "detect", "--images", names[0], "--labels", str(args.work / half / "labels"), "--compare", *names[1:],
               "--reps", str(args.reps), "--json", str(out)]
        if subprocess.run(cmd, check=False).returncode != 0:
            return 1
        report[half] = {"images": counts[0], **json.loads(out.read_text())}
    args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
