"""Temporal stability report: flicker of the fused output and of α, and the lag of α behind a moving target.

No real consecutive IR/visible frames are available (../shared/data has single pairs; the LLVIP
sample's numbered stems are different moments, partly from different cameras), so each sequence is
built from one real MSRS pair by :func:`fusion_core.metrics.synthetic_sequence` (seeded): sensor
noise, a sub-pixel camera drift shared by both cameras and, in the ``agc`` sequences, thermal
AGC-like gain/offset steps. Methods: the shipped model per frame, with motion-aware α smoothing, with
plain α smoothing (no motion gate, for contrast), and the classical baselines. Then a hot disc is
pasted into the thermal frames, moving at a few px/frame, to measure how far α trails it.

    python scripts/flicker_report.py [--out docs/eval/flicker.json] [--frames 20] [--size 320x240]

Prints markdown tables (docs/temporal.md quotes them) and writes the JSON. About 1–3 minutes on two
busy CPU cores. The engine runs the torch backend on the CPU; the smoothing sits in the shared
pipeline, so the other backends give the same numbers up to their own float differences.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import cv2
import numpy as np

from fusion_core import DEFAULT_MODEL_PATH, EngineConfig, create_engine
from fusion_core.baselines import fuse_baseline_image
from fusion_core.io import read_thermal, read_visible, to_luminance
from fusion_core.metrics import alpha_flicker, alpha_lag, fused_flicker, paste_hot_blob, synthetic_sequence, temporal_change

REPO = Path(__file__).resolve().parents[1]
MSRS = REPO.parent / "shared" / "data" / "MSRS" / "trainval"
PAIRS = ("00004N", "00055D")  # a night and a day scene
# name -> (alpha_smoothing, alpha_motion_threshold)
MODEL_SETTINGS = {
    "model": (0.0, 0.02),
    "model+smooth0.5": (0.5, 0.02),
    "model+smooth0.8": (0.8, 0.02),
    "model+plain-ema0.8": (0.8, 1.0),  # no motion gate: shows the lag the gate avoids
}
BASELINES = ("average", "max", "laplacian")
SEQUENCES = {"noise": dict(drift=0.0, gain_every=10_000), "noise+agc": dict(drift=0.0, gain_every=6),
             "noise+drift": dict(gain_every=10_000), "noise+drift+agc": dict(gain_every=6)}
SPEEDS = (4.0, 8.0)  # px/frame of the hot disc
BLOB_RADIUS = 10.0
LAG_REACH = 60.0  # px around the disc where α's response is looked for (the network reaches ~32 px; lags of a few frames fit)
SLACK = 1.0  # grey levels: outputs are uint8 (see fusion_core.metrics.flicker)


def _run_engine(engine, frames) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Fused luminance (0–255) and α ([0, 1]) for a sequence, from a reset engine."""
    engine.reset()
    fused, alphas = [], []
    for thermal, visible in frames:
        out = engine.fuse(thermal, visible)
        fused.append(to_luminance(out.fused))
        alphas.append(out.alpha / 255.0)
    return fused, alphas


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(np.mean(values)), 4), "max": round(float(np.max(values)), 4)}


def flicker_rows(engines, frames) -> dict[str, dict]:
    """method -> flicker figures for one sequence."""
    ir = [t.astype(np.float64) for t, _ in frames]  # fixed policy: the network's IR is thermal / 255
    vi = [to_luminance(v) for _, v in frames]
    rows: dict[str, dict] = {}
    for name, engine in engines.items():
        fused, alphas = _run_engine(engine, frames)
        rows[name] = {"fused_flicker": _stats(fused_flicker(fused, ir, vi, slack=SLACK)),
                      "fused_flicker_no_slack": _stats(fused_flicker(fused, ir, vi)),
                      "alpha_flicker": _stats(alpha_flicker(alphas)),
                      "fused_change": _stats(temporal_change(fused))}
    for name in BASELINES:
        fused = [to_luminance(fuse_baseline_image(name, t, v)) for t, v in frames]
        rows[name] = {"fused_flicker": _stats(fused_flicker(fused, ir, vi, slack=SLACK)),
                      "fused_flicker_no_slack": _stats(fused_flicker(fused, ir, vi)),
                      "alpha_flicker": None, "fused_change": _stats(temporal_change(fused))}
    rows["inputs"] = {"ir_change": _stats(temporal_change(ir)), "vi_change": _stats(temporal_change(vi))}
    return rows


