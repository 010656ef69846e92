"""The calibration file: a ROS 2 parameters file that ``fusion_node`` can load directly.

    # ivif calibrate: <how it was made> (comment lines: date, inputs, quality)
    /**:
      ros__parameters:
        homography: [h00, h01, h02, h10, h11, h12, h20, h21, h22]
        calibration:
          thermal_size: [640, 512]
          visible_size: [1280, 720]
          score: 0.83
          method: "..."

``homography`` is row-major, thermal pixels -> visible pixels, normalised so ``h22 = 1`` (the
convention of :mod:`fusion_core.registration`). ``/**`` applies the parameters to any node name.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..registration import RegistrationConfig
from .geometry import Size

NODE_KEY = "/**"
PARAMS_KEY = "ros__parameters"


@dataclass(frozen=True)
class Calibration:
    """A stored calibration: ``homography`` (9 floats, row-major), image sizes (w, h), ``score``
    (the estimator's quality, 0–1; for manual points the fraction of points within 3 px) and ``method``."""

    homography: tuple[float, ...]
    thermal_size: Size
    visible_size: Size
    score: float
    method: str

    def __post_init__(self) -> None:
        if len(self.homography) != 9 or not all(math.isfinite(v) for v in self.homography):
            raise InputError(f"a calibration homography needs 9 finite numbers, got {self.homography}")
        for name, size in (("thermal_size", self.thermal_size), ("visible_size", self.visible_size)):
            if len(size) != 2 or min(size) < 1:
                raise InputError(f"{name} must be [width, height] in pixels, got {list(size)}")

    @property
    def matrix(self) -> np.ndarray:
        """(3, 3) float64."""
        return np.asarray(self.homography, dtype=np.float64).reshape(3, 3)

    def registration(self) -> RegistrationConfig:
        """What the engine applies: this homography, refusing frames of other sizes than it was made for."""
        return RegistrationConfig(homography=self.homography, calibrated_sizes=(self.thermal_size, self.visible_size))


def save_calibration(path: str | Path, calibration: Calibration, comments: list[str] | tuple[str, ...] = ()) -> Path:
    """Write ``calibration`` to ``path`` as a ROS 2 parameters file; ``comments`` become header lines."""
    path = Path(path)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = [f"# ivif calibrate, {stamp}", *(f"# {line}" for line in comments),
              "# homography: row-major 3x3, thermal pixel (x, y, 1) -> visible pixel (cv2.warpPerspective convention)"]
    numbers = ", ".join(repr(float(v)) for v in calibration.homography)
    body = [
        f"{NODE_KEY}:",
        f"  {PARAMS_KEY}:",
        f"    homography: [{numbers}]",
        "    calibration:",
        f"      thermal_size: [{calibration.thermal_size[0]}, {calibration.thermal_size[1]}]",
        f"      visible_size: [{calibration.visible_size[0]}, {calibration.visible_size[1]}]",
        f"      score: {float(calibration.score)!r}",
        f"      method: {_quote(calibration.method)}",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    return path


def load_calibration(path: str | Path) -> Calibration:
    """Read a file written by :func:`save_calibration` (or any ROS params file with those keys)."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read calibration file {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"calibration file {path} is not a text (YAML) file: {exc.reason} at byte {exc.start}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"calibration file {path} is not valid YAML: {exc}") from exc
    try:
        params = doc[NODE_KEY][PARAMS_KEY]
        extra = params["calibration"]
        return Calibration(
            homography=tuple(float(v) for v in params["homography"]),
            thermal_size=_size(extra["thermal_size"]),
            visible_size=_size(extra["visible_size"]),
            score=float(extra["score"]),
            method=str(extra["method"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"calibration file {path} lacks {NODE_KEY}.{PARAMS_KEY}.homography (9 numbers) and "
                         f"calibration.thermal_size/visible_size/score/method: {exc!r}") from exc


def _size(value: object) -> Size:
    w, h = value  # type: ignore[misc]
    return int(w), int(h)


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    import json

    return json.dumps(text)
