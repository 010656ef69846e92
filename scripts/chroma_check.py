"""Does the fused image's colour help the detector more with more (or less) chroma? (issue 12, "Colour")

The engine fuses luminance only and puts the visible camera's Cb/Cr back unchanged. Where the thermal
image brightens a dark night scene, that chroma is small next to the new luminance, so the result looks
washed out; the detector is RGB-trained. This script scales the visible chroma around grey by each
``--gains`` value (0 = grey output; 1 = the engine's own output, written as the engine made it) on the
shipped model's fusion of MSRS trainval pairs and runs ``ivif detect`` on every variant against the
IR-side boxes, paired with the gain-1 output. ``--ratio-caps`` adds the night-scene variant: per pixel the
gain is the luminance ratio fused / visible (so a pixel the fusion brightened keeps its visible
saturation), limited to [1, cap].

The variants are rebuilt from the engine's fused RGB: its luminance (BT.601, as the engine's) with the
visible chroma times the gain. Where the engine's RGB clipped, that luminance differs slightly from the
network's; gain 1 is the engine's output itself.

    python scripts/chroma_check.py [--pairs selection|dev] [--gains 0,0.75,1.25,1.5,2] [--ratio-caps 2,4] [--out runs/chroma]

``selection`` (the default) = the MSRS/trainval pairs held out of the detection-in-the-loop selection runs
besides the dev split (config/splits/msrs_dev_and_selection.txt less config/splits/msrs_dev.txt), where
variants are compared before anything is scored on the dev split. About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from fusion_core import EngineConfig, create_engine
from fusion_core.colour import rgb_to_ycbcr, ycbcr_to_rgb
from fusion_core.io import read_thermal, read_visible
from training.data import read_split, read_split_excluding

REPO = Path(__file__).resolve().parents[1]
MSRS = REPO.parent / "shared" / "data" / "MSRS" / "trainval"
DEV_SPLIT = "config/splits/msrs_dev.txt"
DEV_AND_SELECTION_SPLIT = "config/splits/msrs_dev_and_selection.txt"
RATIO_EPS = 0.02  # keeps the luminance ratio finite in black pixels


def pair_stems(pairs: str) -> list[str]:
    """The stems of ``pairs`` ('dev' or 'selection') from the committed split files."""
    return read_split(DEV_SPLIT) if pairs == "dev" else read_split_excluding(DEV_AND_SELECTION_SPLIT, DEV_SPLIT)


def to_ycbcr(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (H, W, 3) float YCbCr in [0, 1]."""
    return rgb_to_ycbcr(torch.from_numpy(rgb).float() / 255.0)


def scaled_chroma(fused: torch.Tensor, visible: torch.Tensor, gain: float, ratio_cap: float | None = None) -> np.ndarray:
    """uint8 RGB with the fused luminance and the visible chroma (both YCbCr, :func:`to_ycbcr`) scaled around
    grey by ``gain``, or with ``ratio_cap`` by the per-pixel luminance ratio fused / visible limited to
    [1, ratio_cap]."""
    if ratio_cap is not None:
        gain = ((fused[..., :1] + RATIO_EPS) / (visible[..., :1] + RATIO_EPS)).clamp(1.0, ratio_cap)
    ycc = torch.cat((fused[..., :1], (0.5 + (visible[..., 1:] - 0.5) * gain).clamp(0.0, 1.0)), dim=-1)
    return ycbcr_to_rgb(ycc).mul(255.0).round().to(torch.uint8).numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", choices=("dev", "selection"), default="selection")
    parser.add_argument("--gains", default="0,0.75,1.25,1.5,2", help="comma-separated chroma gains besides 1")
    parser.add_argument("--ratio-caps", default="2,4", help="comma-separated caps of the luminance-ratio variant ('' = none)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "chroma")
    args = parser.parse_args()
    gains = [float(g) for g in args.gains.split(",")]
    stems = pair_stems(args.pairs)
    caps = [float(c) for c in args.ratio_caps.split(",") if c]
    variants = {"gain1": (1.0, None)} | {f"gain{g:g}": (g, None) for g in gains if g != 1.0} | {f"ratio{c:g}": (1.0, c) for c in caps}
    folders = {name: args.out / args.pairs / name for name in variants}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    engine = create_engine(EngineConfig())
    for stem in stems:
        visible = read_visible(MSRS / "vi" / f"{stem}.png")  # RGB
        engine.reset()  # unrelated pairs: no AGC memory between them
        fused = engine.fuse(read_thermal(MSRS / "ir" / f"{stem}.png"), visible, "rgb").fused
        fused_ycc, visible_ycc = to_ycbcr(fused), to_ycbcr(visible)
        for name, (gain, cap) in variants.items():
            image = fused if name == "gain1" else scaled_chroma(fused_ycc, visible_ycc, gain, cap)
            cv2.imwrite(str(folders[name] / f"{stem}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(f"{len(stems)} {args.pairs} pairs fused by {engine.backend} on {engine.device}; detecting", flush=True)
    others = [str(f) for name, f in folders.items() if name != "gain1"]
    cmd = [sys.executable, "-m", "fusion_core.cli.main", "detect", "--images", str(folders["gain1"]), "--labels",
           str(MSRS / "labels_det_ir"), "--compare", *others, "--reps", "2000", "--json", str(args.out / f"{args.pairs}.json")]
    return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
