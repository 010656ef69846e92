"""mAP@0.5 of detections against ground-truth boxes, and a paired bootstrap for the difference of two mAPs.

Conventions (PASCAL VOC, 2010+ "all-point" AP):
- per class, the detections of all images are ranked by score; each, in that order, is matched to the
  ground-truth box of its class in its image with the highest IoU; it is a true positive when that
  IoU exceeds ``iou_threshold`` and the box is not already taken, else a false positive (a second
  detection of one object is a false positive);
- AP = area under the precision–recall curve after making precision monotone (each precision is
  replaced by the maximum at any higher recall), summed at every recall step;
- mAP = mean AP over the classes that have at least one ground-truth box (other classes are NaN).

Because matching happens inside one image, a detection's TP/FP flag does not depend on which other
images are evaluated. The bootstrap therefore resamples images by giving each a multiplicity
(how often it was drawn) and weighting its detections and ground truth by it, which equals evaluating
the duplicated images except where two detections tie exactly in score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from ..boxes import box_file, read_yolo_boxes, to_pixel_boxes
from .config import MSRS_CLASSES, Detection


@dataclass(frozen=True)
class GroundTruthBoxes:
    """One image's labelled objects: (K, 4) xyxy pixels and (K,) class ids."""

    boxes_xyxy: np.ndarray
    class_ids: np.ndarray


@dataclass(frozen=True)
class MapResult:
    """ap: per class name, NaN where the class has no ground truth; mean_ap over the others."""

    ap: dict[str, float]
    n_ground_truth: dict[str, int]
    n_detections: dict[str, int]
    mean_ap: float
    n_images: int


@dataclass(frozen=True)
class BootstrapResult:
    """mAP(b) − mAP(a): ``observed`` on the full set; ``mean``, ``low``, ``high`` over the replicates
    (``low``/``high`` = 2.5th/97.5th percentiles, the 95% interval)."""

    observed: float
    mean: float
    low: float
    high: float
    reps: int
    seed: int


@dataclass(frozen=True)
class _ClassTable:
    """One class' detections ranked by score (descending) with their TP flags and image indices."""

    image_index: np.ndarray  # (M,) int, into the evaluated stems
    true_positive: np.ndarray  # (M,) bool
    n_gt_per_image: np.ndarray  # (n_images,) int


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box (4,) with each of (K, 4) boxes, continuous coordinates -> (K,)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64), where=union > 0)


def _match_image(det_boxes: np.ndarray, gt_boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """TP flags (M,) of one image's detections of one class, given in descending score order."""
    taken = np.zeros(len(gt_boxes), dtype=bool)
    flags = np.zeros(len(det_boxes), dtype=bool)
    if len(gt_boxes) == 0:
        return flags
    for i, box in enumerate(det_boxes):
        ious = box_iou(box, gt_boxes)
        best = int(ious.argmax())
        if ious[best] > iou_threshold and not taken[best]:
            taken[best] = flags[i] = True
    return flags


def _class_tables(detections: Mapping[str, Sequence[Detection]], ground_truth: Mapping[str, GroundTruthBoxes],
                  stems: Sequence[str], n_classes: int, iou_threshold: float) -> list[_ClassTable]:
    missing = [s for s in stems if s not in detections]
    if missing:
        raise InputError(f"no detection entry for {len(missing)} evaluated image(s), e.g. {missing[0]!r}; "
                         "give every ground-truth image a (possibly empty) detection list")
    tables = []
    for cls in range(n_classes):
        scores, flags, images = [], [], []
        n_gt = np.zeros(len(stems), dtype=np.int64)
        for index, stem in enumerate(stems):
            gt = ground_truth[stem]
            gt_boxes = np.asarray(gt.boxes_xyxy, dtype=np.float64).reshape(-1, 4)[np.asarray(gt.class_ids) == cls]
            n_gt[index] = len(gt_boxes)
            dets = sorted((d for d in detections[stem] if d.class_id == cls), key=lambda d: -d.score)
            if dets:
                det_boxes = np.array([d.box_xyxy for d in dets], dtype=np.float64)
                flags.append(_match_image(det_boxes, gt_boxes, iou_threshold))
                scores.append(np.array([d.score for d in dets]))
                images.append(np.full(len(dets), index, dtype=np.int64))
        if scores:
            all_scores = np.concatenate(scores)
            order = np.argsort(-all_scores, kind="stable")
            tables.append(_ClassTable(np.concatenate(images)[order], np.concatenate(flags)[order], n_gt))
        else:
            tables.append(_ClassTable(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), n_gt))
    return tables


