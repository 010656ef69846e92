"""How well are the datasets' registered pairs registered, region by region? And what does that leave for the
calibration benchmark, whose truth they are (issue 13)?

``fusion_core.calibration.residual`` measures, tile by tile, how far the thermal edges lie from the visible ones.
On a dataset's own registered pairs (the benchmark's: MSRS dev day pairs, LLVIP's first 30; night pairs carry no
visible edges) that is the registration's error field. MSRS and LLVIP were each shot with one rig and registered
with one mapping, so their pairs' agreements are summed into one field; RoadScene was registered pair by pair, so
each of its pairs gets its own (noisier) field. Frames wider than 640 px (LLVIP's 1280) are analysed at 640, as
``ivif calibrate``'s residual is; leftovers are given in the dataset's own pixels. For each field:

* the homography that best explains it, and what it leaves per tile (the part no single homography removes), with
  a split-half check (the field of the even and of the odd pairs: does what is left repeat?) and a bootstrap over
  pairs of the leftover's median;
* **the corner error a perfect estimator would show** on every benchmark rig: an estimator that put each thermal
  edge exactly on its visible edge, over the part of the frame the rig's thermal camera sees, and fitted one
  homography there (affine and full), extrapolated to the thermal corners as the benchmark does. That is the
  floor the committed truth puts under any homography calibration, compared rig by rig with the committed
  estimates (docs/eval/calibration_benchmark.json; nothing is re-estimated).

``--rig-residuals`` also renders every accepted benchmark rig again (the committed seeds) and measures the edge
residual that ``ivif calibrate`` reports (:func:`fusion_core.calibration.residual.field_after_calibration`) for the
committed estimate and for the true homography: which of the two puts the thermal edges nearer the visible ones.
The measure uses the same kind of features as the estimator, so it cannot show a bias common to both.

    python scripts/registration_field.py [--rig-residuals] [--out docs/eval/registration_field.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fusion_core.calibration.features import resize_to_width, to_grey  # noqa: E402
from fusion_core.calibration.geometry import corner_error  # noqa: E402
from fusion_core.calibration.residual import (  # noqa: E402
    ResidualField,
    field_after_calibration,
    fit_field_homography,
    residual_field,
    tile_agreement,
)
from fusion_core.errors import InputError  # noqa: E402
from fusion_core.io import read_thermal, read_visible  # noqa: E402

GRID = (12, 9)
RADIUS = 6
BOOTSTRAP = 200
WIDTH = 640  # analysis width, as ivif calibrate's residual: LLVIP's 1280 px frames are halved, the others kept


def grey8(image: np.ndarray) -> np.ndarray:
    return np.clip(to_grey(image) * 255, 0, 255).astype(np.uint8)


def field_summary(field: ResidualField, unit: float = 1.0) -> dict:
    """Pixel figures in dataset px: ``unit`` dataset px per analysis px."""
    h, left = fit_field_homography(field)
    return {"valid_tiles": int(field.valid.sum()), "tiles": int(field.valid.size),
            "median_shift_px": [float(v) * unit for v in np.nanmedian(field.shifts, axis=0)],
            "left_by_homography_px": {"median": float(np.median(left)) * unit, "p90": float(np.percentile(left, 90)) * unit,
                                      "max": float(left.max()) * unit},
            "homography_analysis_px": h.ravel().tolist()}


def split_half(agreement, unit: float = 1.0) -> dict:  # noqa: ANN001 - TileAgreement
    """What the all-pairs homography leaves, in the fields of the even and of the odd pairs: if it is structure of the
    registration and not noise, the two halves' leftovers point the same way."""
    n = len(agreement.numerators)
    full = residual_field(agreement)
    h, _ = fit_field_homography(full)
    left = []
    for half in (np.arange(0, n, 2), np.arange(1, n, 2)):
        f = residual_field(agreement, half)
        mapped = cv2.perspectiveTransform(f.centres.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)
        left.append(f.centres + f.shifts - mapped)
    both = np.isfinite(left[0]).all(axis=1) & np.isfinite(left[1]).all(axis=1)
    a, b = left[0][both].ravel(), left[1][both].ravel()
    return {"tiles_in_both": int(both.sum()), "correlation": float(np.corrcoef(a, b)[0, 1]),
            "median_leftover_px": [float(np.median(np.hypot(*x[both].T))) * unit for x in left],
            "median_difference_px": float(np.median(np.hypot(*(left[0][both] - left[1][both]).T))) * unit}


