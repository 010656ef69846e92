"""Draw the README picture: rows of IR | visible | fused | α (inferno colour map) at half size.

    python scripts/render_hero.py runs/eval_dev/msrs 00004N 00213D --out docs/images/hero.png

``DIR`` is a folder laid out as ``scripts/eval_dev.sh`` leaves it: ``ir/``, ``vi/`` and ``model/{fused,alpha}/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def _read(folder: Path, stem: str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    path = next(folder.glob(stem + ".*"))
    image = cv2.imread(str(path), flags)
    if image is None:
        raise SystemExit(f"could not read {path}")
    return image


def row(root: Path, stem: str, scale: float) -> np.ndarray:
    alpha = cv2.applyColorMap(_read(root / "model" / "alpha", stem, cv2.IMREAD_GRAYSCALE), cv2.COLORMAP_INFERNO)
    tiles = [_read(root / "ir", stem), _read(root / "vi", stem), _read(root / "model" / "fused", stem), alpha]
    return np.hstack([cv2.resize(t, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for t in tiles])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("stems", nargs="+")
    ap.add_argument("--out", type=Path, default=Path("docs/images/hero.png"))
    ap.add_argument("--scale", type=float, default=0.5)
    args = ap.parse_args()
    cv2.imwrite(str(args.out), np.vstack([row(args.dir, s, args.scale) for s in args.stems]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
