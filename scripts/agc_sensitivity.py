"""How far a thermal camera's AGC moves the fusion: α and the fused image under thermal gain and offset changes.

A thermal core's automatic gain control rescales and shifts its 8-bit output whenever the temperature range in
view changes (a hot engine enters the frame), so the same scene arrives with another gain and offset from one
moment to the next. Under the engine's default ``fixed`` thermal normalisation that change reaches the network
as it is. What should stay is the *decision*, α (which camera each pixel comes from); the fused luminance may
follow the thermal values where α picks them. This script fuses each dev pair as recorded and with its thermal
image changed to clip(g · IR + o), for every gain g in ``--gains`` and offset o in ``--offsets`` (of full scale),
and reports per model the mean |Δα| (α on 0–1) and the mean |ΔY| of the fused luminance (grey levels), averaged
over pairs and changes. Lower is steadier. The percentile AGC policy (``--thermal-policy percentile`` of the CLI)
removes gain and offset before the network (``--policy percentile`` measures under it; the default, ``fixed``,
measures the model itself).

    python scripts/agc_sensitivity.py --model v2=default --model v3aug=runs/v3aug/model.pt [--policy fixed --policy percentile] [--json OUT]

About 10 s per model on 2 cores (101 pairs, 5 changes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fusion_core import EngineConfig, create_engine  # noqa: E402
from fusion_core.io import read_thermal, read_visible, to_luminance  # noqa: E402
from fusion_core.thermal import ThermalNormConfig  # noqa: E402
from training.data import read_split  # noqa: E402

DATA = REPO.parent / "shared" / "data"
SETS = {"msrs": ("MSRS", "config/splits/msrs_dev.txt", ".png"), "roadscene": ("RoadScene", "config/splits/roadscene_dev.txt", ".jpg")}


def changed(ir: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """8-bit thermal ``ir`` as the camera would deliver it after an AGC change: clip(gain · IR + offset · 255)."""
    return np.clip(np.rint(ir.astype(np.float64) * gain + offset * 255.0), 0, 255).astype(np.uint8)


def sensitivity(model: str, changes: list[tuple[float, float]], threads: int, policy: str) -> dict:
    engine = create_engine(EngineConfig(model_path=None if model == "default" else model, threads=threads,
                                        thermal=ThermalNormConfig(policy=policy)))
    out: dict = {}
    for name, (root, split, ext) in SETS.items():
        d_alpha, d_y = [], []
        for stem in read_split(split):
            base = DATA / root / "trainval"
            ir, vi = read_thermal(base / "ir" / f"{stem}{ext}"), read_visible(base / "vi" / f"{stem}{ext}")
            if ir.dtype != np.uint8:
                raise SystemExit(f"{stem}: expected 8-bit thermal, got {ir.dtype}")
            ir = ir if ir.ndim == 2 else ir[..., 0]
            engine.reset()
            ref = engine.fuse(ir, vi, "rgb")
            for gain, offset in changes:
                engine.reset()
                res = engine.fuse(changed(ir, gain, offset), vi, "rgb")
                d_alpha.append(float(np.abs(res.alpha.astype(np.float64) - ref.alpha).mean() / 255.0))
                d_y.append(float(np.abs(to_luminance(res.fused) - to_luminance(ref.fused)).mean()))
        out[name] = {"pairs": len(d_alpha) // len(changes), "mean_abs_delta_alpha": float(np.mean(d_alpha)),
                     "mean_abs_delta_fused_y": float(np.mean(d_y))}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, help="NAME=PATH (.pt or .onnx; PATH 'default' = the shipped model)")
    p.add_argument("--gains", default="0.8,1.25")
    p.add_argument("--offsets", default="-0.05,0.05")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--policy", action="append", default=None, choices=("fixed", "percentile"),
                   help="thermal normalisation(s) to measure under (repeatable; default fixed)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    gains = [float(g) for g in args.gains.split(",")]
    offsets = [float(o) for o in args.offsets.split(",")]
    changes = [(g, 0.0) for g in gains] + [(1.0, o) for o in offsets] + [(gains[-1], offsets[0])]
    report = {"changes_gain_offset": changes, "models": {}}
    for policy in args.policy or ["fixed"]:
        for item in args.model:
            name, _, path = item.partition("=")
            if not path:
                raise SystemExit(f"--model {item!r}: expected NAME=PATH")
            key = name if policy == "fixed" else f"{name} ({policy})"
            report["models"][key] = {"path": path, "policy": policy, **sensitivity(path, changes, args.threads, policy)}
    print(f"{'model':24s} {'set':10s} {'pairs':>5s} {'mean |dα|':>10s} {'mean |dY|':>10s}")
    for name, res in report["models"].items():
        for set_name in SETS:
            r = res[set_name]
            print(f"{name:24s} {set_name:10s} {r['pairs']:5d} {r['mean_abs_delta_alpha']:10.4f} {r['mean_abs_delta_fused_y']:10.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