def bootstrap_leftover(agreement, reps: int, seed: int = 0, unit: float = 1.0) -> list[float]:  # noqa: ANN001
    rng = np.random.default_rng(seed)
    n = len(agreement.numerators)
    medians = []
    for _ in range(reps):
        try:
            medians.append(float(np.median(fit_field_homography(residual_field(agreement, rng.integers(0, n, n)))[1])))
        except InputError:
            continue
    return [float(np.percentile(medians, 2.5)) * unit, float(np.percentile(medians, 97.5)) * unit]


def perfect_estimator_floor(field: ResidualField, crop: np.ndarray, h_true: np.ndarray, thermal_size: tuple[int, int],
                            visible_size: tuple[int, int], h_est: np.ndarray | None = None) -> dict[str, float | int]:
    """Corner error (rig visible px) of the homography, affine or full, that moves every tile the rig's thermal camera
    sees onto its visible edges: y -> y - s·d, fitted over those tiles (``crop``: analysis px -> rig visible px); and,
    given the committed estimate ``h_est``, its corner distance from that edge-consistent affine one."""
    s = float(crop[0, 0])
    centres = cv2.perspectiveTransform(field.centres.reshape(-1, 1, 2).astype(np.float64), crop).reshape(-1, 2)
    seen = field.valid.copy()
    inv = np.linalg.inv(h_true)
    t = cv2.perspectiveTransform(centres.reshape(-1, 1, 2), inv).reshape(-1, 2)
    (tw, th), (vw, vh) = thermal_size, visible_size
    seen &= (t[:, 0] >= 0) & (t[:, 0] <= tw - 1) & (t[:, 1] >= 0) & (t[:, 1] <= th - 1)
    seen &= (centres[:, 0] >= 0) & (centres[:, 0] <= vw - 1) & (centres[:, 1] >= 0) & (centres[:, 1] <= vh - 1)
    out: dict[str, float | int] = {"tiles_seen": int(seen.sum())}
    if seen.sum() < 6:
        return out
    src = centres[seen]
    dst = src - s * field.shifts[seen]
    design = np.concatenate([src, np.ones((len(src), 1))], axis=1)
    affine = np.linalg.lstsq(design, dst, rcond=None)[0].T  # (2, 3), least squares
    full, _ = cv2.findHomography(src, dst, 0)
    out["affine_px"] = corner_error(h_true, np.vstack([affine, [0, 0, 1]]) @ h_true, thermal_size)
    out["homography_px"] = corner_error(h_true, full @ h_true, thermal_size)
    if h_est is not None:
        out["ours_vs_edge_consistent_px"] = corner_error(np.vstack([affine, [0, 0, 1]]) @ h_true, h_est, thermal_size)
    return out


