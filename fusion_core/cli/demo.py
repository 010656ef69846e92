"""``ivif demo``: the shipped sample as a bag, through a real ROS 2 graph, to a report in ``demo_out/``.

bag player (at the bag's own rate) -> fusion_node -> detector_node (or fusion_node's in-process detector,
``--detector inprocess``) -> recorder, as rclpy processes over Fast DDS on this host,
with the shipped fusion weights and YOLOX-nano. Without rclpy (or with ``--offline``) the same bag is
replayed offline through the same engine, pairing and detector instead.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ._common import add_engine_options, engine_config_from_args

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample" / "msrs"
MARKER = ".ivif_demo"  # marks a folder this command made, so a re-run may clear it
DEMO_RATE_FACTOR = 1.0  # the bag's own 10 Hz: the report says how many pairs came out fused and detected, and why not
# Where the live demo detects: "inprocess" (fusion_node's own detector, as launch/fusion.launch.py's default:
# one process and one raw-image hop fewer) or "node" (a separate detector_node); --detector overrides it.
DEMO_DETECTOR = "inprocess"


def add_parser(sub: argparse._SubParsersAction) -> None:
    from .replay import add_replay_options

    p = sub.add_parser("demo", help="sample bag -> ROS graph (fusion + detector) -> report in demo_out/",
                       description="Make a bag from the shipped MSRS sample (data/sample/msrs: 24 pairs, see its README for "
                                   "source and citation), play it through fusion_node and detector_node over DDS, record "
                                   "their outputs and write OUT/report.html. --offline (or no rclpy) replays offline instead.")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    p.add_argument("--offline", action="store_true", help="replay offline, without ROS")
    p.add_argument("--pairs", type=int, default=None, metavar="N", help="use only the first N sample pairs")
    p.add_argument("--sample", type=Path, default=SAMPLE, help="folder with ir/, vi/, labels/ (default: the shipped sample)")
    p.add_argument("--no-calibration", action="store_true",
                   help="skip the calibrated-rig section (a sample pair as an unregistered rig sees it, calibrated and fused)")
    p.add_argument("--drop", type=float, default=0.05, metavar="P", help="simulated camera frame loss of the bag (default: 0.05)")
    add_replay_options(p, rate_factor=DEMO_RATE_FACTOR, detector=DEMO_DETECTOR)
    add_engine_options(p)
    p.set_defaults(run=run, detect=True)


def _prepare_out(out: Path) -> None:
    from ..errors import ConfigError

    if out.exists():
        if not (out / MARKER).is_file():
            raise ConfigError(f"--out {out} exists and was not made by ivif demo; choose another folder or remove it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by ivif demo; the next run replaces this folder\n", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..replay.live import rclpy_available
    from ..replay.make_bag import make_bag
    from ..replay.runner import run_replay
    from .replay import configs_from_args, print_summary

    for sub in ("ir", "vi"):
        if not (args.sample / sub).is_dir():
            raise InputError(f"sample folder {args.sample / sub} is missing (the demo needs data/sample/msrs from the repository)")
    labels = args.labels or (args.sample / "labels" if (args.sample / "labels").is_dir() else None)
    live_ok, why = rclpy_available()
    args.live = not args.offline and live_ok
    if not args.offline and not live_ok:
        banner = "!" * 78
        print(f"{banner}\nivif demo: ROS 2 IS NOT AVAILABLE ({why}).\n"
              f"Running the OFFLINE replay instead: same bag, engine, pairing and detector, but no DDS graph.\n{banner}",
              file=sys.stderr)
    _prepare_out(args.out)
    bag = args.out / "sample_bag"
    made = make_bag(args.sample / "ir", args.sample / "vi", bag, drop_prob=args.drop, seed=0, limit=args.pairs)
    print(f"made {bag}: {made.pairs} pairs over {made.duration_s:.1f} s "
          f"({sum(made.dropped.values())} frame(s) dropped on purpose)")
    args.labels = labels
    config, live = configs_from_args(args)
    engine_config = engine_config_from_args(args)
    extra = []
    if not args.no_calibration:
        from ._demo_calibration import calibrated_rig_section

        rig = calibrated_rig_section(args.sample, args.out, engine_config)
        extra = rig.blocks
        print(f"calibrated an unregistered rig made from a sample pair: {rig.file} (corner error {rig.corner_error_px:.2f} px "
              f"against the true rig; thermal footprint {rig.coverage:.0%} of the visible frame)")
    result, report = run_replay(bag, args.out, config, engine_config, live, report_extra=extra)
    print_summary(result, report)
    print(f"\nopen {report.resolve()}")
    return 0
