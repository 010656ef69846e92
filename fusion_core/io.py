"""Reading, writing and pairing image files.

Pairs are matched by file stem (``00123.png`` pairs with ``00123.jpg``). Thermal files keep their
native depth (16-bit PNG/TIFF stay uint16); visible files are returned in RGB order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
COLOUR_THERMAL_LEVELS = 4.0  # mean channel difference above which a 3-channel thermal file is taken for a palette


@dataclass(frozen=True)
class ImagePair:
    stem: str
    ir: Path
    vi: Path


def list_images(folder: str | Path) -> dict[str, Path]:
    """Stem -> path for the image files directly inside ``folder``; two files with one stem is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a directory")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_symlink() and not path.exists():
            raise InputError(f"{path} is a broken link (its target {path.readlink()} does not exist)")
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            if path.stem in found:
                raise InputError(f"two images share the stem {path.stem!r} in {folder}: {found[path.stem].name}, {path.name}")
            found[path.stem] = path
    return found


def pair_folders(ir_dir: str | Path, vi_dir: str | Path, strict: bool = True) -> list[ImagePair]:
    """Pairs of files with the same stem. ``strict``: a file without a partner is an error naming it."""
    ir, vi = list_images(ir_dir), list_images(vi_dir)
    if strict:
        lonely = sorted(set(ir) ^ set(vi))
        if lonely:
            side = "ir" if lonely[0] in ir else "vi"
            partner = "vi" if side == "ir" else "ir"
            path = (ir if side == "ir" else vi)[lonely[0]]
            raise InputError(
                f"{path} has no {partner} partner with the stem {lonely[0]!r} ({len(lonely)} unpaired file(s) in total)"
            )
    stems = sorted(set(ir) & set(vi))
    if not stems:
        raise InputError(f"no image pairs with matching stems in {ir_dir} and {vi_dir}")
    return [ImagePair(s, ir[s], vi[s]) for s in stems]


def read_thermal(path: str | Path) -> np.ndarray:
    """(H, W) uint8/uint16 thermal image; a 3-channel file should hold a grey image. One whose channels differ by
    more than :data:`COLOUR_THERMAL_LEVELS` grey levels on average (a colour palette, not a measurement: its
    grey conversion does not order temperatures) is still converted to grey, with a warning naming it."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"cannot read thermal image {path}")
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[:, :, :3]
        if np.array_equal(img[:, :, 0], img[:, :, 1]):
            img = img[:, :, 0]
        else:
            spread = float(np.abs(np.diff(img.astype(np.int32), axis=2)).mean())
            if spread > COLOUR_THERMAL_LEVELS:
                logging.getLogger(__name__).warning(
                    f"thermal image {path} is in colour (its channels differ by {spread:.1f} grey levels on average): "
                    "converted to grey; a colour-palette thermal image does not give temperatures in order, use the "
                    "camera's grey (raw or 8-bit) output")
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.dtype not in (np.uint8, np.uint16):
        raise InputError(f"thermal image {path} has unsupported dtype {img.dtype}")
    return img


def read_visible(path: str | Path, role: str = "visible image") -> np.ndarray:
    """(H, W, 3) uint8 RGB, or (H, W) uint8 when the file is single-channel. ``role`` names the file in errors
    (a fused image is read the same way)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"cannot read {role} {path}")
    if img.dtype != np.uint8:
        raise InputError(f"{role} {path} must be 8-bit, got {img.dtype}")
    if img.ndim == 2:
        return img
    if img.shape[2] == 4:
        img = img[:, :, :3]
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_image(path: str | Path, img: np.ndarray, order: str = "rgb") -> None:
    """Write uint8 (H, W) or (H, W, 3) in ``order`` ('rgb' or 'bgr') as PNG/JPEG by suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if img.ndim == 3 and order == "rgb":
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), img):
        raise InputError(f"cannot write image {path}")


def to_rgb(image: np.ndarray, order: str | None) -> np.ndarray:
    """A uint8 image in engine order ('rgb', 'bgr', 'rgba', 'bgra', 'mono') as RGB (H, W, 3) or grey (H, W): a view
    on ``image``, never a copy of the pixels."""
    if image.ndim == 2 or order == "mono":
        return image.reshape(image.shape[0], image.shape[1])
    rgb = image[..., :3]
    return rgb[..., ::-1] if order in ("bgr", "bgra") else rgb


def to_luminance(img: np.ndarray) -> np.ndarray:
    """Float64 0–255 BT.601 luminance of a uint8 RGB (H, W, 3) or grey image; the metric suite's input."""
    img = img.astype(np.float64)
    if img.ndim == 2:
        return img
    return 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]
