"""``ivif`` entry point. Subcommands live in sibling modules that define ``add_parser(subparsers)``
and ``run(args) -> int``; heavy imports happen inside ``run`` so ``ivif --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys

from ..allocator import keep_freed_memory
from ..errors import IvifError

# Subcommand name -> module in fusion_core.cli. A module that is not installed yet is not offered.
COMMANDS = {
    "fuse": "fuse",
    "eval": "evaluate",
    "bench": "bench",
    "export": "export",
    "train": "train",
    "make-bag": "make_bag",
    "replay": "replay",
    "demo": "demo",
    "detect": "detect",
    "convert-checkpoint": "convert_checkpoint",
    "calibrate": "calibrate",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivif", description="Infrared-visible image fusion: fuse, evaluate, benchmark, export, train, replay.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        qualified = f"{__package__}.{module_name}"
        if importlib.util.find_spec(qualified) is None:
            continue
        importlib.import_module(qualified).add_parser(sub)
    return parser


def os_error_text(exc: OSError) -> str:
    """'cannot use PATH: reason' for an OSError that names its file(s), else the error itself."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    return f"cannot use {paths}: {exc.strerror or exc}" if paths else str(exc)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # every subcommand is a frame loop: no page faults per frame (fusion_core.allocator)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except IvifError as exc:
        print(f"ivif {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that cannot be read or written (a folder, a missing parent, no permission)
        print(f"ivif {args.command}: error: {os_error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
