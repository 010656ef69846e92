"""``ivif calibrate``: estimate the thermal -> visible homography of a camera rig, no target needed."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="estimate the thermal->visible homography from image pairs (no target)",
                       description="Estimate the 3x3 homography mapping thermal pixels to visible pixels from one or more "
                                   "image pairs of the rig (files, folders paired by stem, or a rosbag2), or from typed "
                                   "point pairs (--points). Writes a ROS 2 parameters file that --calibration and the "
                                   "fusion node read. Refuses (exit 2, nothing written) when the pairs cannot be aligned.")
    src = p.add_argument_group("input (--ir/--vi or --bag)")
    src.add_argument("--ir", type=Path, default=None, help="thermal image file or folder")
    src.add_argument("--vi", type=Path, default=None, help="visible image file or folder (paired with --ir by file stem)")
    src.add_argument("--bag", type=Path, default=None, help="rosbag2 directory or .mcap/.db3 file")
    src.add_argument("--thermal-stamp-offset", type=float, default=0.0, metavar="S",
                     help="--bag: seconds added to every thermal stamp before pairing, for cameras that stamp at "
                          "different moments (named in the error when no pair forms) (default: 0)")
    src.add_argument("--thermal-topic", default="/thermal/image_raw",
                     help="thermal image topic in --bag, sensor_msgs/Image or CompressedImage (default: /thermal/image_raw)")
    src.add_argument("--visible-topic", default="/visible/image_raw", help="visible image topic in --bag (default: /visible/image_raw)")
    src.add_argument("--max-pairs", type=int, default=5, metavar="N",
                     help="pairs used, spread over the input; pairs without enough structure are left out (default: 5)")
    p.add_argument("--out", type=Path, default=None, help="calibration file to write (YAML, ROS 2 parameters); required "
                                                         "unless --check")
    p.add_argument("--check", type=Path, default=None, metavar="YAML",
                   help="measure an existing calibration file on these pairs instead (edge residual, tile by tile); "
                        "writes nothing but --overlay")
    p.add_argument("--max-residual", type=float, default=None, metavar="PX",
                   help="--check: exit 3 when the median edge residual exceeds PX visible pixels or under half the "
                        "thermal footprint's tiles can be measured")
    p.add_argument("--overlay", type=Path, default=None, metavar="PNG", help="save a before/after edge overlay of the first pair")
    p.add_argument("--points", type=Path, default=None, metavar="CSV",
                   help="manual fallback: >= 4 lines x_t,y_t,x_v,y_v (thermal px, visible px); skips the automatic search")
    p.add_argument("--hfov", type=float, nargs=2, default=None, metavar=("THERMAL_DEG", "VISIBLE_DEG"),
                   help="horizontal fields of view of the two lenses: centres the scale search on their ratio "
                        "(default: thermal width matched to visible width)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..calibration import Calibration
    from ..calibration.auto import auto_calibration, write_calibration
    from ..calibration.sources import pairs_from_bag, pairs_from_files
    from ..errors import ConfigError
    from ._common import check_output_file

    if args.max_pairs < 1:
        raise ConfigError(f"--max-pairs must be >= 1, got {args.max_pairs}")
    if args.check is not None:
        if args.out is not None or args.points is not None:
            raise ConfigError("--check measures an existing calibration: give it without --out and --points")
    elif args.out is None:
        raise ConfigError("--out is required (or --check FILE to measure an existing calibration)")
    elif args.max_residual is not None:
        raise ConfigError("--max-residual goes with --check")
    if args.max_residual is not None and not args.max_residual > 0:
        raise ConfigError(f"--max-residual must be > 0 px, got {args.max_residual}")
    if args.out is not None:
        check_output_file(args.out, "--out")  # before the search: nothing is written unless all of it can be
    check_output_file(args.overlay, "--overlay", image=True)
    if args.bag is not None:
        if args.ir is not None or args.vi is not None:
            raise ConfigError("give either --bag or --ir/--vi, not both")
        pairs = pairs_from_bag(args.bag, args.thermal_topic, args.visible_topic, args.max_pairs,
                               thermal_stamp_offset=args.thermal_stamp_offset)
        inputs = f"bag {args.bag} ({args.thermal_topic}, {args.visible_topic}), {len(pairs)} pair(s)"
    elif args.ir is not None and args.vi is not None:
        pairs = pairs_from_files(args.ir, args.vi, args.max_pairs)
        inputs = f"--ir {args.ir} --vi {args.vi}, {len(pairs)} pair(s)"
    else:
        raise ConfigError("give --ir and --vi (files or folders) or --bag with --thermal-topic/--visible-topic")
    if args.check is not None:
        return _check(args, pairs, inputs)
    if args.points is not None:
        from ..calibration import homography_from_points, read_points

        thermal, visible = shown = pairs[0]
        residual = None
        fit = homography_from_points(*read_points(args.points))
        for i, r in enumerate(fit.residuals):
            print(f"point {i + 1}: residual {r:.2f} px")
        calibration = Calibration(tuple(float(v) for v in fit.homography.ravel()), (thermal.shape[1], thermal.shape[0]),
                                  (visible.shape[1], visible.shape[0]), float(np.mean(fit.residuals <= 3.0)),
                                  f"manual: {len(fit.residuals)} points from {args.points.name}, least squares")
        quality = f"reprojection residual: rms {fit.rms:.2f} px, max {fit.residuals.max():.2f} px over {len(fit.residuals)} points"
    else:
        auto = auto_calibration(pairs, tuple(args.hfov) if args.hfov else None)
        for note in auto.notes:
            print(note)
        calibration, quality, shown, residual = auto.calibration, auto.quality, auto.shown, auto.residual
    for line in write_calibration(args.out, calibration, quality, inputs, shown, args.overlay, residual):
        print(line)
    return 0


def _check(args: argparse.Namespace, pairs: list, inputs: str) -> int:
    """``--check``: the edge residual of an existing calibration on ``pairs``; 3 when ``--max-residual`` fails."""
    from ..calibration import load_calibration
    from ..calibration.check import check_report

    report = check_report(pairs, load_calibration(args.check), str(args.check), inputs, args.max_residual, args.overlay)
    for line in report.lines:
        print(line)
    if report.failure is not None:
        print(f"calibration check failed: {report.failure}")
        return 3
    return 0
