"""How much detection could "targets look like the thermal image" buy? An oracle on the selection pairs (issue 12).

The target-aware loss pulls the fused luminance inside every labelled box towards a target intensity, whatever
the box's class. This asks the shipped detector which targets gain from looking like the thermal image, using
the labels themselves (so it is a ceiling, not a method): the reference fusion's luminance inside the boxes of
the given classes (each box grown by 10 %, the mask blurred by σ 2 px) is replaced by a blend ``w`` of the way to
the IR image, the chroma kept; YOLOX-nano (``ivif detect``, paired bootstrap against the reference) scores each
variant and the bare IR image.

    python scripts/roi_oracle.py runs/screen --reference v2 --json docs/eval/roi_oracle_selection.json

(``runs/screen`` as made by ``scripts/selection_screen.py pairs`` and the reference fused into ``<set>/<name>``.)
On the dev split, as a ceiling of what the lever could give against the detection bar (the variants then scored
against SeAFusion's colour output, and by ``ivif eval`` against the published methods):

    python scripts/roi_oracle.py runs/scoreboard_bal --reference v3baltone --variants person_ir,person_half_ir \
        --detect-against ../shared/data/anchors/SeAFusion/MSRS_dev_color --reps 2000 --json OUT.json
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.boxes import read_yolo_boxes  # noqa: E402

VARIANTS = {  # name: (classes, blend towards IR, classes whose boxes are kept out of the mask)
    "person_ir": ((0,), 1.0, ()), "person_half_ir": ((0,), 0.5, ()), "bicycle_ir": ((1,), 1.0, ()),
    "car_ir": ((2,), 1.0, ()), "all_ir": ((0, 1, 2), 1.0, ()),
    # added after the dev split showed riders' bicycles losing what people gain (docs/evaluation.md)
    "person_ir_not_bicycle": ((0,), 1.0, (1,)),
}
DEFAULT_VARIANTS = ("person_ir", "person_half_ir", "bicycle_ir", "car_ir", "all_ir")
GROW = 0.1
SIGMA = 2.0


def box_mask(label: Path, shape: tuple[int, int], classes: tuple[int, ...]) -> np.ndarray:
    """(H, W) float mask of the grown boxes of ``classes`` in a YOLO label file, blurred by ``SIGMA``."""
    h, w = shape
    mask = np.zeros(shape, np.float32)
    for b in read_yolo_boxes(label):
        if b.cls in classes:
            x0, x1 = int((b.cx - b.w / 2 * (1 + GROW)) * w), int((b.cx + b.w / 2 * (1 + GROW)) * w)
            y0, y1 = int((b.cy - b.h / 2 * (1 + GROW)) * h), int((b.cy + b.h / 2 * (1 + GROW)) * h)
            mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 1.0
    return cv2.GaussianBlur(mask, (0, 0), SIGMA)


def variant_mask(label: Path, shape: tuple[int, int], variant: str) -> np.ndarray:
    """The mask of ``variant``: its classes' boxes, less the boxes of the classes it keeps out."""
    classes, _, kept_out = VARIANTS[variant]
    mask = box_mask(label, shape, classes)
    if kept_out:
        mask *= 1.0 - box_mask(label, shape, kept_out)
    return mask


def blend_towards_ir(fused_bgr: np.ndarray, ir: np.ndarray, mask: np.ndarray, weight: float) -> np.ndarray:
    """The fused image with its luminance moved ``weight · mask`` of the way to ``ir`` (chroma kept)."""
    ycc = cv2.cvtColor(fused_bgr, cv2.COLOR_BGR2YCrCb).astype(np.float32)
    m = weight * mask
    ycc[..., 0] = ycc[..., 0] * (1.0 - m) + ir.astype(np.float32) * m
    return cv2.cvtColor(np.clip(np.rint(ycc), 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2BGR)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", type=Path, help="screen folder (its msrs/ holds ir/, labels_det_ir/ and the reference)")
    p.add_argument("--reference", default="v2", help="fused folder name under <root>/msrs (default v2)")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help=f"comma-separated subset of {', '.join(VARIANTS)} (default {', '.join(DEFAULT_VARIANTS)})")
    p.add_argument("--detect-against", type=Path,
                   help="images the variants are compared with by ivif detect (default the reference fusion)")
    p.add_argument("--reps", type=int, default=1000, help="paired bootstrap resamples (default 1000)")
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args(argv)
    names = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    msrs = args.root / "msrs"
    fused = msrs / args.reference / "fused"
    folders = []
    for name in names:
        weight = VARIANTS[name][1]
        out = msrs / (f"oracle_{name}" if args.reference == "v2" else f"{args.reference}_oracle_{name}")
        out.mkdir(exist_ok=True)
        for path in sorted(fused.glob("*.png")):
            ir = cv2.imread(str(msrs / "ir" / path.name), cv2.IMREAD_GRAYSCALE)
            mask = variant_mask(msrs / "labels_det_ir" / f"{path.stem}.txt", ir.shape, name)
            cv2.imwrite(str(out / path.name), blend_towards_ir(cv2.imread(str(path)), ir, mask, weight))
        folders.append(str(out))
    base = args.detect_against or fused
    compare = [str(fused), *folders] if args.detect_against else [*folders, str(msrs / "ir")]
    cmd = ["ivif", "detect", "--images", str(base), "--labels", str(msrs / "labels_det_ir"), "--compare", *compare,
           "--reps", str(args.reps), "--json", str(args.json)]
    return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
