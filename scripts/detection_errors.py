"""Where a class's AP moved: labelled objects found or missed, and detections no label explains (issue 12).

Why: AP@0.5 falls either because labelled objects are found less confidently, or because detections that match
no label rank higher. The two call for different readings (a fusion that hides an object, or a detector that
now sees something the labels leave out), and one AP figure cannot tell them apart. For every fused folder and
class this reports, with the evaluation's own detector settings (score threshold 0.001, YOLOX-nano, IoU 0.5), its
AP@0.5 over the images chosen and:

* per labelled object, the best score of a same-class detection overlapping it at IoU ≥ 0.5 (0 if none):
  how many reach ``--score`` and their mean;
* detections of the class overlapping no labelled object of the class at IoU ≥ 0.5 ("unmatched"): how many reach
  ``--score``, and the highest few with their image.

    python scripts/detection_errors.py --labels runs/scoreboard_hot/msrs/labels_det_ir --suffix D \\
        --fused v2=runs/scoreboard_hot/msrs/v2/fused --fused v2hot=runs/scoreboard_hot/msrs/v2hot/fused \\
        --json docs/eval/detection_errors_hot_day.json \\
        --picture docs/images/bicycle_labels.png --picture-class bicycle --picture-stems 00371D 00396D 01566D 00621D

``--picture`` draws, on the first folder's images of ``--picture-stems``, the labelled boxes of one class (yellow)
and its detections scored at least ``--score`` (magenta, with the score), two images a row, at half size.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.cli.evaluate import parse_fused  # noqa: E402
from fusion_core.detection import Detection, Detector, DetectorConfig, detect_folder  # noqa: E402
from fusion_core.detection.evaluate import GroundTruthBoxes, box_iou, evaluate_map, load_ground_truth  # noqa: E402
from fusion_core.errors import IvifError  # noqa: E402
from fusion_core.io import list_images, read_visible  # noqa: E402

IOU = 0.5
TOP = 6


def class_errors(detections: Mapping[str, Sequence[Detection]], truth: Mapping[str, GroundTruthBoxes], class_id: int,
                 score: float) -> dict:
    """The report above for one class over the images of ``truth``."""
    best, unmatched = [], []
    for stem, gt in truth.items():
        boxes = gt.boxes_xyxy[gt.class_ids == class_id]
        dets = [d for d in detections.get(stem, ()) if d.class_id == class_id]
        ious = (np.stack([box_iou(np.asarray(d.box_xyxy, float), boxes) for d in dets]) if dets and len(boxes)
                else np.zeros((len(dets), len(boxes))))
        for k in range(len(boxes)):
            best.append(max((d.score for d, iou in zip(dets, ious[:, k]) if iou >= IOU), default=0.0))
        unmatched += [(d.score, stem) for d, row in zip(dets, ious) if not (row >= IOU).any()]
    unmatched.sort(key=lambda t: -t[0])
    return {"labelled": len(best), "found": sum(s >= score for s in best),
            "mean_best_score": float(np.mean(best)) if best else None,
            "unmatched": sum(s >= score for s, _ in unmatched),
            "top_unmatched": [{"score": round(s, 3), "image": stem} for s, stem in unmatched[:TOP]]}


def draw_class(image_rgb: np.ndarray, truth: GroundTruthBoxes, detections: Sequence[Detection], class_id: int,
               score: float) -> np.ndarray:
    """BGR copy of ``image_rgb`` (or of a grey image) with the class's labelled boxes (yellow) and detections
    ≥ ``score`` (magenta)."""
    if image_rgb.ndim == 2:
        out = cv2.cvtColor(image_rgb, cv2.COLOR_GRAY2BGR)
    else:
        out = np.ascontiguousarray(image_rgb[..., ::-1])
    for box in truth.boxes_xyxy[truth.class_ids == class_id]:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 255), 3)  # lines and text sized for the half-size picture
    for d in detections:
        if d.class_id == class_id and d.score >= score:
            x1, y1, x2, y2 = (int(round(v)) for v in d.box_xyxy)
            cv2.rectangle(out, (x1, y1), (x2, y2), (255, 0, 255), 2)
            cv2.putText(out, f"{d.score:.2f}", (x1, y2 + 22), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 0, 255), 2)
    return out


def write_picture(path: Path, folder: Path, stems: Sequence[str], detections: Mapping[str, Sequence[Detection]],
                  truth: Mapping[str, GroundTruthBoxes], class_id: int, score: float) -> None:
    files = list_images(folder)
    tiles = [draw_class(read_visible(files[s]), truth[s], detections[s], class_id, score) for s in stems]
    tiles += [np.zeros_like(tiles[0])] * (len(tiles) % 2)
    rows = [np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.resize(np.vstack(rows), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--fused", action="append", required=True, help="NAME=DIR of images, repeat")
    p.add_argument("--suffix", default="", help="only images whose stem ends so (MSRS: D day, N night)")
    p.add_argument("--score", type=float, default=0.3, help="score that counts as found (default 0.3, the node's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    p.add_argument("--picture", type=Path, help="PNG: the first folder's --picture-stems with one class drawn")
    p.add_argument("--picture-class", default="bicycle")
    p.add_argument("--picture-stems", nargs="+", default=[])
    args = p.parse_args(argv)
    try:
        folders = parse_fused(args.fused)
        detector = Detector(DetectorConfig(score_threshold=0.001, threads=args.threads))
        names = detector.config.class_names
        report: dict = {"labels": str(args.labels), "suffix": args.suffix, "score": args.score, "folders": {}}
        for name, folder in folders.items():
            stems = [stem for stem in sorted(list_images(Path(folder))) if stem.endswith(args.suffix)]
            if not stems:
                raise IvifError(f"{folder} has no image whose stem ends in {args.suffix!r}")
            found = detect_folder(detector, folder, stems)  # read and detected exactly as `ivif detect` does
            truth = load_ground_truth(args.labels, found.sizes, len(names))
            detections = found.detections
            if args.picture and name == next(iter(folders)):
                missing = [stem for stem in args.picture_stems if stem not in truth]
                if missing or not args.picture_stems or args.picture_class not in names:
                    raise IvifError(f"--picture needs --picture-stems among the images (missing: {missing}) and a "
                                    f"--picture-class among {list(names)}")
                write_picture(args.picture, Path(folder), args.picture_stems, detections, truth,
                              names.index(args.picture_class), args.score)
            ap = evaluate_map(detections, truth, names).ap
            report["folders"][name] = {"images": len(stems),
                                       "classes": {n: {"ap50": ap[n], **class_errors(detections, truth, i, args.score)}
                                                   for i, n in enumerate(names)}}
    except IvifError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    width = max(len(n) for n in report["folders"]) + 2
    print(f"{'folder':<{width}}{'class':<9}{'AP@0.5':>8}{'labelled':>9}{'found':>7}{'mean best':>10}{'unmatched':>10}  highest unmatched")
    for name, entry in report["folders"].items():
        for cls, row in entry["classes"].items():
            top = ", ".join(f"{t['score']:.2f} {t['image']}" for t in row["top_unmatched"][:4])
            mean = "-" if row["mean_best_score"] is None else f"{row['mean_best_score']:.3f}"
            print(f"{name:<{width}}{cls:<9}{row['ap50']:>8.3f}{row['labelled']:>9}{row['found']:>7}{mean:>10}{row['unmatched']:>10}  {top}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
