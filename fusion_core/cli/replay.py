"""``ivif replay``: replay a rosbag2 through the fusion engine (offline, or live through the ROS nodes) and report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._common import add_engine_options, engine_config_from_args


def add_replay_options(p: argparse.ArgumentParser, rate_factor: float = 1.0, detector: str | None = None) -> None:
    """Options shared by ``ivif replay`` and ``ivif demo``: pairing, scoring, live playback (``rate_factor`` and
    ``detector``: the defaults of --rate-factor and --detector)."""
    g = p.add_argument_group("pairing (the fusion node's policy)")
    g.add_argument("--slop", type=float, default=0.02, help="largest stamp difference of a pair, seconds (default: 0.02)")
    g.add_argument("--queue-size", type=int, default=5, help="frames kept per input while waiting for a partner (default: 5)")
    g.add_argument("--thermal-stamp-offset", type=float, default=0.0, metavar="S",
                   help="seconds added to every thermal stamp before pairing, for cameras that stamp at different moments "
                        "(the replay says which value when the stamps keep pairs from forming) (default: 0)")
    g = p.add_argument_group("report")
    g.add_argument("--labels", type=Path, default=None, metavar="DIR",
                   help="YOLO boxes <stem>.txt for ROI-SSIM and detection mAP (bags from ivif make-bag know their stems)")
    g.add_argument("--no-metrics", action="store_true", help="skip the metric suite (latency and pictures only)")
    g.add_argument("--metric-stride", type=int, default=1, metavar="N", help="score every N-th pair (default: 1)")
    g.add_argument("--baselines", default="average,max,laplacian,ir_only,vi_only", metavar="NAMES",
                   help="comma-separated baselines scored beside the model ('' for none)")
    g.add_argument("--sheet", type=int, default=4, metavar="N", help="pairs on the contact sheet (default: 4)")
    g.add_argument("--detect", action="store_true", help="run YOLOX-nano on every fused image (detection summary)")
    g = p.add_argument_group("live replay over DDS")
    g.add_argument("--detector", default=detector, choices=("node", "inprocess"),
                   help="where the live graph detects (implies --detect): node = a detector_node on fusion/image; "
                        "inprocess = fusion_node's own detector (detector.enabled), no detector_node "
                        f"(default: {detector or 'node'})")
    g.add_argument("--rate-factor", type=float, default=rate_factor, metavar="F",
                   help=f"playback speed of the live graph; 0.5 = half speed (default: {rate_factor:g})")
    g.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID of the live graph (default: derived from the pid)")
    g.add_argument("--fastdds-profile", default=None, metavar="XML",
                   help="Fast DDS profile of the live graph (default: config/fastdds_images.xml, as launch/fusion.launch.py "
                        "gives the nodes: shared memory large enough for raw images; '' = none, leave the environment's)")
    g.add_argument("--fastdds-transports", default=None, metavar="NAME",
                   help="FASTDDS_BUILTIN_TRANSPORTS of the live graph; it replaces the profile's transports (default: "
                        "unset with a profile, else the environment's value)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a rosbag2 through the engine and write a report",
                       description="Read a rosbag2 (mcap or sqlite3) frame by frame, pair thermal and visible like fusion_node, "
                                   "fuse, write OUT/bag (inputs + /fusion/image + /fusion/alpha) and OUT/report.{md,html}. "
                                   "With --live the bag is played over DDS into a real fusion_node (+ detector_node with "
                                   "--detect) and the recorded outputs are reported and matched with an offline replay "
                                   "(OUT/offline).")
    p.add_argument("bag", type=Path, help="rosbag2 directory (or .mcap / .db3 file)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--thermal-topic", default="/thermal/image_raw",
                   help="sensor_msgs/Image or, as most datasets record it, image_transport's CompressedImage topic "
                        "(e.g. /thermal/image_raw/compressed) (default: /thermal/image_raw)")
    p.add_argument("--visible-topic", default="/visible/image_raw",
                   help="as --thermal-topic (default: /visible/image_raw)")
    p.add_argument("--storage", default=None, choices=("mcap", "sqlite3"), help="output bag storage (default: the input's)")
    p.add_argument("--live", action="store_true", help="play the bag into the ROS nodes over DDS and record their outputs")
    add_replay_options(p)
    add_engine_options(p)
    p.set_defaults(run=run)


def configs_from_args(args: argparse.Namespace):
    """(ReplayConfig, LiveConfig | None) from the parsed options."""
    from ..errors import InputError
    from ..replay.collect import CollectSettings
    from ..replay.live import DEFAULT_FASTDDS_PROFILE, LiveConfig
    from ..replay.offline import ReplayConfig

    args.detect = args.detect or args.detector is not None
    if args.labels is not None and not args.labels.is_dir():
        raise InputError(f"--labels {args.labels} is not a directory")
    baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
    collect = CollectSettings(metrics=not args.no_metrics, baselines=baselines, metric_stride=args.metric_stride,
                              sheet_pairs=args.sheet, labels_dir=args.labels)
    topics = {k: getattr(args, k) for k in ("thermal_topic", "visible_topic") if getattr(args, k, None)}
    config = ReplayConfig(**topics, slop=args.slop, thermal_stamp_offset=args.thermal_stamp_offset,
                          queue_size=args.queue_size, storage=getattr(args, "storage", None), detect=args.detect,
                          collect=collect)
    profile = str(DEFAULT_FASTDDS_PROFILE) if args.fastdds_profile is None else (args.fastdds_profile or None)
    transports = args.fastdds_transports or (None if profile else os.environ.get("FASTDDS_BUILTIN_TRANSPORTS"))
    live = LiveConfig(rate_factor=args.rate_factor, detector=args.detect, detector_mode=args.detector or "node",
                      domain_id=args.domain_id,
                      fastdds_profile=profile, fastdds_transports=transports) if args.live else None
    return config, live


def print_summary(result, report: Path) -> None:
    from ..replay.delivery import summary_line

    c = result.collected
    lat = c.latency.get("total") or c.latency.get("end_to_end") or {}
    fused = c.metric_means.get("fused", {})
    print(f"{result.mode} replay of {result.bag}: {result.pairs} pairs, backend {result.backend} on {result.device}, "
          f"{result.wall_s:.1f} s")
    if lat.get("n"):
        label = "per pair" if "total" in c.latency else "end to end"
        print(f"latency {label}: p50 {lat['p50']:.1f} ms, p90 {lat['p90']:.1f} ms, p99 {lat['p99']:.1f} ms")
    if fused:
        print("fused: " + ", ".join(f"{k} {v:.3f}" for k, v in fused.items() if v == v))
    errors = result.fusion_errors
    if errors.get("count"):
        print(f"{errors['count']} pair(s) could not be fused" + (f", e.g. {errors['examples'][0]}" if errors.get("examples") else "")
              + " (all of them in the report)")
    for camera, account in result.inputs.items():
        for reason, count in account.get("bad", {}).items():
            example = account.get("bad_examples", {}).get(reason)
            print(f"{count} {camera} frame(s) dropped as {reason}" + (f", e.g. {example}" if example else ""))
    if result.extra.get("stamp_offset_advice"):
        print(f"warning: {result.extra['stamp_offset_advice']}")
    delivery = result.extra.get("delivery")
    if delivery:
        print(summary_line(delivery))
    elif c.detections:
        print(f"{result.pairs} pairs fused, {c.detections['pairs']} detected")
    print(f"report: {report}")


def run(args: argparse.Namespace) -> int:
    from ..replay.runner import run_replay

    config, live = configs_from_args(args)
    result, report = run_replay(args.bag, args.out, config, engine_config_from_args(args), live)
    print_summary(result, report)
    if result.pairs == 0:
        print(f"ivif replay: error: no pair of {args.bag} was fused (reasons above and in {report})", file=sys.stderr)
        return 1
    return 0