def average_precision(tp_weight: np.ndarray, fp_weight: np.ndarray, n_positive: float) -> float:
    """All-point interpolated AP of ranked detections; weights are 1/0 for plain TP/FP flags (M,)."""
    if n_positive <= 0:
        return float("nan")
    tp = np.cumsum(tp_weight, dtype=np.float64)
    fp = np.cumsum(fp_weight, dtype=np.float64)
    recall = np.concatenate([[0.0], tp / n_positive, [1.0]])
    denom = tp + fp
    precision = np.concatenate([[0.0], np.divide(tp, denom, out=np.zeros_like(tp), where=denom > 0), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone envelope
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def _class_aps(tables: Sequence[_ClassTable], weights: np.ndarray) -> np.ndarray:
    """(n_classes,) AP with image multiplicities ``weights`` (n_images,); NaN where no ground truth."""
    aps = np.full(len(tables), np.nan)
    for cls, table in enumerate(tables):
        det_weight = weights[table.image_index].astype(np.float64)
        tp = table.true_positive
        aps[cls] = average_precision(det_weight * tp, det_weight * ~tp, float(weights @ table.n_gt_per_image))
    return aps


def _mean(aps: np.ndarray) -> float:
    return float(np.nanmean(aps)) if np.any(~np.isnan(aps)) else float("nan")


def _check(iou_threshold: float, ground_truth: Mapping[str, GroundTruthBoxes]) -> list[str]:
    if not 0.0 < iou_threshold < 1.0:
        raise ConfigError(f"iou_threshold must lie in (0, 1), got {iou_threshold}")
    if not ground_truth:
        raise InputError("no ground-truth images to evaluate")
    return sorted(ground_truth)


def evaluate_map(detections: Mapping[str, Sequence[Detection]], ground_truth: Mapping[str, GroundTruthBoxes],
                 class_names: Sequence[str] = MSRS_CLASSES, iou_threshold: float = 0.5) -> MapResult:
    """AP per class and mAP over the images of ``ground_truth`` (stem -> boxes); ``detections``: stem ->
    that image's detections (class ids index ``class_names``), one entry per ground-truth stem."""
    stems = _check(iou_threshold, ground_truth)
    tables = _class_tables(detections, ground_truth, stems, len(class_names), iou_threshold)
    aps = _class_aps(tables, np.ones(len(stems), dtype=np.int64))
    return MapResult(
        ap={name: float(ap) for name, ap in zip(class_names, aps)},
        n_ground_truth={name: int(t.n_gt_per_image.sum()) for name, t in zip(class_names, tables)},
        n_detections={name: len(t.image_index) for name, t in zip(class_names, tables)},
        mean_ap=_mean(aps),
        n_images=len(stems),
    )


def paired_bootstrap(detections_a: Mapping[str, Sequence[Detection]], detections_b: Mapping[str, Sequence[Detection]],
                     ground_truth: Mapping[str, GroundTruthBoxes], class_names: Sequence[str] = MSRS_CLASSES,
                     iou_threshold: float = 0.5, reps: int = 1000, seed: int = 0) -> BootstrapResult:
    """Paired bootstrap of mAP(b) − mAP(a) over the same images: each replicate draws the images with
    replacement (one draw shared by a and b) and re-computes both mAPs on it."""
    if reps < 1:
        raise ConfigError(f"reps must be >= 1, got {reps}")
    stems = _check(iou_threshold, ground_truth)
    tables_a = _class_tables(detections_a, ground_truth, stems, len(class_names), iou_threshold)
    tables_b = _class_tables(detections_b, ground_truth, stems, len(class_names), iou_threshold)
    ones = np.ones(len(stems), dtype=np.int64)
    observed = _mean(_class_aps(tables_b, ones)) - _mean(_class_aps(tables_a, ones))
    rng = np.random.default_rng(seed)
    diffs = np.empty(reps)
    for r in range(reps):
        weights = np.bincount(rng.integers(0, len(stems), len(stems)), minlength=len(stems))  # (n_images,)
        diffs[r] = _mean(_class_aps(tables_b, weights)) - _mean(_class_aps(tables_a, weights))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return BootstrapResult(observed=float(observed), mean=float(diffs.mean()), low=float(low), high=float(high),
                           reps=reps, seed=seed)


def load_ground_truth(labels_dir: str | Path, image_sizes: Mapping[str, tuple[int, int]],
                      num_classes: int | None = len(MSRS_CLASSES)) -> dict[str, GroundTruthBoxes]:
    """Stem -> YOLO boxes of ``labels_dir/<stem>.txt`` in pixels, for each stem of ``image_sizes`` ((height, width)).

    A missing label file means an image without objects (YOLO's convention); a folder with no label
    file for any of the images is an error (most likely the wrong folder).
    """
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise InputError(f"labels folder {labels_dir} is not a directory")
    if image_sizes and not any(box_file(labels_dir, stem).is_file() for stem in image_sizes):
        raise InputError(f"labels folder {labels_dir} has no <stem>.txt for any of the {len(image_sizes)} images")
    out = {}
    for stem, size in image_sizes.items():
        boxes = read_yolo_boxes(box_file(labels_dir, stem), num_classes)
        out[stem] = GroundTruthBoxes(to_pixel_boxes(boxes, size), np.array([b.cls for b in boxes], dtype=np.int64))
    return out
