"""Accuracy of ``ivif calibrate`` on registered dev pairs warped by known synthetic rigs.

Each registered pair is rendered through a random rig (fusion_core.calibration.synthetic, seeded per
dataset and pair): visible 1280x720, thermal 640x512 with a 50°/70° field-of-view ratio and a random
rig error. The homography is then recovered from that single pair (and, for the first ``--multi``
rigs, from 3 pairs of one rig) and compared with the truth by the corner error: the largest distance,
in visible pixels, between the 4 thermal corners mapped by the true and by the estimated homography.
Failure = refused, or corner error > 10 px. Baselines: naive resize; OpenCV ECC (MOTION_HOMOGRAPHY,
intensities, initialised at the resize). "Repeatability": the error against the truth corrected by
the estimator's own answer on the un-warped registered pair (separates rig recovery from how the
dataset's registration and the estimator's optimum disagree; opt-in, ``--repeat``). A few pairs are fused with the
recovered homography and with the registered thermal to compare the fusion metrics.

    nice -n 10 python scripts/calibration_benchmark.py --out docs/eval/calibration_benchmark.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fusion_core.calibration import CalibrationConfig, corner_error, estimate_homography, naive_resize, nominal_scale_from_fov  # noqa: E402
from fusion_core.calibration.features import to_grey  # noqa: E402
from fusion_core.calibration.refine import refine  # noqa: E402
from fusion_core.calibration.synthetic import SyntheticRig  # noqa: E402
from fusion_core.errors import InputError  # noqa: E402
from fusion_core.io import read_thermal, read_visible  # noqa: E402

DATA = REPO.parent / "shared" / "data"
FAIL_PX = 10.0


def dataset_pairs(name: str, limit: int | None) -> list[tuple[str, Path, Path]]:
    """(stem, ir path, vi path): the dev splits of MSRS and RoadScene; LLVIP: the first 30 sorted stems."""
    if name == "llvip":
        root = DATA / "LLVIP" / "sample_train"
        stems = sorted(p.stem for p in (root / "ir").glob("*.jpg"))[:30]
        ext = ".jpg"
    else:
        root = DATA / ("MSRS" if name == "msrs" else "RoadScene") / "trainval"
        split = REPO / "config" / "splits" / f"{name}_dev.txt"
        stems = [s.strip() for s in split.read_text().splitlines() if s.strip() and not s.startswith("#")]
        ext = ".png" if name == "msrs" else ".jpg"
    stems = stems[:limit] if limit else stems
    return [(s, root / "ir" / f"{s}{ext}", root / "vi" / f"{s}{ext}") for s in stems]


def ecc_baseline(thermal: np.ndarray, visible: np.ndarray, width: int = 320) -> np.ndarray:
    """cv2.findTransformECC on intensities (MOTION_HOMOGRAPHY), from the resize, at ``width``; raises cv2.error."""
    from fusion_core.calibration.geometry import resample

    t, v = to_grey(thermal), to_grey(visible)
    kv = width / v.shape[1]
    vs = cv2.resize(v, (width, int(round(v.shape[0] * kv))), interpolation=cv2.INTER_AREA)
    ts = cv2.resize(t, (width, int(round(t.shape[0] * width / t.shape[1]))), interpolation=cv2.INTER_AREA)
    t_size, v_size = (t.shape[1], t.shape[0]), (v.shape[1], v.shape[0])
    ts_size, vs_size = (ts.shape[1], ts.shape[0]), (vs.shape[1], vs.shape[0])
    init = np.linalg.inv(naive_resize(ts_size, vs_size)).astype(np.float32)  # ECC's warp: template(visible) -> input
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
    _, warp = cv2.findTransformECC(vs, ts, init, cv2.MOTION_HOMOGRAPHY, criteria, None, 5)
    h_small = np.linalg.inv(warp.astype(np.float64))
    h = np.linalg.inv(resample(v_size, vs_size)) @ h_small @ resample(t_size, ts_size)
    return h / h[2, 2]


def self_reference(ir: np.ndarray, vi: np.ndarray, config: CalibrationConfig) -> np.ndarray:
    """The estimator's own IR -> VI mapping on the un-warped registered pair (identity start)."""
    w = ir.shape[1]
    cfg = CalibrationConfig(refine_widths=(min(256, w), min(512, w)), sigma=config.sigma)
    return refine([(to_grey(ir), to_grey(vi))], np.eye(3), cfg)[0]


