"""Write ``start + scale * (tuned - start)`` for a FusionNet fine-tune (training/weight_average.py):

    python scripts/extrapolate_weights.py --start runs/v2w24.pt --tuned runs/v3anchorroidet/model.pt --scale 1.5 \\
        --out runs/v3anchorroidet_x15.pt

``--scale`` 1 writes the fine-tune itself, above 1 goes further along it. The start, the fine-tune and the scale
are recorded in the output's ``meta["extrapolation"]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.checkpoint import load_model, model_path, save_checkpoint  # noqa: E402
from fusion_core.errors import IvifError  # noqa: E402
from training.weight_average import extrapolate_models  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", required=True, help="the checkpoint the fine-tune started from ('default' = shipped)")
    parser.add_argument("--tuned", required=True, help="the fine-tuned checkpoint")
    parser.add_argument("--scale", required=True, type=float, help="how far along start -> tuned (1 = tuned)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        start, tuned = model_path(args.start), model_path(args.tuned)
        model = extrapolate_models(load_model(start), load_model(tuned), args.scale)
    except (IvifError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = {"start": str(start), "tuned": str(tuned), "scale": args.scale, "by": "scripts/extrapolate_weights.py"}
    save_checkpoint(args.out, model, {"extrapolation": meta})
    print(f"wrote {args.out}: {start} + {args.scale} x ({tuned} - {start})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
