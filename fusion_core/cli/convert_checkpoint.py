"""``ivif convert-checkpoint OLD NEW``: re-save an older checkpoint you trust in the safe format.

Checkpoints load with ``torch.load(weights_only=True)``, which runs no code from the file; files
written before that rule are refused with a pointer here. Reading OLD unpickles it with code
execution (:func:`fusion_core.checkpoint.convert_unsafe`): only for a file whose origin you trust.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert-checkpoint", help="re-save an older, trusted checkpoint in the safe (weights_only) format",
                       description="Convert an older ivif checkpoint you TRUST to the format that loads without running "
                                   "code (same tensors, plain-value config and meta). Reading OLD runs any code it contains.")
    p.add_argument("old", type=Path, help="the old checkpoint (.pt), trusted")
    p.add_argument("new", type=Path, help="where to write the converted checkpoint")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import convert_unsafe

    out = convert_unsafe(args.old, args.new)  # ModelFileError -> exit 2 with the message (cli.main)
    print(f"wrote {out} (loads with torch.load(weights_only=True))")
    return 0