def summarise(errors: list[float], refused: int, seconds: list[float]) -> dict[str, float | int | None]:
    n = len(errors) + refused
    ok = np.asarray(errors, dtype=np.float64)
    fails = refused + int((ok > FAIL_PX).sum())
    return {
        "n": n, "refused": refused, "failures": fails, "failure_rate": fails / n if n else None,
        "median_px": float(np.median(ok)) if ok.size else None,
        "p95_px": float(np.percentile(ok, 95)) if ok.size else None,
        "median_px_all": float(np.median(np.concatenate([ok, np.full(refused, np.inf)]))) if n else None,
        "seconds_per_calibration": float(np.mean(seconds)) if seconds else None,
    }


def run_dataset(name: str, args: argparse.Namespace, rig: SyntheticRig, config: CalibrationConfig) -> dict:
    pairs = dataset_pairs(name, args.limit)
    methods: dict[str, dict[str, list]] = {m: {"err": [], "refused": [], "sec": []} for m in ("resize", "ecc", "ours", "ours_repeat", "ours_3pairs")}
    rows = []
    for i, (stem, ir_path, vi_path) in enumerate(pairs):
        rng = np.random.default_rng([args.seed, ["msrs", "roadscene", "llvip"].index(name), i])
        h_true = rig.draw(rng)
        ir, vi = read_thermal(ir_path), read_visible(vi_path)
        thermal, visible = rig.render(ir, vi, h_true, rng)
        row: dict = {"stem": stem, "h_true": h_true.ravel().tolist()}
        t_size = rig.thermal_size
        methods["resize"]["err"].append(corner_error(h_true, naive_resize(t_size, rig.visible_size), t_size))
        t0 = time.perf_counter()
        try:
            err = corner_error(h_true, ecc_baseline(thermal, visible), t_size)
            methods["ecc"]["err"].append(err if np.isfinite(err) else 1e9)
        except cv2.error:
            methods["ecc"]["refused"].append(stem)
        methods["ecc"]["sec"].append(time.perf_counter() - t0)
        try:
            est = estimate_homography([(thermal, visible)], config)
            err = corner_error(h_true, est.homography, t_size)
            methods["ours"]["err"].append(err)
            methods["ours"]["sec"].append(est.seconds)
            row.update(ours_px=err, score=est.score, margin=est.margin, seconds=est.seconds, h_est=est.homography.ravel().tolist())
            if args.repeat:
                a = rig.crop_to_visible((ir.shape[1], ir.shape[0]))
                h_ref = a @ self_reference(ir, vi, config) @ np.linalg.inv(a) @ h_true
                rep = corner_error(h_ref, est.homography, t_size)
                methods["ours_repeat"]["err"].append(rep)
                row["repeat_px"] = rep
        except InputError as exc:
            methods["ours"]["refused"].append(stem)
            if args.repeat:
                methods["ours_repeat"]["refused"].append(stem)
            row["refused"] = str(exc)
        if i < args.multi and len(pairs) >= 3:
            group = [pairs[(i + k) % len(pairs)] for k in range(3)]
            rendered = [rig.render(read_thermal(g[1]), read_visible(g[2]), h_true, rng) for g in group]
            try:
                est3 = estimate_homography(rendered, config)
                methods["ours_3pairs"]["err"].append(corner_error(h_true, est3.homography, t_size))
                methods["ours_3pairs"]["sec"].append(est3.seconds)
            except InputError:
                methods["ours_3pairs"]["refused"].append(stem)
        rows.append(row)
        print(f"{name} {i + 1}/{len(pairs)} {stem}: ours {row.get('ours_px', 'refused')}, repeat {row.get('repeat_px')}", flush=True)
        if args.images and "h_est" in row and not any("picture" in r for r in rows):
            row["picture"] = f"calibration_{name}.png"
            from fusion_core.calibration.overlay import before_after
            from fusion_core.io import write_image

            pic = before_after(thermal, visible, np.asarray(row["h_est"]).reshape(3, 3), width=400)
            write_image(Path(args.images) / row["picture"], pic)
    summary = {m: summarise(v["err"], len(v["refused"]), v["sec"]) for m, v in methods.items()}
    return {"summary": summary, "pairs": rows}


