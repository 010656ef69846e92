"""How often boxes of one class lie inside boxes of another: e.g. bicycles under their riders' person boxes.

Why (docs/evaluation.md, "Anchored detection"): a fine-tune that changes people changes every pixel of their
boxes, so a bicycle whose box a person box covers changes with them, whatever holds the rest of the frame. Per
box of ``--inner`` class: the share of its pixels inside any ``--outer`` box (ROI masks as training makes them,
fusion_core.boxes.boxes_to_mask); per image: whether any such pixel exists.

    python scripts/box_overlap.py --labels runs/scoreboard_anchor/msrs/labels_det_ir --inner 1 --outer 0
    python scripts/box_overlap.py --labels ../shared/data/MSRS/trainval/labels_det_ir \\
        --exclude config/splits/msrs_dev_and_selection.txt --inner 1 --outer 0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.boxes import boxes_to_mask, read_yolo_boxes  # noqa: E402


def overlap(labels: Path, inner: int, outer: int, shape: tuple[int, int], exclude: set[str]) -> dict:
    """Shares of ``inner``-class box pixels under ``outer``-class boxes over every label file in ``labels``."""
    shares: list[float] = []
    images = images_with_overlap = 0
    for path in sorted(labels.glob("*.txt")):
        if path.stem in exclude:
            continue
        images += 1
        boxes = read_yolo_boxes(path)
        covered = boxes_to_mask(boxes, shape, [outer])
        hit = False
        for box in (b for b in boxes if b.cls == inner):
            pixels = boxes_to_mask([box], shape)
            share = float(covered[pixels].mean()) if pixels.any() else 0.0
            shares.append(share)
            hit = hit or share > 0
        images_with_overlap += hit
    arr = np.array(shares)
    return {"labels": str(labels), "inner": inner, "outer": outer, "images": images,
            "images_with_overlap": images_with_overlap, "inner_boxes": len(shares),
            "inner_boxes_at_least_30pct": int((arr >= 0.3).sum()) if len(arr) else 0,
            "median_share": float(np.median(arr)) if len(arr) else None, "mean_share": float(arr.mean()) if len(arr) else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, required=True, help="folder of YOLO label files")
    parser.add_argument("--inner", type=int, required=True, help="class whose boxes are measured (MSRS: 1 bicycle)")
    parser.add_argument("--outer", type=int, required=True, help="class whose boxes may cover them (MSRS: 0 person)")
    parser.add_argument("--size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"), help="image size (MSRS 640 480)")
    parser.add_argument("--exclude", type=Path, help="split file of stems to leave out")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.labels.is_dir():
        parser.error(f"--labels {args.labels} is not a folder")
    exclude = set(args.exclude.read_text(encoding="utf-8").split()) if args.exclude else set()
    result = overlap(args.labels, args.inner, args.outer, (args.size[1], args.size[0]), exclude)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
