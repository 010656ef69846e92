"""How far off are the pixels that are actually fused? The calibration benchmark's errors inside the overlap (issue 13).

The benchmark scores a calibration by its corner error: the largest distance between the thermal frame's
four corners mapped by the true and the estimated homography. Those corners usually lie outside the visible
frame, so the figure extrapolates, and small scale or rotation differences grow with the distance from the
overlap. What a user fuses is the part of the thermal frame that lands inside the visible one. This re-scores
the committed estimates (docs/eval/calibration_benchmark.json; no estimator is run) by the displacement of
every 4th thermal pixel that the truth maps inside the visible frame (``overlap_displacement``): per rig its
median, 95th percentile and maximum, against the truth and against the truth corrected by the dataset-wide
mutual-information fit (``mi_fit``), and that correction's own size there (how far the reference is from itself).
It also gives each rig's visible pixels per pixel of the dataset's own visible image: the rig's 1280×720 visible
frame is the dataset image's 16:9 crop resized, so for MSRS (640×480) and RoadScene (about 450×300) it is an
upsampling by 2 and by 2.1–4.0, and a benchmark pixel there is a fraction of a pixel the cameras recorded.

    python scripts/calibration_overlap_error.py [--benchmark docs/eval/calibration_benchmark.json] [--out docs/eval/calibration_overlap_error.json]
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

from fusion_core.calibration.geometry import overlap_displacement  # noqa: E402
from fusion_core.calibration.synthetic import SyntheticRig  # noqa: E402

THRESHOLDS_PX = (2.0, 5.0, 10.0)


def rig_stats(distances: np.ndarray) -> dict[str, float]:
    return {"median_px": float(np.median(distances)), "p95_px": float(np.percentile(distances, 95)), "max_px": float(distances.max()),
            "points": int(distances.size)}


def summary(rows: list[dict], key: str) -> dict:
    """Medians over rigs of each rig's statistic, and how many rigs keep every fused pixel within each threshold."""
    stats = [r[key] for r in rows]
    out = {f"median_of_rig_{s}": float(np.median([x[s] for x in stats])) for s in ("median_px", "p95_px", "max_px")}
    out.update({f"rigs_max_within_{t:g}px": int(sum(x["max_px"] <= t for x in stats)) for t in THRESHOLDS_PX})
    return out


def run(name: str, result: dict, rig: SyntheticRig, correction, upsampling: dict[str, float]) -> dict:  # noqa: ANN001
    """``correction``: benchmark row -> (3, 3) visible-frame MI-fit correction; ``upsampling``: stem -> rig visible
    pixels per dataset pixel."""
    rows = []
    for row in result["pairs"]:
        if "h_est" not in row:
            continue
        h_true = np.asarray(row["h_true"]).reshape(3, 3)
        h_est = np.asarray(row["h_est"]).reshape(3, 3)
        h_fit = correction(row) @ h_true
        sizes = (rig.thermal_size, rig.visible_size)
        rows.append({"stem": row["stem"], "corner_px": row["ours_px"], "upsampling": upsampling[row["stem"]],
                     "vs_truth": rig_stats(overlap_displacement(h_true, h_est, *sizes)),
                     "vs_mi_fit": rig_stats(overlap_displacement(h_fit, h_est, *sizes)),
                     "mi_fit_floor": rig_stats(overlap_displacement(h_true, h_fit, *sizes))})
    native = [r["vs_truth"]["median_px"] / r["upsampling"] for r in rows]
    return {"rigs": len(result["pairs"]), "accepted": len(rows), "median_corner_px": float(np.median([r["corner_px"] for r in rows])),
            "median_upsampling": float(np.median([r["upsampling"] for r in rows])),
            "median_of_rig_median_dataset_px": float(np.median(native)),
            "vs_truth": summary(rows, "vs_truth"), "vs_mi_fit": summary(rows, "vs_mi_fit"),
            "mi_fit_floor": summary(rows, "mi_fit_floor"), "pairs": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", default=str(REPO / "docs" / "eval" / "calibration_benchmark.json"))
    p.add_argument("--out", default=str(REPO / "docs" / "eval" / "calibration_overlap_error.json"))
    args = p.parse_args(argv)
    committed = json.loads(Path(args.benchmark).read_text())
    import calibration_benchmark as bench  # this script's neighbour (scripts/ is on sys.path when run)

    rig = bench.committed_rig(committed)
    report = {"method": __doc__.split("\n\n")[1].replace("\n", " "), "grid_step_thermal_px": 4, "datasets": {}}
    for name, result in committed["datasets"].items():
        upsampling = {stem: float(rig.crop_to_visible(tuple(cv2.imread(str(vi), cv2.IMREAD_UNCHANGED).shape[1::-1]))[0, 0])
                      for stem, _, vi in bench.dataset_pairs(name, None)}
        report["datasets"][name] = run(name, result, rig, bench.mi_fit_correction(name, result["mi_fit"], rig), upsampling)
    Path(args.out).write_text(json.dumps(report, indent=1))
    for name, res in report["datasets"].items():
        t, m, f = res["vs_truth"], res["vs_mi_fit"], res["mi_fit_floor"]
        print(f"{name:10s} {res['accepted']}/{res['rigs']} accepted, corner median {res['median_corner_px']:.1f} px; inside the overlap "
              f"(medians over rigs) median {t['median_of_rig_median_px']:.1f}, p95 {t['median_of_rig_p95_px']:.1f}, max "
              f"{t['median_of_rig_max_px']:.1f} px, rigs with max <= 2/5/10 px: {t['rigs_max_within_2px']}/{t['rigs_max_within_5px']}/"
              f"{t['rigs_max_within_10px']}; vs MI-fit truth median {m['median_of_rig_median_px']:.1f}, max {m['median_of_rig_max_px']:.1f}; "
              f"the MI fit's own size there median {f['median_of_rig_median_px']:.1f}, max {f['median_of_rig_max_px']:.1f}; "
              f"upsampling x{res['median_upsampling']:.2f}, overlap median in dataset pixels {res['median_of_rig_median_dataset_px']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
