"""Write a FusionNet checkpoint widened to more channels that computes what the original computes (training/widen.py):

    python scripts/widen_model.py --model default --channels 24 --out runs/v2w24.pt

Fine-tune the result with ``ivif train ... model.channels=24 run.init=runs/v2w24.pt``. The source and the seed of the
new units are recorded in the output's ``meta["widened"]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.checkpoint import load_model, model_path, save_checkpoint  # noqa: E402
from fusion_core.errors import IvifError  # noqa: E402
from training.widen import widen  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint to widen ('default' = shipped model)")
    parser.add_argument("--channels", required=True, type=int, help="channels of the wider network")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new units' initialisation")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    source = model_path(args.model)
    try:
        model = widen(load_model(source), args.channels, args.seed)
    except IvifError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save_checkpoint(args.out, model, {"widened": {"from": str(source), "channels": args.channels, "seed": args.seed,
                                                   "by": "scripts/widen_model.py"}})
    print(f"wrote {args.out}: {source} widened to {args.channels} channels (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