def lag_rows(engines, thermal: np.ndarray, visible: np.ndarray, frames: int, seed: int) -> dict[str, dict]:
    """speed -> method -> lag of α behind the hot disc (frames), averaged over frames 4..end."""
    clean = synthetic_sequence(thermal, visible, frames, seed=seed, drift=0.0, gain_every=10_000)  # noise only
    h, w = thermal.shape
    background = {name: _run_engine(engine, clean)[1] for name, engine in engines.items()}
    out: dict[str, dict] = {}
    for speed in SPEEDS:
        start = (w - speed * (frames - 1)) / 2
        positions = [(start + speed * t, h * 0.6) for t in range(frames)]
        moving = [(paste_hot_blob(t, p, BLOB_RADIUS), v) for (t, v), p in zip(clean, positions)]
        out[f"{speed:g}px/frame"] = {}
        for name, engine in engines.items():
            lags = alpha_lag(_run_engine(engine, moving)[1], background[name], positions, (speed, 0.0),
                             reach=LAG_REACH)[4:]
            out[f"{speed:g}px/frame"][name] = {"lag_frames": round(float(np.mean(lags)), 3),
                                               "lag_frames_max": round(float(np.max(lags)), 3)}
    return out


def markdown(report: dict) -> str:
    lines = []
    for pair, seqs in report["flicker"].items():
        for seq, rows in seqs.items():
            ins = rows["inputs"]
            lines += [f"\n{pair}, {seq} (input change per frame: IR {ins['ir_change']['mean']:.2f}, "
                      f"VI {ins['vi_change']['mean']:.2f} grey levels)\n",
                      "| method | fused flicker mean / max (slack 1) | no slack mean | α flicker mean / max (×255) | mean abs ΔF |",
                      "|---|---|---|---|---|"]
            for name, r in rows.items():
                if name == "inputs":
                    continue
                a = r["alpha_flicker"]
                alpha = f"{a['mean'] * 255:.2f} / {a['max'] * 255:.2f}" if a else "–"
                lines.append(f"| {name} | {r['fused_flicker']['mean']:.3f} / {r['fused_flicker']['max']:.3f} | "
                             f"{r['fused_flicker_no_slack']['mean']:.3f} | {alpha} | {r['fused_change']['mean']:.2f} |")
    lines += ["\n| pair | speed | " + " | ".join(MODEL_SETTINGS) + " |", "|---|---|" + "---|" * len(MODEL_SETTINGS)]
    for pair, speeds in report["lag"].items():
        for speed, rows in speeds.items():
            lines.append(f"| {pair} | {speed} | " + " | ".join(f"{rows[n]['lag_frames']:+.2f}" for n in MODEL_SETTINGS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "eval" / "flicker.json")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", default="320x240", help="WxH the real pairs are resized to (INTER_AREA)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; more only helps on an idle machine")
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    t0 = time.perf_counter()
    engines = {name: create_engine(EngineConfig(backend="torch", device="cpu", threads=args.threads, alpha_smoothing=s,
                                                alpha_motion_threshold=tau))
               for name, (s, tau) in MODEL_SETTINGS.items()}
    model = Path(DEFAULT_MODEL_PATH)
    report: dict = {"model": {"path": str(model.relative_to(REPO)) if model.is_relative_to(REPO) else str(model),
                              "sha256": hashlib.sha256(model.read_bytes()).hexdigest()[:16]},
                    "data": {"pairs": [f"MSRS/trainval/{{ir,vi}}/{p}.png" for p in PAIRS], "size": [w, h],
                             "frames": args.frames, "seed": args.seed, "synthetic": "fusion_core.metrics.synthetic_sequence "
                             "defaults (noise sigma 2, drift 0.3 px/frame random walk, AGC gain 1+-0.12, offset +-10)",
                             "sequences": SEQUENCES, "blob_radius_px": BLOB_RADIUS, "lag_reach_px": LAG_REACH, "slack_grey_levels": SLACK},
                    "settings": {n: {"alpha_smoothing": s, "alpha_motion_threshold": tau} for n, (s, tau) in MODEL_SETTINGS.items()},
                    "flicker": {}, "lag": {}}
    for i, stem in enumerate(PAIRS):
        thermal = cv2.resize(read_thermal(MSRS / "ir" / f"{stem}.png"), (w, h), interpolation=cv2.INTER_AREA)
        visible = cv2.resize(read_visible(MSRS / "vi" / f"{stem}.png"), (w, h), interpolation=cv2.INTER_AREA)
        report["flicker"][stem] = {
            seq: flicker_rows(engines, synthetic_sequence(thermal, visible, args.frames, seed=args.seed + i, **kw))
            for seq, kw in SEQUENCES.items()}
        report["lag"][stem] = lag_rows(engines, thermal, visible, args.frames, args.seed + 100 + i)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\nwrote {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
