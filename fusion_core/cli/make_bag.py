"""``ivif make-bag``: turn IR/visible image folders into a rosbag2 recorded by two free-running cameras."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make-bag", help="make a rosbag2 (mcap/sqlite3) from image-pair folders",
                       description="Write /thermal/image_raw (frame_id thermal_camera) and /visible/image_raw (frame_id "
                                   "visible_camera, rgb8 or mono8) as sensor_msgs/Image, pairs matched by file stem and "
                                   "sorted by it. Stamps: frame i at i/RATE plus a fixed inter-camera phase (within 5%% of "
                                   "the period) plus independent Gaussian jitter per camera; log times a few ms later. "
                                   "The bag directory also gets ivif_frames.csv (stem and stamps of every pair).")
    p.add_argument("--ir", required=True, type=Path, help="folder of thermal images")
    p.add_argument("--vi", required=True, type=Path, help="folder of visible images")
    p.add_argument("--out", required=True, type=Path, help="output bag directory (must not exist)")
    p.add_argument("--rate", type=float, default=10.0, metavar="HZ", help="frame rate of both cameras (default: 10)")
    p.add_argument("--jitter", type=float, default=2.0, metavar="MS",
                   help="standard deviation of each camera's stamp jitter in ms, clipped to 3 sigma (default: 2)")
    p.add_argument("--thermal-encoding", default="mono8", choices=("mono8", "mono16", "32FC1"),
                   help="mono16 stores 8-bit thermal x257, 32FC1 as float /255 (same values after normalisation; "
                        "32FC1 raw only) (default: mono8)")
    p.add_argument("--storage", default="mcap", choices=("mcap", "sqlite3"), help="rosbag2 storage (default: mcap)")
    p.add_argument("--drop", type=float, default=0.0, metavar="P",
                   help="probability that a camera loses a frame, independently per camera (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of jitter, phase and drops (default: 0)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N pairs (sorted by stem)")
    p.add_argument("--compressed", action="store_true",
                   help="write image_transport's compressed topics instead, as most recorded datasets hold them: "
                        "/thermal/image_raw/compressed (PNG for mono16, else JPEG) and /visible/image_raw/compressed "
                        "(JPEG), sensor_msgs/CompressedImage")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..replay.make_bag import make_bag

    s = make_bag(args.ir, args.vi, args.out, rate=args.rate, jitter_ms=args.jitter, thermal_encoding=args.thermal_encoding,
                 storage=args.storage, drop_prob=args.drop, seed=args.seed, limit=args.limit, compressed=args.compressed)
    counts = ", ".join(f"{t}: {n}" + (f" ({s.dropped[t]} dropped)" if s.dropped.get(t) else "") for t, n in s.messages.items())
    print(f"wrote {s.path} ({s.storage}): {s.pairs} pairs over {s.duration_s:.2f} s; {counts}")
    return 0
