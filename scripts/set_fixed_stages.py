"""Write a copy of a FusionNet checkpoint with its fixed stages set: the Laplacian detail transfer
(fusion_core/model/pyramid.py), the tone stage (fusion_core/model/tone.py) and the hot-target stage
(fusion_core/model/hot_target.py).

These are architecture numbers, not weights, so they live in the checkpoint's model config; this copies
the weights unchanged, keeps every stage not named on the command line as the source file has it, and
records where the file came from in its ``meta``:

    python scripts/set_fixed_stages.py --model default --gains 0.5,0.5,0.5,0.5 --out runs/v2_pyramid.pt
    python scripts/set_fixed_stages.py --model default --sum-mix 0.1 --contrast-gain 1.06 --out runs/v2tone.pt
    python scripts/set_fixed_stages.py --model default --hot-target 1 --hot-threshold 0.06 --hot-ramp 0.05 --out runs/v2hot.pt

``--model default`` is the shipped model; ``--gains ''`` turns the transfer off, ``--sum-mix 0
--contrast-gain 1`` the tone stage, ``--hot-target 0`` the hot-target stage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.checkpoint import load_checkpoint, model_from_payload, model_path, save_checkpoint  # noqa: E402
from fusion_core.errors import IvifError  # noqa: E402
from fusion_core.model import with_fixed_stages  # noqa: E402
from fusion_core.model.config import FIXED_STAGE_FIELDS  # noqa: E402


def parse_gains(text: str) -> tuple[float, ...]:
    return tuple(float(g) for g in text.split(",") if g.strip())


def stage_changes(args: argparse.Namespace) -> dict:
    """The config fields named on the command line, parsed."""
    changes: dict = {}
    if args.gains is not None:
        changes["pyramid_gains"] = parse_gains(args.gains)
    if args.sum_mix is not None:
        changes["sum_mix"] = args.sum_mix
    if args.contrast_gain is not None:
        changes["contrast_gain"] = args.contrast_gain
    for field in ("hot_target", "hot_target_threshold", "hot_target_ramp"):
        if getattr(args, field) is not None:
            changes[field] = getattr(args, field)
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="checkpoint to copy ('default' = the shipped model)")
    parser.add_argument("--gains", help="pyramid_gains: comma-separated gains in [0, 2], finest band first ('' = off)")
    parser.add_argument("--sum-mix", type=float, help="tone: share of the way towards the sources' sum, [0, 1] (0 = off)")
    parser.add_argument("--contrast-gain", type=float, help="tone: contrast gain about the image mean, [0.5, 2] (1 = off)")
    parser.add_argument("--hot-target", type=float, help="hot targets: weight towards the thermal image, [0, 1] (0 = off)")
    parser.add_argument("--hot-threshold", dest="hot_target_threshold", type=float,
                        help="hot targets: thermal excess over the background where the stage starts, [0, 1]")
    parser.add_argument("--hot-ramp", dest="hot_target_ramp", type=float,
                        help="hot targets: further excess at which a pixel takes the thermal value fully, (0, 1]")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    changes = stage_changes(args)
    if not changes:
        parser.error("name at least one of --gains, --sum-mix, --contrast-gain, --hot-target, --hot-threshold, --hot-ramp")
    source = model_path(args.model)
    try:
        payload = load_checkpoint(source)
        plain = model_from_payload(payload, source)
        model = with_fixed_stages(plain, **changes)
    except (IvifError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stages = {f: model.config.to_dict()[f] for f in FIXED_STAGE_FIELDS}
    meta = dict(payload.get("meta") or {})
    meta["fixed_stages_set"] = {"from": str(source), **stages, "by": "scripts/set_fixed_stages.py"}
    save_checkpoint(args.out, model, meta)
    print(f"wrote {args.out}: weights of {source}, {stages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
