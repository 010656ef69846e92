"""``ivif eval``: score fused images (and/or classical baselines) on IR/visible pairs with the metric suite.

Pairs are matched by file stem; every image becomes float 0–255 BT.601 luminance
(:func:`fusion_core.io.to_luminance`) and is scored as it is, never min–max normalised. Baselines
are fused on the fly into the same uint8 image the engine would write, then scored like a file.
Several fused folders can be scored in one pass (``--fused v2=DIR --fused SeAFusion=DIR``): the pairs
are read once and every method is scored on exactly the same stems, which the paired scoreboard needs.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FUSED_LABEL = "fused"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="score fused images and baselines with the IVIF metric suite",
        description="Score fused images against their IR/visible pairs (matched by file stem) with EN, SD, SF, AG, MI, "
                    "SCD, VIF, Qabf, SSIM, MSE, PSNR and ROI-SSIM on 0-255 luminance. Prints the mean of each metric "
                    "(ROI-SSIM over the pairs that have boxes) and optionally writes per-pair values as JSON "
                    "(null = undefined, e.g. ROI-SSIM without boxes; \"inf\" = PSNR of a perfect copy).")
    p.add_argument("--ir", required=True, type=Path, help="folder of thermal images (8-bit)")
    p.add_argument("--vi", required=True, type=Path, help="folder of visible images")
    p.add_argument("--fused", action="append", default=[], metavar="[NAME=]DIR",
                   help="folder of fused images named like the pairs; repeat as NAME=DIR to score several methods "
                        "side by side (a bare DIR is labelled 'fused')")
    p.add_argument("--baseline", default=None, metavar="NAME[,NAME]",
                   help="also score classical baselines fused on the fly (ir_only, vi_only, average, max, laplacian)")
    p.add_argument("--boxes", type=Path, default=None,
                   help="folder of YOLO box files <stem>.txt for ROI-SSIM (a missing file = no boxes)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="score only the first N pairs (sorted by stem)")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write per-pair and mean values as JSON")
    p.set_defaults(run=run)


def _parse_baselines(spec: str | None) -> list[str]:
    from ..baselines import get_baseline

    names = [n.strip() for n in spec.split(",") if n.strip()] if spec else []
    for name in names:
        get_baseline(name)  # ConfigError naming the valid baselines
    if len(set(names)) != len(names):
        from ..errors import ConfigError
        raise ConfigError(f"--baseline lists a name twice: {spec!r}")
    return names


def parse_fused(specs: Sequence[str], baselines: Sequence[str] = ()) -> dict[str, Path]:
    """Label -> folder from ``--fused`` values: ``NAME=DIR`` or a bare ``DIR`` (labelled ``fused``).

    A value is split at its first ``=`` only when the part before it is a plain name (letters, digits,
    ``_ . + -``, no path separator), so a folder whose path contains ``=`` still works as a bare DIR.
    Labels must be unique and must not collide with a ``--baseline`` name (the rows would be ambiguous).
    """
    from ..errors import ConfigError

    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not _NAME.fullmatch(name):
            name, folder = FUSED_LABEL, spec
        if not folder:
            raise ConfigError(f"--fused {spec!r}: empty folder; expected NAME=DIR or DIR")
        if name in out:
            raise ConfigError(f"--fused names {name!r} twice ({out[name]} and {folder}); give each folder its own NAME=")
        if name in baselines:
            raise ConfigError(f"--fused name {name!r} is also a --baseline; choose another NAME")
        out[name] = Path(folder)
    return out


def _fused_files(folder: Path, stems: list[str], label: str = FUSED_LABEL) -> dict[str, Path]:
    """Stem -> fused image for every pair; a pair without one is an error naming it and the method."""
    from ..errors import InputError
    from ..io import list_images

    found = list_images(folder)
    missing = [s for s in stems if s not in found]
    if missing:
        raise InputError(f"--fused {label}: no fused image for pair {missing[0]!r} in {folder} (expected e.g. {folder / (missing[0] + '.png')}; "
                         f"{len(missing)} of {len(stems)} pair(s) missing)")
    return {s: found[s] for s in stems}


def _json_value(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def format_table(summaries: dict[str, Any], names: tuple[str, ...]) -> str:
    """Plain-text table of metric means: one row per method, then the pairs scored and the ROI pairs."""
    header = ["method", *names, "pairs", "roi pairs"]
    rows = [header]
    for label, summary in summaries.items():
        cells = [label]
        for name in names:
            value, count = summary.mean[name], summary.count[name]
            cells.append("-" if count == 0 else f"{value:.4f}")
        cells += [str(summary.pairs), str(summary.count.get("ROI-SSIM", 0))]
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from ..baselines import fuse_baseline_image
    from ..boxes import roi_mask_for
    from ..errors import ConfigError, InputError
    from ..io import pair_folders, read_thermal, read_visible, to_luminance
    from ..metrics import HIGHER_IS_BETTER, METRICS, compute_all, summarize
    from ._common import check_output_file

    check_output_file(args.json, "--json")
    baselines = _parse_baselines(args.baseline)
    fused_dirs = parse_fused(args.fused, baselines)
    if not fused_dirs and not baselines:
        raise ConfigError("nothing to score: give --fused DIR and/or --baseline NAME[,NAME]")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    if args.boxes is not None and not args.boxes.is_dir():
        raise InputError(f"--boxes {args.boxes} is not a directory")
    pairs = pair_folders(args.ir, args.vi)[: args.limit]
    fused_files = {label: _fused_files(folder, [p.stem for p in pairs], label) for label, folder in fused_dirs.items()}
    labels = [*fused_dirs, *baselines]

    per_pair: dict[str, dict[str, dict[str, float]]] = {label: {} for label in labels}
    roi_pairs = 0
    metric_seconds = 0.0
    for pair in tqdm(pairs, desc="eval", unit="pair"):
        thermal, visible = read_thermal(pair.ir), read_visible(pair.vi)
        if thermal.dtype != np.uint8:
            raise InputError(f"{pair.ir} is {thermal.dtype}; the metrics are defined on 8-bit (0-255) thermal images")
        ir_y, vi_y = to_luminance(thermal), to_luminance(visible)
        mask = roi_mask_for(args.boxes, pair.stem, ir_y.shape) if args.boxes is not None else None
        roi_pairs += int(mask is not None and bool(mask.any()))
        for label in labels:
            if label in fused_files:
                source = str(fused_files[label][pair.stem])
                image = read_visible(fused_files[label][pair.stem], f"fused image of {label!r}")
            else:
                source, image = f"baseline {label}", fuse_baseline_image(label, thermal, visible)
            t0 = time.perf_counter()
            try:
                per_pair[label][pair.stem] = compute_all(to_luminance(image), ir_y, vi_y, mask)
            except InputError as exc:
                raise InputError(f"pair {pair.stem!r} ({source}): {exc}") from exc
            metric_seconds += time.perf_counter() - t0

    summaries = {label: summarize(per_pair[label].values(), METRICS) for label in labels}
    print(f"ivif eval: {len(pairs)} pairs from {args.ir} + {args.vi}; "
          f"ROI-SSIM over the {roi_pairs} pair(s) with boxes" + ("" if args.boxes else " (no --boxes given)"))
    print("means (higher is better, except MSE):")
    print(format_table(summaries, METRICS))
    scored = len(pairs) * len(labels)
    print(f"metrics: {1000.0 * metric_seconds / scored:.0f} ms per scored image ({scored} scored)")

    if args.json is not None:
        report = {
            "ir": str(args.ir), "vi": str(args.vi),
            "fused": None if not fused_dirs else (str(fused_dirs[FUSED_LABEL]) if list(fused_dirs) == [FUSED_LABEL]
                                                  else {label: str(folder) for label, folder in fused_dirs.items()}),
            "boxes": None if args.boxes is None else str(args.boxes),
            "metrics": list(METRICS),
            "higher_is_better": HIGHER_IS_BETTER,
            "pairs": len(pairs),
            "roi_pairs": roi_pairs,
            "methods": {
                label: {
                    "mean": {k: _json_value(v) for k, v in summaries[label].mean.items()},
                    "count": summaries[label].count,
                    "per_pair": {stem: {k: _json_value(v) for k, v in row.items()} for stem, row in per_pair[label].items()},
                }
                for label in labels
            },
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0
