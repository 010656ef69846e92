"""Ablation: what does computing α at reduced resolution cost in quality?

Trains FusionNet variants that differ only in the resolution of the network (``scale``), the way α
returns to full resolution (``upsample``) and the detail residual, all with the same target-aware
loss, data, seed and step count, then scores each on held-out dev pairs with the metric suite next to
the classic baselines. Prints a table and writes ``ablation.json`` (and the variants' checkpoints).

    python scripts/ablate_resolution.py --data DIR --dev DIR --out DIR [--steps N] [--device cuda]

``--data`` holds ``<set>/<split>/{ir,vi[,labels_det_ir]}`` training folders, ``--dev`` holds
``<set>/{ir,vi}`` evaluation folders. This is a research script over the library; the product's
training entry point is ``ivif train``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from fusion_core import FusionNet, FusionNetConfig, load_model, save_checkpoint
from fusion_core.baselines import BASELINES
from fusion_core.boxes import roi_mask_for
from fusion_core.colour import luminance
from fusion_core.io import list_images, pair_folders, read_thermal, read_visible
from fusion_core.losses import FusionLossConfig, fusion_loss
from fusion_core.metrics import METRICS, compute_all

# name -> (architecture, loss); the first six vary the architecture, the rest the loss weights.
VARIANTS = {
    "s4-guided": (FusionNetConfig(), FusionLossConfig()),
    "s4-bilinear": (FusionNetConfig(upsample="bilinear"), FusionLossConfig()),
    "s4-guided-no-detail": (FusionNetConfig(detail_residual=False), FusionLossConfig()),
    "s2-guided": (FusionNetConfig(scale=2), FusionLossConfig()),
    "s8-guided": (FusionNetConfig(scale=8), FusionLossConfig()),
    "s1-full-res": (FusionNetConfig(scale=1), FusionLossConfig()),
    "s4-ssim3": (FusionNetConfig(), FusionLossConfig(ssim=3.0)),
    "s4-roi-max": (FusionNetConfig(), FusionLossConfig(roi_intensity_target="max")),
    "s4-ssim3-roi-max": (FusionNetConfig(), FusionLossConfig(ssim=3.0, roi_intensity_target="max")),
    "s4-ssim2-roi2": (FusionNetConfig(), FusionLossConfig(ssim=2.0, roi_intensity=2.0)),
}


def load_training_pairs(root: Path, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Every training pair as (ir, vi_y, roi mask) (1, H, W) float tensors on ``device``."""
    pairs = []
    for split in sorted(p for p in root.glob("*/*") if (p / "ir").is_dir()):
        labels = split / "labels_det_ir"
        for pair in pair_folders(split / "ir", split / "vi"):
            ir = read_thermal(pair.ir).astype(np.float32) / 255.0
            vi = read_visible(pair.vi).astype(np.float32) / 255.0
            vi_y = vi if vi.ndim == 2 else luminance(torch.from_numpy(vi)).numpy()
            mask = roi_mask_for(labels, pair.stem, ir.shape).astype(np.float32) if labels.is_dir() else np.zeros_like(ir)
            pairs.append(tuple(torch.from_numpy(a)[None].to(device) for a in (ir, vi_y, mask)))
    return pairs


def sample_batch(pairs, batch: int, crop: int, gen: torch.Generator):
    """Random crops with random flips, stacked to (B, 1, crop, crop) each."""
    out = [[], [], []]
    for _ in range(batch):
        ir, vi, mask = pairs[int(torch.randint(len(pairs), (1,), generator=gen))]
        h, w = ir.shape[-2:]
        c = min(crop, h, w)
        y = int(torch.randint(h - c + 1, (1,), generator=gen))
        x = int(torch.randint(w - c + 1, (1,), generator=gen))
        flip = bool(torch.randint(2, (1,), generator=gen))
        for i, t in enumerate((ir, vi, mask)):
            t = t[:, y:y + c, x:x + c]
            t = t.flip(-1) if flip else t
            if c < crop:
                t = torch.nn.functional.interpolate(t[None], size=(crop, crop), mode="bilinear", align_corners=False)[0]
            out[i].append(t)
    return [torch.stack(o) for o in out]


