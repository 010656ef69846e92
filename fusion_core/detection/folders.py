"""Detection over image folders, scored against YOLO labels: the work behind ``ivif detect``.

Images are paired across folders by file stem (as everywhere in ivif); the first folder defines
the evaluated set, and every other folder must hold the same stems. Grey files are detected as
grey replicated to three channels, colour files as RGB.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..boxes import box_file
from ..errors import InputError
from ..io import list_images, read_visible, write_image
from .config import Detection
from .detector import Detector
from .draw import draw_detections
from .evaluate import BootstrapResult, MapResult, evaluate_map, load_ground_truth, paired_bootstrap


@dataclass(frozen=True)
class FolderDetections:
    """Detections of every image of one folder: stem -> detections, stem -> (height, width)."""

    folder: Path
    detections: dict[str, list[Detection]]
    sizes: dict[str, tuple[int, int]]
    ms_per_image: float


def detect_folder(detector: Detector, folder: str | Path, stems: Sequence[str] | None = None,
                  annotated_dir: Path | None = None, draw_threshold: float = 0.3, progress: bool = False) -> FolderDetections:
    """Run ``detector`` on the images of ``folder`` (only ``stems`` when given; each must exist).

    ``annotated_dir``: also write ``<stem>.png`` with the detections scored ≥ ``draw_threshold`` drawn.
    """
    folder = Path(folder)
    files = list_images(folder)
    if stems is None:
        stems = sorted(files)
    missing = [s for s in stems if s not in files]
    if missing:
        raise InputError(f"{folder} has no image for {len(missing)} stem(s) of the first folder, e.g. {missing[0]!r}")
    if not stems:
        raise InputError(f"no images in {folder}")
    iterator: Any = stems
    if progress:
        from tqdm import tqdm

        iterator = tqdm(stems, desc=f"detect {folder.name}", unit="img")
    detections, sizes, elapsed = {}, {}, 0.0
    for stem in iterator:
        image = read_visible(files[stem])  # (H, W, 3) RGB or (H, W) grey, uint8
        order = "mono" if image.ndim == 2 else "rgb"
        start = time.perf_counter()
        try:
            found = detector.detect(image, order)
        except InputError as exc:
            raise InputError(f"{files[stem]}: {exc}") from exc
        elapsed += time.perf_counter() - start
        detections[stem], sizes[stem] = found, image.shape[:2]
        if annotated_dir is not None:
            shown = [d for d in found if d.score >= draw_threshold]
            write_image(annotated_dir / f"{stem}.png", draw_detections(image, shown, order), "rgb" if order == "rgb" else "bgr")
    return FolderDetections(folder, detections, sizes, 1000.0 * elapsed / len(stems))


@dataclass(frozen=True)
class FolderComparison:
    """mAP of each folder (the first is the reference) and, per further folder, the bootstrap of
    mAP(folder) − mAP(first)."""

    folders: list[FolderDetections]
    results: list[MapResult]
    differences: list[BootstrapResult]
    unlabelled: tuple[str, ...] = ()  # stems without a label file: scored as images without objects (YOLO's rule)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (NaN APs become null)."""
        def clean(value: float) -> float | None:
            return None if value != value else round(value, 6)

        return {
            "n_images": self.results[0].n_images,
            "images_without_label_file": list(self.unlabelled),
            "folders": [
                {"images": str(f.folder), "ap50": {k: clean(v) for k, v in r.ap.items()}, "map50": clean(r.mean_ap),
                 "n_ground_truth": r.n_ground_truth, "n_detections": r.n_detections, "ms_per_image": round(f.ms_per_image, 2)}
                for f, r in zip(self.folders, self.results)
            ],
            "differences_vs_first": [
                {"images": str(f.folder), "observed": clean(d.observed), "bootstrap_mean": clean(d.mean),
                 "ci95": [clean(d.low), clean(d.high)], "reps": d.reps, "seed": d.seed}
                for f, d in zip(self.folders[1:], self.differences)
            ],
        }


def compare_folders(detector: Detector, image_dirs: Sequence[str | Path], labels_dir: str | Path,
                    reps: int = 1000, seed: int = 0, annotated_dir: Path | None = None,
                    draw_threshold: float = 0.3, progress: bool = False) -> FolderComparison:
    """Detect in every folder, score each against ``labels_dir`` and bootstrap each difference to the first."""
    if not image_dirs:
        raise InputError("give at least one image folder")
    folders: list[FolderDetections] = []
    for i, folder in enumerate(image_dirs):
        sub = None if annotated_dir is None else annotated_dir / f"{i}_{Path(folder).name}"
        stems = None if not folders else sorted(folders[0].detections)
        folders.append(detect_folder(detector, folder, stems, sub, draw_threshold, progress))
    names = detector.config.class_names
    ground_truth = load_ground_truth(labels_dir, folders[0].sizes, num_classes=len(names))
    unlabelled = tuple(sorted(s for s in folders[0].sizes if not box_file(labels_dir, s).is_file()))
    results = [evaluate_map(f.detections, ground_truth, names) for f in folders]
    differences = [paired_bootstrap(folders[0].detections, f.detections, ground_truth, names, reps=reps, seed=seed)
                   for f in folders[1:]]
    return FolderComparison(folders, results, differences, unlabelled)
