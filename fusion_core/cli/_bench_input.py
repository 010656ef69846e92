"""The image pair ``ivif bench`` times: a real MSRS pair when one is reachable, else a synthetic textured one.

Search order: ``--pair IR VI``; MSRS ``trainval`` in ``$IVIF_SHARED_DATA`` or ``../shared/data``
(beside the checkout, or beside the current directory); the repo's demo sample ``data/sample/msrs``; else a generated
pair with MSRS-like statistics (hot blobs on a cool gradient; textured, edgy colour visible).
The pair is resized to each benchmark size, so every backend fuses the same pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFERRED_STEM = "00004N"


@dataclass(frozen=True)
class BenchPair:
    thermal: np.ndarray  # (H, W) uint8
    visible: np.ndarray  # (H, W, 3) uint8 RGB
    source: str  # what it is, for the report

    def resized(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Both images at width x height (each resized on its own, see :func:`_scaled`)."""
        return self.rig((width, height), (width, height))

    def rig(self, thermal_size: tuple[int, int], visible_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The thermal image at ``thermal_size`` and the visible one at ``visible_size`` ((width, height) each):
        the frames of a calibrated rig, whose cameras differ in size."""
        return _scaled(self.thermal, *thermal_size), _scaled(self.visible, *visible_size)


def _scaled(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` at width x height (area averaging to shrink, bilinear to enlarge); the image itself when it
    already has that size."""
    if image.shape[:2] == (height, width):
        return image
    interp = cv2.INTER_AREA if width * height < image.shape[0] * image.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


def _first_pair(folder: Path) -> tuple[Path, Path] | None:
    ir_dir, vi_dir = folder / "ir", folder / "vi"
    if not (ir_dir.is_dir() and vi_dir.is_dir()):
        return None
    from ..errors import InputError
    from ..io import pair_folders

    try:
        pairs = pair_folders(ir_dir, vi_dir, strict=False)
    except InputError:
        return None
    chosen = next((p for p in pairs if p.stem == PREFERRED_STEM), pairs[0])
    return chosen.ir, chosen.vi


def synthetic_pair(height: int = 480, width: int = 640, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic textured pair: thermal hot spots on a vertical gradient, visible gratings + edges + noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    thermal = 60.0 + 40.0 * yy / height
    for _ in range(6):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(8, 40)
        thermal += 120.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    thermal += rng.normal(0, 3, thermal.shape)
    base = 110 + 50 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + 30 * ((xx // 40 + yy // 40) % 2)
    visible = np.stack([base + rng.normal(0, 8, base.shape) + off for off in (10, 0, -15)], axis=-1)
    return np.clip(thermal, 0, 255).astype(np.uint8), np.clip(visible, 0, 255).astype(np.uint8)


def find_bench_pair(ir: Path | None = None, vi: Path | None = None) -> BenchPair:
    """The pair to benchmark with (see the module docstring for the search order)."""
    from ..io import read_thermal, read_visible

    if ir is not None and vi is not None:
        return BenchPair(read_thermal(ir), read_visible(vi), f"given pair {ir.name} / {vi.name}")
    candidates = [
        *([(Path(os.environ["IVIF_SHARED_DATA"]) / "MSRS" / "trainval", "real MSRS pair from $IVIF_SHARED_DATA/MSRS/trainval")]
          if os.environ.get("IVIF_SHARED_DATA") else []),
        (REPO_ROOT.parent / "shared" / "data" / "MSRS" / "trainval", "real MSRS pair from ../shared/data/MSRS/trainval"),
        (Path.cwd().parent / "shared" / "data" / "MSRS" / "trainval", "real MSRS pair from ../shared/data/MSRS/trainval"),
        (REPO_ROOT / "data" / "sample" / "msrs", "real MSRS pair from the repo sample data/sample/msrs"),
    ]
    for folder, label in candidates:
        found = _first_pair(folder)
        if found is not None:
            return BenchPair(read_thermal(found[0]), read_visible(found[1]), f"{label} ({found[0].stem})")
    thermal, visible = synthetic_pair()
    return BenchPair(thermal, visible, "synthetic textured pair (no MSRS data found)")
