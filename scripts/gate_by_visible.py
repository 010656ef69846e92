"""Assemble a day/night switch offline: per frame, one model's fused image where the visible camera is dark, another's
where it is not (docs/evaluation.md, "Width", candidate ``gated``):

    python scripts/gate_by_visible.py --vi runs/screen/msrs/vi --dark runs/screen/msrs/v3wide/fused \\
        --bright runs/screen/msrs/v2/fused --limit 0.22 --out runs/screen/msrs/gated/fused

Why: v2 detects better by day and the detection fine-tunes at night, so before building a switching engine the
switch's worth is measured on fused folders that exist. A frame is dark when its visible luminance mean (BT.601, 0-1)
is at most ``--limit``. Every visible frame needs a fused image of the same stem in both folders, or nothing is written.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.io import read_visible, to_luminance  # noqa: E402


def visible_mean(path: Path) -> float:
    """Mean visible luminance of one frame, 0-1."""
    return float(to_luminance(read_visible(path)).mean()) / 255.0


def choose(vi_dir: Path, dark: Path, bright: Path, limit: float) -> dict[str, Path]:
    """Fused file name -> the file to copy: ``dark``'s where the visible frame's mean is <= ``limit``, else ``bright``'s."""
    chosen = {}
    for vi in sorted(p for p in vi_dir.iterdir() if p.is_file()):
        name = f"{vi.stem}.png"
        missing = [str(d / name) for d in (dark, bright) if not (d / name).is_file()]
        if missing:
            raise FileNotFoundError(f"no fused image for {vi.name}: {', '.join(missing)}")
        chosen[name] = (dark if visible_mean(vi) <= limit else bright) / name
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vi", type=Path, required=True, help="the visible frames")
    p.add_argument("--dark", type=Path, required=True, help="fused images used on dark frames")
    p.add_argument("--bright", type=Path, required=True, help="fused images used on the others")
    p.add_argument("--limit", type=float, required=True, help="visible luminance mean (0-1) up to which a frame is dark")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if not 0.0 < args.limit < 1.0:
        print(f"error: --limit must lie in (0, 1), got {args.limit}", file=sys.stderr)
        return 2
    try:
        chosen = choose(args.vi, args.dark, args.bright, args.limit)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, source in chosen.items():
        shutil.copyfile(source, args.out / name)
    n_dark = sum(source.parent == args.dark for source in chosen.values())
    print(f"wrote {len(chosen)} images to {args.out}: {n_dark} from {args.dark}, {len(chosen) - n_dark} from {args.bright}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
