"""Is a rig still calibrated? An existing calibration measured on new pairs, no re-estimation.

Cameras get bumped, mounts creep and lenses are refocused; a robot wants to know whether the homography it
fuses with still puts the thermal edges on the visible ones, without trusting a new estimate blindly.
:func:`check_calibration` measures the edge residual (:mod:`.residual`) of ``calibration`` on the given pairs;
:func:`verdict` compares it with a limit the user chooses; :func:`check_report` does both (and the overlay) for
``ivif calibrate --check FILE`` and the ROS package's ``calibrate_node check:=FILE``, so both report alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .file import Calibration
from .residual import ResidualField, describe, field_after_calibration


@dataclass(frozen=True)
class CheckReport:
    """What a check found: the report ``lines`` to print or log, and why it failed (``failure``; None when it
    passed or no limit was given)."""

    lines: list[str]
    failure: str | None


def check_calibration(pairs: list[tuple[np.ndarray, np.ndarray]], calibration: Calibration) -> ResidualField:
    """The edge residual of ``calibration`` on ``pairs`` (thermal, visible) of the sizes it was made for."""
    for i, (thermal, visible) in enumerate(pairs):
        sizes = ((thermal.shape[1], thermal.shape[0]), (visible.shape[1], visible.shape[0]))
        if sizes != (tuple(calibration.thermal_size), tuple(calibration.visible_size)):
            raise InputError(f"pair {i} is thermal {sizes[0][0]}x{sizes[0][1]}, visible {sizes[1][0]}x{sizes[1][1]}; the "
                             f"calibration was made for thermal {calibration.thermal_size[0]}x{calibration.thermal_size[1]}, "
                             f"visible {calibration.visible_size[0]}x{calibration.visible_size[1]}")
    return field_after_calibration(pairs, calibration.matrix)


def verdict(field: ResidualField, max_median_px: float) -> str | None:
    """None when the calibration holds: at least half the footprint's tiles measured and their median shift
    within ``max_median_px``; else why not (one line)."""
    reached, measured = field.reached(), int(field.valid.sum())
    if measured < reached / 2:
        return (f"only {measured} of the {reached} tiles of the thermal footprint could be measured: the edges are "
                "further apart than the search, or the scenes share too few edges to tell (try other pairs)")
    median = float(np.median(field.lengths()))
    if median > max_median_px:
        return f"median edge residual {median:.1f} px exceeds --max-residual {max_median_px:g} px"
    return None


def check_report(pairs: list[tuple[np.ndarray, np.ndarray]], calibration: Calibration, source: str, inputs: str,
                 max_median_px: float | None = None, overlay: str | Path | None = None) -> CheckReport:
    """Check ``calibration`` (read from ``source``) on ``pairs`` (described by ``inputs``): the residual line,
    with ``overlay`` the before/after picture of the first pair with the residual drawn, and with
    ``max_median_px`` the :func:`verdict`. Raises InputError for pairs of other sizes than the calibration's."""
    field = check_calibration(pairs, calibration)
    lines = [f"checked {source} on {inputs}: {describe(field)}"]
    if overlay is not None:
        from ..io import write_image
        from .overlay import before_after

        write_image(overlay, before_after(*pairs[0], calibration.matrix, residual=field))
        lines.append(f"overlay -> {overlay}")
    failure = None if max_median_px is None else verdict(field, max_median_px)
    if max_median_px is not None and failure is None:
        lines.append(f"calibration check passed (median within {max_median_px:g} px)")
    return CheckReport(lines, failure)
