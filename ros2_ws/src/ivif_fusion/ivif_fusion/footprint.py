"""Where the thermal camera sees, in the visible frame: reported by fusion_node.

With a homography (a calibrated, unregistered rig) the thermal footprint usually covers only part of
the visible frame. Outside it the engine outputs the visible image with α = 0
(:mod:`fusion_core.engine.validity`); a user must know where that is, so the node reports it:

* once per frame-size combination, a log line with the covered fraction and the footprint's bounding
  box (INFO when the footprint covers the frame, WARN when part of it is visible-only, ERROR when
  nothing is covered: the homography or the frame sizes are wrong);
* in /diagnostics: ``thermal_footprint_coverage`` (fraction of the visible frame inside the
  footprint), ``thermal_footprint_bbox`` (x_min, y_min, x_max, y_max in visible pixels, inclusive)
  and ``thermal_coverage`` of the last fused frame (footprint minus invalid thermal pixels).

* on ``fusion/thermal_footprint`` (geometry_msgs/PolygonStamped, ``publish_footprint``): the footprint's
  outline in visible pixel coordinates (x, y, z = 0; :meth:`fusion_core.registration.Footprint.outline`),
  with the header of the first fused frame of each frame-size combination, latched (transient local), so a
  node started later — one that drops detections outside the thermal view, a display — gets it at once.

The α image (``fusion/alpha``) is 0 outside the footprint, so it doubles as a per-pixel map.
"""

from __future__ import annotations

from typing import Callable

from fusion_core.registration import Registrar

Sizes = tuple[tuple[int, int], tuple[int, int]]  # ((thermal h, w), (visible h, w))


class FootprintReport:
    """Tracks the footprint per frame sizes; ``log(level, text)`` is called on each new size combination."""

    def __init__(self, registrar: Registrar, log: Callable[[str, str], None]) -> None:
        self._registrar = registrar
        self._log = log
        self._sizes: Sizes | None = None
        self.coverage = float("nan")
        self.bbox: tuple[int, int, int, int] | None = None
        self.outline: list[tuple[float, float]] = []  # Footprint.outline of the current sizes
        self.last_frame_coverage = float("nan")

    def update(self, thermal_hw: tuple[int, int], visible_hw: tuple[int, int], frame_coverage: float) -> bool:
        """After a fused pair: its frame sizes (h, w) and ``FusionResult.thermal_coverage``. True when the
        footprint is new (first pair, or other frame sizes): :attr:`outline` then describes the new one."""
        self.last_frame_coverage = frame_coverage
        sizes = (tuple(thermal_hw), tuple(visible_hw))
        if sizes == self._sizes:
            return False
        self._sizes = sizes
        footprint = self._registrar.footprint(thermal_hw, visible_hw)
        self.coverage, self.bbox, self.outline = footprint.coverage, footprint.bbox, footprint.outline()
        (th, tw), (vh, vw) = thermal_hw, visible_hw
        where = f"thermal {tw}x{th} covers {footprint.coverage:.1%} of visible {vw}x{vh}"
        if footprint.bbox is None:
            self._log("error", f"{where}: the thermal footprint misses the visible frame entirely (wrong homography "
                               "or frame sizes?); every output is the visible image with alpha 0")
        elif footprint.coverage < 1.0:
            self._log("warning", f"{where}, bbox {footprint.bbox} (x_min, y_min, x_max, y_max); outside it the output "
                                 "is the visible image with alpha 0")
        else:
            self._log("info", f"{where}")
        return True

    def values(self) -> dict[str, object]:
        bbox = "" if self.bbox is None else ",".join(str(v) for v in self.bbox)
        return {"thermal_footprint_coverage": self.coverage, "thermal_footprint_bbox": bbox,
                "thermal_coverage": self.last_frame_coverage}


def polygon_message(outline: list[tuple[float, float]], header):
    """geometry_msgs/PolygonStamped of ``outline`` (visible pixels, z = 0) under ``header``; no points when the
    thermal camera misses the visible frame."""
    from geometry_msgs.msg import Point32, PolygonStamped

    msg = PolygonStamped(header=header)
    msg.polygon.points = [Point32(x=x, y=y, z=0.0) for x, y in outline]
    return msg
