"""Write the weighted average of several FusionNet checkpoints fine-tuned from one start (training/weight_average.py):

    python scripts/average_weights.py --model runs/v3aug/model.pt --model runs/v3person/model.pt --out runs/soup.pt
    python scripts/average_weights.py --model default --model runs/v3aug/model.pt --weight 1 --weight 1 --out runs/wise.pt

``--weight`` once per ``--model`` (in order; uniform without it). The members' meta is recorded in the output's
``meta["weight_average"]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.checkpoint import model_path, save_checkpoint  # noqa: E402
from fusion_core.errors import IvifError  # noqa: E402
from training.weight_average import average_checkpoints, normalised_weights  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="member checkpoint ('default' = shipped model); repeat")
    parser.add_argument("--weight", action="append", type=float, help="member weight, once per --model (default uniform)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        shares = normalised_weights(len(args.model), args.weight)
        model = average_checkpoints(args.model, shares)
    except (IvifError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    members = [{"path": str(model_path(p)), "share": s} for p, s in zip(args.model, shares)]
    save_checkpoint(args.out, model, {"weight_average": {"members": members, "by": "scripts/average_weights.py"}})
    print(f"wrote {args.out}: " + ", ".join(f"{m['share']:.3f} x {m['path']}" for m in members))
    return 0


if __name__ == "__main__":
    sys.exit(main())
