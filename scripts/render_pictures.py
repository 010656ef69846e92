"""Picture grids for the README and docs/evaluation.md: one row per pair, one column per image.

    python scripts/render_pictures.py runs/eval_dev/msrs 00004N 00213D --out docs/images/hero.png
    python scripts/render_pictures.py runs/eval_dev/msrs 00004N 00213D --baselines average,max,laplacian \\
        --model default=model --model ssvif=ssvif --scale 0.25 --labels --out docs/images/compare_msrs.png

``DIR`` is a folder as ``scripts/eval_dev.sh`` leaves it: ``ir/``, ``vi/`` and one ``<subdir>/{fused,alpha}/``
per model. Columns: IR, visible, each ``--baselines`` image (computed here with
``fusion_core.baselines``), each ``--model``'s fused image, then the first model's α (inferno colour map,
bright = thermal).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from fusion_core.baselines import fuse_baseline_image
from fusion_core.io import list_images, read_thermal, read_visible


def _path(folder: Path, stem: str) -> Path:
    """The image with this stem in ``folder``, by the same stem matching as ``ivif fuse``."""
    path = list_images(folder).get(stem)
    if path is None:
        raise SystemExit(f"no image {stem}.* in {folder}")
    return path


def _bgr(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def tiles(root: Path, stem: str, baselines: list[str], models: list[tuple[str, str]]) -> list[tuple[str, np.ndarray]]:
    """(label, BGR uint8 image) for every column of one row."""
    ir, vi = read_thermal(_path(root / "ir", stem)), read_visible(_path(root / "vi", stem))
    ir8 = ir if ir.dtype == np.uint8 else (ir / 257).astype(np.uint8)
    out = [("IR", _bgr(ir8)), ("visible", _bgr(vi))]
    out += [(name, _bgr(fuse_baseline_image(name, ir, vi))) for name in baselines]
    out += [(label, cv2.imread(str(_path(root / sub / "fused", stem)), cv2.IMREAD_COLOR)) for label, sub in models]
    alpha = cv2.imread(str(_path(root / models[0][1] / "alpha", stem)), cv2.IMREAD_GRAYSCALE)
    return out + [(f"alpha ({models[0][0]})", cv2.applyColorMap(alpha, cv2.COLORMAP_INFERNO))]


def row(columns: list[tuple[str, np.ndarray]], scale: float, labels: bool) -> np.ndarray:
    shown = []
    for label, image in columns:
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if labels:
            (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
            cv2.rectangle(small, (0, 0), (w + 8, h + 8), (0, 0, 0), -1)  # readable on bright scenes too
            cv2.putText(small, label, (4, h + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        shown.append(small)
    return np.hstack(shown)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("stems", nargs="+")
    ap.add_argument("--out", type=Path, default=Path("docs/images/hero.png"))
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--baselines", default="", help="comma-separated fusion_core.baselines names")
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=SUBDIR", help="default: model=model")
    ap.add_argument("--labels", action="store_true", help="write each column's name on its tile")
    args = ap.parse_args()
    models = [tuple(m.split("=", 1)) for m in args.model] or [("model", "model")]
    baselines = [b for b in args.baselines.split(",") if b]
    rows = [row(tiles(args.dir, s, baselines, models), args.scale, args.labels) for s in args.stems]
    # Pairs of different sizes (RoadScene) give rows of different shapes: pad them onto one canvas.
    canvas = np.zeros((sum(r.shape[0] for r in rows), max(r.shape[1] for r in rows), 3), np.uint8)
    y = 0
    for r in rows:
        canvas[y:y + r.shape[0], :r.shape[1]] = r
        y += r.shape[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), canvas)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
