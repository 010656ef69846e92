"""Is a rig still calibrated? An existing calibration measured on new pairs, no re-estimation.

Cameras get bumped, mounts creep and lenses are refocused; a robot wants to know whether the homography it
fuses with still puts the thermal edges on the visible ones, without trusting a new estimate blindly.
:func:`check_calibration` measures the edge residual (:mod:`.residual`) of ``calibration`` on the given pairs;
:func:`verdict` compares it with a limit the user chooses. ``ivif calibrate --check FILE`` prints both.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .file import Calibration
from .residual import ResidualField, field_after_calibration


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
    reached = int(field.valid.size if field.measurable is None else field.measurable.sum())
    measured = int(field.valid.sum())
    if measured < reached / 2:
        return (f"only {measured} of the {reached} tiles of the thermal footprint could be measured: the edges are "
                "further apart than the search, or the scenes share too few edges to tell (try other pairs)")
    median = float(np.median(field.lengths()))
    if median > max_median_px:
        return f"median edge residual {median:.1f} px exceeds --max-residual {max_median_px:g} px"
    return None
