"""``ivif fuse``: fuse every IR/visible pair of two folders (paired by file stem)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_engine_options, engine_config_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fuse", help="fuse image pairs from two folders",
                       description="Fuse IR/visible pairs matched by file stem. Writes OUT/fused/<stem>.png "
                                   "(RGB when the visible is colour, else grey) and OUT/alpha/<stem>.png (alpha*255).")
    p.add_argument("--ir", required=True, type=Path, help="folder of thermal images")
    p.add_argument("--vi", required=True, type=Path, help="folder of visible images")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    add_engine_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..engine import create_engine
    from ..errors import InputError
    from ..io import pair_folders, read_thermal, read_visible, write_image
    from ..thermal import range_warning

    pairs = pair_folders(args.ir, args.vi)
    engine = create_engine(engine_config_from_args(args))
    total_ms = 0.0
    outside_frame: list[str] = []  # pairs whose thermal footprint misses the visible frame
    outside_range: list[str] = []  # pairs whose thermal pixels all lie outside --thermal-range
    flat: str | None = None  # the first pair's thermal range warning (a 16-bit camera left at the full range)
    for pair in tqdm(pairs, desc="fuse", unit="pair"):
        thermal, visible = read_thermal(pair.ir), read_visible(pair.vi)
        try:
            result = engine.fuse(thermal, visible, "rgb")
        except InputError as exc:
            raise InputError(f"pair {pair.stem!r} ({pair.ir}, {pair.vi}): {exc}") from exc
        if pair is pairs[0]:
            flat = range_warning(thermal, engine.config.thermal)
        if result.thermal_coverage == 0.0:
            outside_frame.append(pair.stem)
        if args.thermal_range and not ((thermal >= args.thermal_range[0]) & (thermal <= args.thermal_range[1])).any():
            outside_range.append(pair.stem)
        write_image(args.out / "fused" / f"{pair.stem}.png", result.fused, "rgb")
        write_image(args.out / "alpha" / f"{pair.stem}.png", result.alpha)
        total_ms += result.timings["total"]
    print(f"fused {len(pairs)} pairs with backend {engine.backend} on {engine.device} "
          f"({total_ms / len(pairs):.1f} ms per pair) -> {args.out}")
    if flat is not None:
        print(f"warning: pair {pairs[0].stem!r}: {flat}; pass --thermal-range LOW HIGH (about that span) or "
              "--thermal-policy percentile")
    if outside_frame:
        print(f"warning: {len(outside_frame)} pair(s) had no thermal pixel inside the visible frame (the homography maps "
              f"the thermal image off it), so their output is the visible image: {', '.join(outside_frame[:5])}")
    if outside_range:
        print(f"warning: {len(outside_range)} pair(s) had every thermal pixel outside --thermal-range "
              f"{args.thermal_range[0]:g} {args.thermal_range[1]:g}, so thermal added nothing: {', '.join(outside_range[:5])}")
    return 0
