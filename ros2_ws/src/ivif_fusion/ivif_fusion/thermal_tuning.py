"""The thermal camera's range tuned while watching the output: fusion_node's ``thermal_*`` parameters (policy,
fixed ``thermal_low``/``thermal_high``, percentile AGC ``thermal_p_low``/``thermal_p_high``/``thermal_smoothing``)
take ``ros2 param set`` and rqt_reconfigure while the node runs.

Why: a 16-bit or radiometric thermal camera's useful range depends on the camera and the scene (counts, or
kelvin × 100 for a radiometric core), and a wrong fixed range makes the thermal side black or white in the fused
image. An operator sets it while looking at the fused image; /diagnostics reports ``thermal_range``, the range
the last frame was mapped by, so a range the percentile AGC found can be copied into ``thermal_low``/``high``.
:class:`ThermalRangeCheck` warns when the setting in force leaves a 16-bit or float camera's frames nearly flat
(:func:`fusion_core.thermal.range_warning`), with the span measured and the parameters to set.
A change is checked as at start-up (``high`` > ``low``, percentiles in order); a bad one is refused with the
reason and nothing changes. It takes effect from the next pair (:meth:`FusionEngine.retune_thermal`); the
percentile AGC starts afresh. The other engine parameters stay read-only.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from fusion_core.errors import ConfigError
from fusion_core.thermal import range_warning

from .params import THERMAL_RUNTIME, thermal_norm_config


def retune_thermal_on_parameter_change(node, engine) -> None:
    """Make ``node``'s thermal_* parameters retune ``engine``'s thermal normalisation while it runs."""
    node.add_on_set_parameters_callback(lambda params: _on_set(node, engine, params))


def thermal_values(engine) -> dict[str, object]:
    """The thermal normalisation in force and the range it applied last, for /diagnostics."""
    config, applied = engine.config.thermal, engine.normalizer.applied
    return {"thermal_policy": config.policy,
            "thermal_range": "none yet" if applied is None else f"{applied[0]:.6g} to {applied[1]:.6g}"}


def _on_set(node, engine, params: list) -> Any:
    from rcl_interfaces.msg import SetParametersResult

    changes = {p.name: p.value for p in params if p.name in THERMAL_RUNTIME}
    if not changes:
        return SetParametersResult(successful=True)
    values = {name: node.get_parameter(name).value for name in THERMAL_RUNTIME} | changes
    try:
        config = thermal_norm_config(values)
    except ConfigError as exc:
        hint = ("; thermal_low and thermal_high are checked together: change them in an order that keeps high above "
                "low, or both at once (set_parameters_atomically)") if {"thermal_low", "thermal_high"} & set(changes) else ""
        return SetParametersResult(successful=False, reason=f"{exc}{hint}")
    engine.retune_thermal(config)
    described = ("the dtype's full range" if config.low is None else f"{config.low:g} to {config.high:g}") \
        if config.policy == "fixed" else (f"percentiles {config.p_low:g}-{config.p_high:g}, smoothing {config.smoothing:g}")
    node.get_logger().info(f"thermal normalisation retuned: {config.policy}, {described}")
    return SetParametersResult(successful=True)


class ThermalRangeCheck:
    """Warns when the thermal setting in force leaves the camera's frames nearly flat: at the first frame, at the
    first frame after each change of the setting, and then at most every ``period`` s while it lasts (a camera's
    range drifts with the scene, so it is looked at again, but one warning a minute says enough)."""

    def __init__(self, logger, period: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self.period = period
        self._clock = clock
        self._checked_for: object = None  # the ThermalNormConfig last checked
        self._next = 0.0

    def check(self, thermal, config) -> str | None:
        """Check ``thermal`` (a frame just fused) when due; the warning logged, if any."""
        now = self._clock()
        if config == self._checked_for and now < self._next:
            return None
        self._checked_for, self._next = config, now + self.period
        warning = range_warning(thermal, config)
        if warning is not None:
            warning += ("; set thermal_low and thermal_high to about that span, or thermal_policy to percentile "
                        "(both may be changed while the node runs)")
            self._logger.warning(warning)
        return warning
