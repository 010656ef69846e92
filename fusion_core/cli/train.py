"""``ivif train``: run a training from a YAML config (see training/ and config/train/)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train FusionNet (target_aware or ssvif) from a YAML config",
        description="Train FusionNet. The YAML is read into typed dataclasses (unknown keys are errors); KEY=VALUE "
                    "arguments override single settings, e.g. optim.steps=500 data.batch_size=4 run.device=cpu. "
                    "The run folder gets config.yaml (resolved), checkpoints/, scalars.jsonl, tb/, model.pt and "
                    "record.json. Several GPUs: torchrun --nproc_per_node N -m fusion_core.cli.main train ...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  ivif train --config config/train/target_aware.yaml\n"
               "  ivif train --config config/train/ssvif.yaml optim.steps=2000 --out runs/ssvif_short\n"
               "  ivif train --resume runs/target_aware/checkpoints/last.pt")
    p.add_argument("--config", type=Path, default=None,
                   help="training YAML (config/train/*.yaml); with --resume, default: the checkpoint's own config")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides (section.key=value)")
    p.add_argument("--resume", type=Path, default=None, help="training checkpoint to continue from (checkpoints/last.pt)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: run.out_dir of the config)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    if args.config is None and args.resume is None:
        raise ConfigError("give --config PATH (config/train/*.yaml) or --resume CHECKPOINT")
    import training  # lazily: `ivif --help` and the other subcommands never import the training stack

    if args.config is not None:
        config = training.load_config(args.config, args.overrides)
    else:
        config = training.config_for_resume(args.resume, args.overrides)
    result = training.train(config, resume=args.resume, out_dir=args.out)
    rec = result.record
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        print(f"trained {rec['steps']} steps ({config.mode}) in {rec['wall_time_s']:.1f} s, "
              f"{rec['pairs_per_s']:.2f} pairs/s -> {result.model_path}")
    return 0
