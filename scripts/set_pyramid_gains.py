"""Write a copy of a FusionNet checkpoint with the Laplacian detail transfer set (fusion_core/model/pyramid.py).

The gains are architecture numbers, not weights, so they live in the checkpoint's model config; this
copies the weights unchanged and records where the file came from in its ``meta``:

    python scripts/set_pyramid_gains.py --model default --gains 0.5,0.5,0.5,0.5 --out runs/v2_pyramid.pt

``--model default`` is the shipped model; ``--gains ''`` writes the plain model back (transfer off).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.checkpoint import DEFAULT_MODEL_PATH, load_checkpoint, model_from_payload, save_checkpoint  # noqa: E402
from fusion_core.errors import IvifError  # noqa: E402
from fusion_core.model import FusionNet  # noqa: E402


def parse_gains(text: str) -> tuple[float, ...]:
    return tuple(float(g) for g in text.split(",") if g.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="checkpoint to copy ('default' = the shipped model)")
    parser.add_argument("--gains", required=True, help="comma-separated gains in [0, 2], finest band first")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    source = DEFAULT_MODEL_PATH if args.model == "default" else Path(args.model)
    try:
        payload = load_checkpoint(source)
        plain = model_from_payload(payload, source)
        model = FusionNet(dataclasses.replace(plain.config, pyramid_gains=parse_gains(args.gains)))
        model.load_state_dict(plain.state_dict())
    except (IvifError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = dict(payload.get("meta") or {})
    meta["pyramid_gains_set"] = {"from": str(source), "gains": list(model.config.pyramid_gains),
                                 "by": "scripts/set_pyramid_gains.py"}
    save_checkpoint(args.out, model, meta)
    print(f"wrote {args.out}: weights of {source}, pyramid_gains {list(model.config.pyramid_gains)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