def train(cfg: FusionNetConfig, loss_cfg: FusionLossConfig, pairs, steps: int, batch: int, crop: int, device: torch.device,
          seed: int, lr: float = 2e-3, init: Path | None = None) -> tuple[FusionNet, float]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = FusionNet(cfg)
    if init is not None:  # fine-tune: start from a trained checkpoint of the same architecture
        model.load_state_dict(load_model(init).state_dict())
    model = model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    t0 = time.time()
    for step in range(steps):
        ir, vi, mask = sample_batch(pairs, batch, crop, gen)
        loss, _ = fusion_loss(model(ir, vi), ir, vi, mask, loss_cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 500 == 0 or step == steps - 1:
            print(f"  step {step:5d} loss {loss.item():.4f}", flush=True)
    return model.eval(), time.time() - t0


def _score(args: tuple) -> dict[str, float]:
    return compute_all(*args)


def dev_pairs(dev: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]]:
    """Set name -> [(ir 0–255 float, visible Y 0–255 float, ROI mask or None)]."""
    sets = {}
    for d in sorted(p for p in dev.iterdir() if (p / "ir").is_dir()):
        items = []
        for pair in pair_folders(d / "ir", d / "vi"):
            ir = read_thermal(pair.ir).astype(np.float64)
            vi = read_visible(pair.vi).astype(np.float64)
            labels = d / "labels_det_ir"
            mask = roi_mask_for(labels, pair.stem, ir.shape) if labels.is_dir() else None
            items.append((ir, vi if vi.ndim == 2 else luminance(torch.from_numpy(vi)).numpy(), mask))
        sets[d.name] = items
    return sets


def evaluate(fuse, sets, pool: ProcessPoolExecutor) -> dict[str, dict[str, float]]:
    """Mean metrics per dev set of ``fuse(ir, vi) -> fused`` (all 0–255 float, fused rounded like a PNG)."""
    result = {}
    for name, items in sets.items():
        jobs = [(np.round(np.clip(fuse(ir, vi), 0, 255)), ir, vi, mask) for ir, vi, mask in items]
        rows = list(pool.map(_score, jobs, chunksize=2))
        result[name] = {m: float(np.nanmean([r[m] for r in rows])) for m in METRICS}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--dev", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--init", type=Path, default=None, help="fine-tune from this checkpoint instead of from scratch")
    ap.add_argument("--no-baselines", action="store_true", help="score only the trained variants")
    args = ap.parse_args()
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = load_training_pairs(args.data, device)
    sets = dev_pairs(args.dev)
    print(f"{len(pairs)} training pairs; dev sets: { {k: len(v) for k, v in sets.items()} }", flush=True)
    table: dict[str, dict] = {}
    with ProcessPoolExecutor() as pool:
        for name in () if args.no_baselines else BASELINES:
            fn = BASELINES[name]
            table[name] = {"metrics": evaluate(lambda ir, vi, fn=fn: fn(ir, vi), sets, pool)}
        for name in args.variants.split(","):
            cfg, loss_cfg = VARIANTS[name]
            print(f"training {name}: {cfg} {loss_cfg}", flush=True)
            model, secs = train(cfg, loss_cfg, pairs, args.steps, args.batch, args.crop, device, args.seed, args.lr, args.init)
            save_checkpoint(args.out / f"{name}.pt", model.cpu(), meta={"ablation": name, "loss": loss_cfg.to_dict(), "steps": args.steps, "seed": args.seed, "lr": args.lr,
                                                                      "init": str(args.init) if args.init else None,
                                                                      "batch": args.batch, "crop": args.crop, "train_seconds": secs})
            model.to(device)

            def fuse(ir: np.ndarray, vi: np.ndarray, model=model) -> np.ndarray:
                with torch.no_grad():
                    t = lambda a: torch.from_numpy(a / 255.0).float()[None, None].to(device)  # noqa: E731
                    return model(t(ir), t(vi)).fused[0, 0].double().cpu().numpy() * 255.0

            table[name] = {"config": dataclasses.asdict(cfg), "loss": loss_cfg.to_dict(), "train_seconds": secs, "metrics": evaluate(fuse, sets, pool)}
            json.dump(table, open(args.out / "ablation.json", "w"), indent=1)
    for set_name in sets:
        print(f"\n{set_name} dev ({len(sets[set_name])} pairs)")
        print(f"{'method':24s}" + "".join(f"{m:>9s}" for m in METRICS))
        for name, row in table.items():
            print(f"{name:24s}" + "".join(f"{row['metrics'][set_name][m]:9.3f}" for m in METRICS))


if __name__ == "__main__":
    main()