def rig_residuals(bench, name: str, result: dict, rig, seed: int) -> dict:  # noqa: ANN001 - the benchmark module, its rig
    """Median tile residual (rig visible px) of the committed estimate and of the truth on each accepted rig."""
    listed = {stem: (i, ir, vi) for i, (stem, ir, vi) in enumerate(bench.dataset_pairs(name, None))}
    rows = []
    for row in result["pairs"]:
        if "h_est" not in row:
            continue
        i, ir, vi = listed[row["stem"]]
        h_true, thermal, visible = bench.rerender(name, i, row["stem"], ir, vi, row, rig, seed)
        medians = {}
        for key, h in (("ours", np.asarray(row["h_est"]).reshape(3, 3)), ("truth", h_true)):
            field = field_after_calibration([(thermal, visible)], h)
            medians[key] = float(np.median(field.lengths())) if field.valid.any() else None
        rows.append({"stem": row["stem"], "corner_px": row["ours_px"], "ours_residual_px": medians["ours"],
                     "truth_residual_px": medians["truth"]})
    both = [r for r in rows if r["ours_residual_px"] is not None and r["truth_residual_px"] is not None]
    return {"rigs": len(rows), "measured": len(both),
            "median_ours_residual_px": float(np.median([r["ours_residual_px"] for r in both])),
            "median_truth_residual_px": float(np.median([r["truth_residual_px"] for r in both])),
            "rigs_ours_nearer": int(sum(r["ours_residual_px"] < r["truth_residual_px"] for r in both)), "pairs": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", default=str(REPO / "docs" / "eval" / "calibration_benchmark.json"))
    p.add_argument("--out", default=str(REPO / "docs" / "eval" / "registration_field.json"))
    p.add_argument("--rig-residuals", action="store_true", help="also re-render the accepted rigs and compare residuals")
    args = p.parse_args(argv)
    committed = json.loads(Path(args.benchmark).read_text())
    import calibration_benchmark as bench  # this script's neighbour (scripts/ is on sys.path when run)

    rig = bench.committed_rig(committed)
    report: dict = {"grid": GRID, "radius_px": RADIUS, "bootstrap": BOOTSTRAP, "datasets": {}}
    for name, result in committed["datasets"].items():
        listed = bench.dataset_pairs(name, None)
        if name == "msrs":
            listed = [x for x in listed if x[0].endswith("D")]
        images = {stem: (grey8(read_thermal(ir)), grey8(read_visible(vi))) for stem, ir, vi in listed}
        unit = max(1.0, next(iter(images.values()))[1].shape[1] / WIDTH)
        images = {stem: tuple(_to_width(x) for x in pair) for stem, pair in images.items()}
        agreements = {}
        if name == "roadscene":  # registered pair by pair: one field per pair
            for stem, pair in images.items():
                agreements[stem] = tile_agreement([pair], (8, 6), RADIUS)
        else:
            shared = tile_agreement(list(images.values()), GRID, RADIUS)
            agreements = {stem: shared for stem in images}
        entry: dict = {"pairs": len(images), "dataset_px_per_analysis_px": unit}
        if name != "roadscene":
            field = residual_field(shared)
            entry["field"] = field_summary(field, unit)
            entry["split_half"] = split_half(shared, unit)
            entry["bootstrap_median_left_px"] = bootstrap_leftover(shared, BOOTSTRAP, unit=unit)
            entry["tiles"] = {"centres": field.centres.tolist(), "shifts": np.where(field.valid[:, None], field.shifts, None).tolist()}
        else:
            per_pair = []
            for stem, agreement in agreements.items():
                try:
                    per_pair.append(field_summary(residual_field(agreement), unit)["left_by_homography_px"]["median"])
                except InputError:
                    continue
            entry["per_pair_median_left_px"] = {"pairs": len(per_pair), "median": float(np.median(per_pair))}
        rigs = []
        for row in result["pairs"]:
            stem = row["stem"]
            if stem not in agreements:
                continue
            field = residual_field(agreements[stem])
            size = images[stem][1].shape[::-1]
            h_est = np.asarray(row["h_est"]).reshape(3, 3) if "h_est" in row else None
            floor = perfect_estimator_floor(field, rig.crop_to_visible(size), np.asarray(row["h_true"]).reshape(3, 3),
                                            rig.thermal_size, rig.visible_size, h_est)
            rigs.append({"stem": stem, "ours_px": row.get("ours_px") if "h_est" in row else None, **floor})
        scored = [r for r in rigs if "affine_px" in r]
        accepted = [r for r in scored if r["ours_px"] is not None]
        entry["perfect_estimator"] = {
            "rigs": len(scored), "median_affine_px": float(np.median([r["affine_px"] for r in scored])),
            "median_homography_px": float(np.median([r["homography_px"] for r in scored])),
            "within_2px_affine": int(sum(r["affine_px"] <= 2 for r in scored)),
            "accepted_rigs": len(accepted),
            "accepted_median_affine_px": float(np.median([r["affine_px"] for r in accepted])) if accepted else None,
            "accepted_median_ours_px": float(np.median([r["ours_px"] for r in accepted])) if accepted else None,
            "spearman_ours_vs_affine": _spearman([r["ours_px"] for r in accepted], [r["affine_px"] for r in accepted]),
            "accepted_median_ours_vs_edge_consistent_px":
                float(np.median([r["ours_vs_edge_consistent_px"] for r in accepted])) if accepted else None}
        entry["rigs"] = rigs
        if args.rig_residuals:
            entry["rig_residuals"] = rig_residuals(bench, name, result, rig, committed["seed"])
            print({k: v for k, v in entry["rig_residuals"].items() if k != "pairs"})
        report["datasets"][name] = entry
        print(json.dumps({k: v for k, v in entry.items() if k not in ("rigs", "tiles")}, indent=None))
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


def _to_width(image: np.ndarray) -> np.ndarray:
    return resize_to_width(image, WIDTH)[0] if image.shape[1] > WIDTH else image


def _spearman(a: list[float], b: list[float]) -> float | None:
    if len(a) < 3:
        return None
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


if __name__ == "__main__":
    sys.exit(main())
