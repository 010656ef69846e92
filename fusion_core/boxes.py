"""YOLO box files -> pixel boxes -> boolean ROI masks (for ROI-SSIM and weak target supervision).

A YOLO label file has one box per line, ``class cx cy w h``: an integer class id (MSRS:
``classes_det.txt``, 0 person, 1 bicycle, 2 car) and the box centre and size as fractions of the
image width (cx, w) and height (cy, h), all in [0, 1]. Blank lines are ignored; a missing or empty
file means the image has no boxes. Anything else is malformed and raises :class:`InputError`
naming the file and line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

_SLACK = 1e-3  # normalised values this far outside [0, 1] are rounding in the label tool, not errors
_PIXEL_SLACK = 0.01  # box edges within 1/100 px of a pixel border: label rounding (6 decimals), not overlap


@dataclass(frozen=True)
class YoloBox:
    """One box in normalised image coordinates: centre (cx, cy) and size (w, h), fractions of W and H."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float


def _parse_line(text: str, where: str, num_classes: int | None) -> YoloBox:
    fields = text.split()
    if len(fields) != 5:
        raise InputError(f"{where}: expected 5 fields 'class cx cy w h', got {len(fields)}: {text.strip()!r}")
    try:
        cls = int(fields[0])
    except ValueError:
        raise InputError(f"{where}: class id {fields[0]!r} is not an integer") from None
    if cls < 0 or (num_classes is not None and cls >= num_classes):
        valid = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
        raise InputError(f"{where}: class id {cls} is out of range (valid: {valid})")
    try:
        cx, cy, w, h = (float(v) for v in fields[1:])
    except ValueError:
        raise InputError(f"{where}: cx cy w h must be numbers, got {' '.join(fields[1:])!r}") from None
    for name, value in (("cx", cx), ("cy", cy), ("w", w), ("h", h)):
        if not (math.isfinite(value) and -_SLACK <= value <= 1.0 + _SLACK):
            raise InputError(f"{where}: {name} = {value} is not a normalised coordinate in [0, 1]")
    return YoloBox(cls, cx, cy, w, h)


def read_yolo_boxes(path: str | Path, num_classes: int | None = None) -> list[YoloBox]:
    """The boxes of one YOLO label file, in file order; [] when the file is missing or empty.

    ``num_classes``: when given, class ids must lie in 0..num_classes−1.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read box file {path}: {exc}") from exc
    return [_parse_line(line, f"{path}:{number}", num_classes) for number, line in enumerate(lines, 1) if line.strip()]


def read_class_names(path: str | Path) -> dict[int, str]:
    """Class id -> name from a ``classes_det.txt``-style file (``<id> <name>`` per line)."""
    path = Path(path)
    names: dict[int, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read class names {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split(maxsplit=1)
        if len(fields) != 2 or not fields[0].isdigit():
            raise InputError(f"{path}:{number}: expected '<id> <name>', got {line.strip()!r}")
        names[int(fields[0])] = fields[1].strip()
    return names


def box_file(folder: str | Path, stem: str) -> Path:
    """The label file of an image stem in a YOLO label folder (``<folder>/<stem>.txt``)."""
    return Path(folder) / f"{stem}.txt"


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) < 2 or int(shape[0]) < 1 or int(shape[1]) < 1:
        raise InputError(f"image shape must be (H, W) with H, W >= 1, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def to_pixel_boxes(boxes: Iterable[YoloBox], shape: Sequence[int]) -> np.ndarray:
    """(N, 4) float64 pixel boxes (x0, y0, x1, y1) for an image of ``shape`` (H, W, ...).

    Continuous pixel coordinates: pixel column j spans [j, j+1), so x0 = (cx − w/2)·W and
    x1 = (cx + w/2)·W, clipped to [0, W] (rows likewise with H).
    """
    height, width = _check_shape(shape)
    rows = [((b.cx - b.w / 2) * width, (b.cy - b.h / 2) * height, (b.cx + b.w / 2) * width, (b.cy + b.h / 2) * height)
            for b in boxes]
    out = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    np.clip(out[:, 0::2], 0.0, width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0.0, height, out=out[:, 1::2])
    return out


def boxes_to_mask(boxes: Iterable[YoloBox], shape: Sequence[int], classes: Iterable[int] | None = None) -> np.ndarray:
    """(H, W) bool mask, True on every pixel a box overlaps (partly covered edge pixels included).

    An overlap thinner than 0.01 px is treated as rounding of the label file (its 6 decimals put a
    box edge meant to lie on a pixel border up to 3e-4 px off it) and does not add a row or column.

    ``classes``: keep only boxes of these class ids (None: all). No boxes -> all False.
    """
    height, width = _check_shape(shape)
    keep = None if classes is None else set(classes)
    mask = np.zeros((height, width), dtype=bool)
    selected = [b for b in boxes if keep is None or b.cls in keep]
    for x0, y0, x1, y1 in to_pixel_boxes(selected, (height, width)):
        r0, r1 = math.floor(y0 + _PIXEL_SLACK), math.ceil(y1 - _PIXEL_SLACK)
        c0, c1 = math.floor(x0 + _PIXEL_SLACK), math.ceil(x1 - _PIXEL_SLACK)
        mask[r0:r1, c0:c1] = True
    return mask


def roi_mask_for(folder: str | Path, stem: str, shape: Sequence[int], classes: Iterable[int] | None = None) -> np.ndarray:
    """The ROI mask of one image from its label file in ``folder`` (all False without boxes)."""
    return boxes_to_mask(read_yolo_boxes(box_file(folder, stem)), shape, classes)
