"""The manual fallback: a homography from typed point correspondences (``--points FILE``).

The CSV has one correspondence per line, ``x_t,y_t,x_v,y_v`` (thermal pixel, visible pixel); a first
line that is not numeric is a header; ``#`` starts a comment. At least 4 points are needed, spread over
the image (no three on a line). The fit is least squares over all points (``cv2.findHomography`` with
method 0), so every typed point counts; the residual of each point is reported.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .geometry import apply


@dataclass(frozen=True)
class PointFit:
    """``homography`` (3, 3) float64; ``residuals``: each point's reprojection error in visible pixels."""

    homography: np.ndarray
    residuals: np.ndarray  # (N,)

    @property
    def rms(self) -> float:
        return float(np.sqrt(np.mean(self.residuals ** 2)))


def read_points(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(thermal (N, 2), visible (N, 2)) float64 points from a CSV ``x_t,y_t,x_v,y_v``."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read points file {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"points file {path} is not a text (CSV) file: {exc.reason} at byte {exc.start}") from exc
    rows: list[list[float]] = []
    for number, row in enumerate(csv.reader(line.split("#", 1)[0] for line in lines), start=1):
        if not row or not "".join(row).strip():
            continue
        try:
            values = [float(v) for v in row]
        except ValueError:
            if not rows and number == 1:
                continue  # header
            raise InputError(f"{path}:{number}: expected four numbers x_t,y_t,x_v,y_v, got {','.join(row)!r}") from None
        if len(values) != 4:
            raise InputError(f"{path}:{number}: expected four numbers x_t,y_t,x_v,y_v, got {len(values)}")
        rows.append(values)
    pts = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return pts[:, :2], pts[:, 2:]


def homography_from_points(thermal: np.ndarray, visible: np.ndarray) -> PointFit:
    """Least-squares homography mapping ``thermal`` points onto ``visible`` points (both (N, 2), N >= 4)."""
    if len(thermal) < 4 or len(thermal) != len(visible):
        raise InputError(f"a homography needs at least 4 point pairs, got {min(len(thermal), len(visible))}")
    h, _ = cv2.findHomography(thermal.astype(np.float64), visible.astype(np.float64), 0)
    if h is None or not np.isfinite(h).all() or abs(np.linalg.det(h)) < 1e-12:
        raise InputError("the points do not determine a homography (are three or more of them on one line?)")
    h = h / h[2, 2]
    return PointFit(h, np.linalg.norm(apply(h, thermal) - visible, axis=1))