def fusion_check(args: argparse.Namespace, rig: SyntheticRig, config: CalibrationConfig, n: int) -> list[dict]:
    """Metrics of fusing the rig's thermal with the recovered H, with the true H and with a resize, and of
    fusing the registered thermal (warped straight into the visible grid), inside the thermal footprint,
    for the first ``n`` MSRS dev rigs the estimator accepts (refusals are listed). Every variant is
    scored against the same sources: the registered IR in the visible grid and the visible image."""
    from fusion_core.engine import EngineConfig, create_engine
    from fusion_core.io import to_luminance
    from fusion_core.metrics import compute_all
    from fusion_core.registration import RegistrationConfig

    out: list[dict] = []
    for i, (stem, ir_path, vi_path) in enumerate(dataset_pairs("msrs", None)):
        if sum("calibrated" in r for r in out) >= n:
            break
        rng = np.random.default_rng([args.seed, 0, i])
        h_true = rig.draw(rng)
        ir, vi = read_thermal(ir_path), read_visible(vi_path)
        thermal, visible = rig.render(ir, vi, h_true, rng)
        try:
            h_est = estimate_homography([(thermal, visible)], config).homography
        except InputError as exc:
            out.append({"stem": stem, "refused": str(exc)})
            continue
        a = rig.crop_to_visible((ir.shape[1], ir.shape[0]))
        ir_grid = cv2.warpPerspective(ir, a, rig.visible_size, flags=cv2.INTER_LINEAR)  # registered thermal, visible grid
        box = _inner_box(cv2.warpPerspective(np.ones(thermal.shape, np.uint8), h_true, rig.visible_size) > 0)
        ref = to_luminance(ir_grid)[box]
        vis = to_luminance(visible)[box]
        result: dict = {"stem": stem, "box": [box[0].start, box[0].stop, box[1].start, box[1].stop]}
        for label, th_img, h in (("registered", ir_grid, None), ("true_h", thermal, h_true), ("calibrated", thermal, h_est),
                                 ("resize", thermal, naive_resize(rig.thermal_size, rig.visible_size))):
            reg = RegistrationConfig(homography=tuple(h.ravel()) if h is not None else None)
            engine = create_engine(EngineConfig(registration=reg, threads=1))
            fused = engine.fuse(th_img, visible, "rgb").fused
            result[label] = compute_all(to_luminance(fused)[box], ref, vis)
        out.append(result)
        print(f"fusion {stem}: calibrated vs registered Qabf {result['calibrated']['Qabf']:.3f} / {result['registered']['Qabf']:.3f}", flush=True)
    return out


def _inner_box(mask: np.ndarray) -> tuple[slice, slice]:
    """An axis-aligned box inside ``mask`` (shrunk from its bounding box until it lies inside)."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    while not mask[y0:y1, x0:x1].all():
        dy, dx = max((y1 - y0) // 50, 1), max((x1 - x0) // 50, 1)
        y0, y1, x0, x1 = y0 + dy, y1 - dy, x0 + dx, x1 - dx
    return slice(int(y0), int(y1)), slice(int(x0), int(x1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["msrs", "roadscene", "llvip"], choices=["msrs", "roadscene", "llvip"])
    p.add_argument("--limit", type=int, default=None, help="pairs per dataset (default: all dev pairs; LLVIP 30)")
    p.add_argument("--multi", type=int, default=10, help="rigs per dataset also recovered from 3 pairs (default 10)")
    p.add_argument("--fusion", type=int, default=5, help="MSRS pairs for the fusion-metric check (default 5)")
    p.add_argument("--repeat", action="store_true",
                   help="also score against the truth corrected by the estimator's answer on the un-warped registered pair")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--images", default=None, help="folder for one before/after picture per dataset")
    p.add_argument("--out", default=str(REPO / "docs" / "eval" / "calibration_benchmark.json"))
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    rig = SyntheticRig()
    config = CalibrationConfig(nominal_scale=nominal_scale_from_fov(rig.thermal_size[0], rig.visible_size[0], 50.0, 70.0))
    report: dict = {"rig": {k: getattr(rig, k) for k in rig.__dataclass_fields__}, "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
                    "failure_px": FAIL_PX, "seed": args.seed, "datasets": {}}
    for name in args.datasets:
        report["datasets"][name] = run_dataset(name, args, rig, config)
        Path(args.out).write_text(json.dumps(report, indent=1, default=float))
    if args.fusion:
        report["fusion"] = fusion_check(args, rig, config, args.fusion)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=float))
    for name, res in report["datasets"].items():
        for method, s in res["summary"].items():
            print(f"{name:10s} {method:12s} {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
