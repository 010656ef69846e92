"""One calibration from pairs to a written file, shared by ``ivif calibrate`` (folders, a bag) and the ROS
package's ``calibrate_node`` (live camera topics), so both estimate, refuse, write and report alike.

:func:`auto_calibration` runs the automatic estimator and says what it did; :func:`write_calibration` writes
the ROS 2 parameters file (and the before/after overlay) and returns the report lines the caller prints or
logs. A refusal is the estimator's :class:`~fusion_core.errors.InputError`; nothing is written then.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .config import CalibrationConfig, nominal_scale_from_fov
from .estimate import Estimate, estimate_homography
from .file import Calibration, save_calibration
from .geometry import corner_error, naive_resize
from .residual import ResidualField, describe, field_after_calibration

Pair = tuple[np.ndarray, np.ndarray]  # (thermal (H, W), visible (H, W[, 3]) RGB)


@dataclass(frozen=True)
class AutoCalibration:
    """An accepted automatic calibration: the record to store, the estimator's result, a one-line ``quality``,
    ``notes`` worth telling the user (pairs left out, advice), the pair an overlay should show (one used) and
    the ``residual`` field of the used pairs (how far apart the edges still are, tile by tile)."""

    calibration: Calibration
    estimate: Estimate
    quality: str
    notes: tuple[str, ...]
    shown: Pair
    residual: ResidualField | None  # None when the frame is too small to cut into tiles


def auto_calibration(pairs: list[Pair], hfov: tuple[float, float] | None = None) -> AutoCalibration:
    """Estimate the thermal -> visible homography of ``pairs`` (all of one rig, same sizes). ``hfov``: the two
    lenses' horizontal fields of view in degrees (thermal, visible), which centre the scale search; None =
    thermal width matched to visible width. Raises InputError (the estimator's refusal) when they cannot be
    aligned."""
    thermal, visible = pairs[0]
    t_size, v_size = (thermal.shape[1], thermal.shape[0]), (visible.shape[1], visible.shape[0])
    nominal = nominal_scale_from_fov(t_size[0], v_size[0], *hfov) if hfov else None
    est = estimate_homography(pairs, CalibrationConfig(nominal_scale=nominal))
    method = f"auto: orientation-field search + L-BFGS homography, {est.pairs} pair(s)"
    notes = [f"left out {reason}" for reason in est.skipped]
    if est.skipped:
        method += f" ({len(est.skipped)} of {len(pairs)} left out: too little structure)"
    if est.pairs == 1:
        notes.append("calibrated from one pair: pairs of several scenes of the rig (a folder or a bag, --max-pairs 5) were "
                     "measured closer and refused less often (docs/calibration.md, 'Several scenes')")
    try:
        residual: ResidualField | None = field_after_calibration([pairs[i] for i in est.used], est.homography)
        residual_text = describe(residual)
    except InputError as err:  # a report line must not undo an accepted calibration
        residual, residual_text = None, f"edge residual not measured ({err})"
    quality = (f"alignment score {est.score:.3f} (0-1; unrelated images score < 0.1), margin {est.margin:.3f}, "
               f"{est.overlap:.0%} of the thermal frame inside the visible one, {est.seconds:.1f} s; {residual_text}")
    calibration = Calibration(tuple(float(v) for v in est.homography.ravel()), t_size, v_size, est.score, method)
    return AutoCalibration(calibration, est, quality, tuple(notes), pairs[est.used[0]], residual)


def write_calibration(out: str | Path, calibration: Calibration, quality: str, inputs: str, shown: Pair | None = None,
                      overlay: str | Path | None = None, residual: ResidualField | None = None) -> list[str]:
    """Write ``calibration`` to ``out`` with ``inputs`` and ``quality`` as header comments, and with ``overlay``
    a before/after edge picture of ``shown`` (with ``residual``'s tile shifts drawn on it); returns the report
    lines (quality, matrix, how far it is from a plain resize, where the files went)."""
    t_size, v_size = calibration.thermal_size, calibration.visible_size
    save_calibration(out, calibration, [f"inputs: {inputs}", f"thermal {t_size[0]}x{t_size[1]} -> visible {v_size[0]}x{v_size[1]}",
                                        f"quality: {quality}"])
    h = calibration.matrix
    lines = [quality, f"homography (thermal px -> visible px): {np.array2string(h, precision=6, suppress_small=True)}",
             f"the thermal corners move up to {corner_error(naive_resize(t_size, v_size), h, t_size):.1f} visible px "
             "from a plain resize"]
    if overlay is not None and shown is not None:
        from ..io import write_image
        from .overlay import before_after

        write_image(overlay, before_after(*shown, h, residual=residual))
        lines.append(f"overlay -> {overlay}")
    lines.append(f"calibration -> {out}")
    return lines
