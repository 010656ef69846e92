"""``ivif detect``: YOLOX on image folders, mAP@0.5 against YOLO labels, paired bootstrap between folders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="detect objects in image folders and score mAP@0.5",
                       description="Run the YOLOX detector (default: the shipped YOLOX-nano) over a folder of images, "
                                   "report AP@0.5 per class and mAP against YOLO labels (files <stem>.txt); with "
                                   "--compare, also the paired bootstrap 95% interval of mAP(compare) - mAP(first).")
    p.add_argument("--images", required=True, type=Path, help="folder of images (grey files are replicated to 3 channels)")
    p.add_argument("--labels", required=True, type=Path, help="folder of YOLO label files 'class cx cy w h' per stem")
    p.add_argument("--compare", nargs="+", type=Path, default=[], metavar="DIR",
                   help="further image folders with the same stems, each compared with --images")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the results as JSON")
    p.add_argument("--annotated", type=Path, default=None, metavar="OUT_DIR",
                   help="write annotated images to OUT_DIR/<index>_<folder name>/<stem>.png")
    p.add_argument("--model", default=None, help="YOLOX ONNX file (default: the shipped YOLOX-nano)")
    p.add_argument("--score-threshold", type=float, default=0.001,
                   help="keep detections scored at least this (default 0.001: mAP needs the low scores)")
    p.add_argument("--nms-iou", type=float, default=0.65, help="per-class NMS IoU threshold (default 0.65)")
    p.add_argument("--draw-threshold", type=float, default=0.3, help="score needed to be drawn with --annotated (default 0.3)")
    p.add_argument("--reps", type=int, default=1000, help="bootstrap replicates (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: its own)")
    p.add_argument("--input-size", type=int, default=416,
                   help="letterbox side the longer image side is scaled to, a multiple of 32 (default 416, YOLOX-nano's "
                        "training size; smaller is faster and loses small objects)")
    p.add_argument("--square", action="store_true",
                   help="letterbox onto the full square input instead of the default stride-rounded rectangle")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..detection import Detector, DetectorConfig, compare_folders
    from ..errors import ConfigError
    from ._common import check_output_file, check_seed

    check_output_file(args.json, "--json")
    check_seed(args.seed)
    if args.reps < 1:
        raise ConfigError(f"--reps must be >= 1, got {args.reps}")
    if not 0.0 <= args.draw_threshold <= 1.0:  # also NaN, with which nothing would ever be drawn
        raise ConfigError(f"--draw-threshold must be a number in [0, 1], got {args.draw_threshold}")
    config = DetectorConfig(model_path=args.model, score_threshold=args.score_threshold, nms_iou=args.nms_iou,
                            threads=args.threads, rectangular=not args.square, input_size=args.input_size)
    detector = Detector(config)
    comparison = compare_folders(detector, [args.images, *args.compare], args.labels, reps=args.reps,
                                 seed=args.seed, annotated_dir=args.annotated, draw_threshold=args.draw_threshold,
                                 progress=True)
    summary = comparison.to_dict()
    summary["detector"] = {"model": config.resolved_model_path.name, "input_size": config.input_size,
                           "rectangular": detector.rectangular}
    names = list(config.class_names)
    print(f"AP@0.5 on {summary['n_images']} images, labels {args.labels}, {detector.canvas}")
    unlabelled = summary["images_without_label_file"]
    if unlabelled:
        print(f"{len(unlabelled)} of {summary['n_images']} images have no label file and count as images without objects "
              f"(YOLO's rule; check --labels if they have some): {', '.join(unlabelled[:5])}"
              + (", ..." if len(unlabelled) > 5 else ""))
    print(f"{'images':<40}" + "".join(f"{n:>9}" for n in names) + f"{'mAP':>9}{'ms/img':>9}")
    for row in summary["folders"]:
        cells = "".join(f"{_fmt(row['ap50'][n]):>9}" for n in names)
        print(f"{row['images']:<40}{cells}{_fmt(row['map50']):>9}{row['ms_per_image']:>9.1f}")
    for diff in summary["differences_vs_first"]:
        low, high = diff["ci95"]
        print(f"mAP({diff['images']}) - mAP({args.images}) = {diff['observed']:+.3f}, paired bootstrap "
              f"({diff['reps']} reps, seed {diff['seed']}) mean {diff['bootstrap_mean']:+.3f}, 95% [{low:+.3f}, {high:+.3f}]")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def _fmt(value: float | None) -> str:
    """AP as 0.xxx; '-' for a class without ground truth."""
    return "-" if value is None else f"{value:.3f}"
