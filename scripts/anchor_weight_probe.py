"""Choose ``loss.anchor``'s weight from training batches, before any score of the anchored run.

The rule (docs/evaluation.md, "Anchored detection"): at the unanchored fine-tune's weights the anchor
should cost as much as the detection term gained there,

    weight = (detection(start) − detection(unanchored)) / anchor(unanchored vs start),

each averaged over the same training batches (the run's own data config: the dev and selection pairs are
not in it), with the run's loss settings. Then the drift the unanchored run made outside the targets
only pays if it buys at least as much detection as it cost. Only training crops are read, so the weight
owes nothing to the pairs the candidate is judged on.

    python scripts/anchor_weight_probe.py --config runs/v3wide/config.yaml --start runs/v2w24.pt \\
        --unanchored runs/v3wide/model.pt --batches 24 --json docs/eval/anchor_weight_probe.json

``loss.detection_anchor`` (the detector's confidences for the held classes, ``--hold 1 2``) is weighed by the same
rule against the fine-tune given as ``--unanchored`` (which may itself carry a pixel anchor):

    detection_anchor_weight = (detection(start) − detection(tuned)) / detection_anchor(tuned vs start)

(``--free-boxes``: the term as ``loss.detection_anchor_free_boxes`` computes it, the other classes' cells left out.)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_core.checkpoint import load_checkpoint, load_weights, model_path  # noqa: E402
from fusion_core.model import FusionNet  # noqa: E402
from training.config import load_config  # noqa: E402
from training.data import PairDataset, make_loader  # noqa: E402
from training.steps import TrainModule  # noqa: E402


def weights_of(source: str) -> tuple[dict, str]:
    path = model_path(source)
    return load_checkpoint(path)["model"], str(path)


def probe(config_path: Path, start: str, unanchored: str, batches: int, seed: int, hold: tuple[int, ...] = (),
          free_boxes: bool = False) -> dict:
    cfg = load_config(config_path, ["loss.anchor=0", "loss.detection_anchor=0"])
    if cfg.loss.detection <= 0:
        raise SystemExit(f"{config_path}: loss.detection is 0; the weight is set against a detection term's gain")
    # Both anchors exactly as training computes them: TrainModule.forward with the start as its reference. Their
    # weights here only switch the terms on (the probe reads the unweighted terms).
    loss = dataclasses.replace(cfg.loss, anchor=1.0, detection_anchor=1.0 if hold else 0.0,
                               detection_anchor_classes=tuple(hold), detection_anchor_free_boxes=free_boxes)
    module = TrainModule(cfg.model, loss, None).eval()
    models = {"start": weights_of(start), "tuned": weights_of(unanchored)}
    reference = FusionNet(cfg.model)
    load_weights(reference, *models["start"])
    module.set_reference(reference)
    loader = iter(make_loader(PairDataset(cfg.data), seed))
    detection: dict[str, list[float]] = {"start": [], "tuned": []}
    anchor: list[float] = []
    held: list[float] = []
    labelled = 0
    with torch.no_grad():
        for _ in range(batches):
            b = next(loader)
            terms = {}
            for name, (weights, where) in models.items():
                load_weights(module.fusion, weights, where)
                terms[name] = module(b["ir"], b["vi"], b["mask"], b["roi_valid"], vi_cbcr=b["vi_cbcr"], boxes=b["boxes"]).terms
                detection[name].append(float(terms[name]["detection"]))
            anchor.append(float(terms["tuned"]["anchor"]))
            if hold and bool(module.detection_crops(b["roi_valid"], b["vi"]).any()):  # batches without a crop add no drift
                held.append(float(terms["tuned"]["detection_anchor"]))
            labelled += int((b["roi_valid"] > 0.5).sum())
    mean = statistics.fmean
    gain = mean(detection["start"]) - mean(detection["tuned"])
    return {"config": str(config_path), "start": start, "unanchored": unanchored, "batches": batches, "seed": seed,
            "batch_size": cfg.data.batch_size, "labelled_crops": labelled, "detection_weight": cfg.loss.detection,
            "detection_start": mean(detection["start"]), "detection_unanchored": mean(detection["tuned"]), "detection_gain": gain,
            "anchor_unanchored": mean(anchor),
            "weight": cfg.loss.detection * gain / mean(anchor) if mean(anchor) > 0 else None,
            **(_held_weight(cfg.loss.detection * gain, held, hold, free_boxes) if hold else {})}


def _held_weight(gain: float, held: list[float], hold: tuple[int, ...], free_boxes: bool) -> dict:
    drift = statistics.fmean(held) if held else 0.0
    return {"held_classes": list(hold), "free_boxes": free_boxes, "detection_anchor_tuned": drift,
            "detection_anchor_weight": gain / drift if drift > 0 else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the unanchored run's config.yaml")
    parser.add_argument("--start", required=True, help="the model the runs start from (the anchor's reference)")
    parser.add_argument("--unanchored", required=True, help="the unanchored fine-tune's model.pt")
    parser.add_argument("--batches", type=int, default=24)
    parser.add_argument("--seed", type=int, default=123, help="batch draw (not the runs' seed 0, so not their first batches)")
    parser.add_argument("--hold", type=int, nargs="+", default=(), help="also weigh loss.detection_anchor for these classes")
    parser.add_argument("--free-boxes", action="store_true", help="with --hold: as loss.detection_anchor_free_boxes")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = probe(args.config, args.start, args.unanchored, args.batches, args.seed, tuple(args.hold), args.free_boxes)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
