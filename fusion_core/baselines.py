"""Classical fusion baselines, so every report has a floor to beat.

Each baseline maps two registered luminance images of the same shape to a fused luminance image:
``fn(ir, vi, **options) -> fused``. They are scale-agnostic — every rule is a weighted sum, a
maximum or a choice between the inputs — so they work on float [0, 1] or on 0–255 alike, as long as
both inputs use the same scale; the output is float64 on that scale. Only the Laplacian pyramid can
step slightly outside the inputs' range (reconstruction overshoot); it is not clipped here, and
:func:`fuse_baseline_image` clips it when it makes the uint8 image.

:func:`fuse_baseline_image` turns a baseline into a fused *picture* exactly the way the engine
treats colour: thermal normalised by the engine's default policy, visible RGB → BT.601 YCbCr, the
baseline fuses the Y planes, the visible CbCr is put back, rounded to uint8.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .errors import ConfigError, InputError

Baseline = Callable[..., np.ndarray]


def _check_pair(ir: np.ndarray, vi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 (H, W) copies-or-views of both inputs; same shape, finite values."""
    out = []
    for name, img in (("ir", ir), ("vi", vi)):
        if not isinstance(img, np.ndarray) or img.ndim != 2 or img.size == 0:
            raise InputError(f"{name} must be a non-empty (H, W) luminance array, got "
                             f"{getattr(img, 'shape', type(img).__name__)}")
        img = np.asarray(img, dtype=np.float64)
        if not np.isfinite(img).all():
            raise InputError(f"{name} contains NaN or infinite values")
        out.append(img)
    if out[0].shape != out[1].shape:
        raise InputError(f"ir and vi must have the same shape, got ir {out[0].shape}, vi {out[1].shape}")
    return out[0], out[1]


def ir_only(ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """The thermal image itself (the visible is only checked for shape)."""
    a, _ = _check_pair(ir, vi)
    return a.copy()


def vi_only(ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """The visible image itself (the thermal is only checked for shape)."""
    _, b = _check_pair(ir, vi)
    return b.copy()


def average(ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """(IR + VI) / 2 per pixel: the best-SSIM / lowest-MSE classical floor."""
    a, b = _check_pair(ir, vi)
    return (a + b) * 0.5


def pixel_max(ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """max(IR, VI) per pixel: keeps hot targets and bright visible regions (high SD, Qabf)."""
    a, b = _check_pair(ir, vi)
    return np.maximum(a, b)


def _gaussian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """[img, pyrDown(img), ...]: up to ``levels`` reductions; stops early at 1×1."""
    pyramid = [img]
    for _ in range(levels):
        if pyramid[-1].shape == (1, 1):
            break
        pyramid.append(cv2.pyrDown(pyramid[-1]))
    return pyramid


def _detail(pyramid: list[np.ndarray], level: int) -> np.ndarray:
    """Laplacian band ``level``: the Gaussian level minus the expanded next level (same size, odd sizes too)."""
    h, w = pyramid[level].shape
    return pyramid[level] - cv2.pyrUp(pyramid[level + 1], dstsize=(w, h))


def laplacian_pyramid(ir: np.ndarray, vi: np.ndarray, levels: int = 4) -> np.ndarray:
    """Laplacian-pyramid fusion (Burt & Adelson style) with OpenCV's 5-tap pyrDown/pyrUp.

    ``levels`` detail bands (each halving the size, rounding up, so any H, W works, odd included;
    fewer bands when the image reaches 1×1). Detail bands: choose-max-abs per pixel (IR on ties);
    base (the coarsest Gaussian level): average. ``levels=0`` is the plain average. With IR = VI
    the input is reconstructed exactly (up to float rounding).
    """
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool) or levels < 0:
        raise ConfigError(f"laplacian levels must be an integer >= 0, got {levels!r}")
    a, b = _check_pair(ir, vi)
    pa, pb = _gaussian_pyramid(a, int(levels)), _gaussian_pyramid(b, int(levels))
    fused = (pa[-1] + pb[-1]) * 0.5  # base: (h / 2^L, w / 2^L), rounded up
    for level in range(len(pa) - 2, -1, -1):
        da, db = _detail(pa, level), _detail(pb, level)
        h, w = da.shape
        fused = cv2.pyrUp(fused, dstsize=(w, h)) + np.where(np.abs(da) >= np.abs(db), da, db)
    return fused


BASELINES: dict[str, Baseline] = {
    "ir_only": ir_only,
    "vi_only": vi_only,
    "average": average,
    "max": pixel_max,
    "laplacian": laplacian_pyramid,
}


def get_baseline(name: str) -> Baseline:
    """The registered baseline ``name``; ConfigError listing the valid names otherwise."""
    try:
        return BASELINES[name]
    except KeyError:
        raise ConfigError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}") from None


def fuse_baseline_image(name: str, thermal: np.ndarray, visible: np.ndarray, **options: object) -> np.ndarray:
    """The uint8 fused image a baseline produces, coloured the way the engine colours its output.

    ``thermal``: uint8/uint16 (H, W) or 3 identical channels, normalised like the engine's default
    (fixed policy, full dtype range: uint8 / 255). ``visible``: uint8 RGB (H, W, 3) or grey (H, W)
    of the same size (no registration here). Returns uint8 RGB (H, W, 3), or (H, W) for a grey
    visible. ``options`` go to the baseline (e.g. ``levels`` for ``laplacian``).
    """
    import torch

    from .colour import rgb_to_ycbcr, ycbcr_to_rgb
    from .engine.pipeline import check_thermal, check_visible, to_uint8
    from .thermal import ThermalNormalizer

    fn = get_baseline(name)
    thermal = check_thermal(thermal)
    order = check_visible(visible, "rgb")
    if thermal.shape[:2] != visible.shape[:2]:
        raise InputError(f"thermal {thermal.shape[:2]} and visible {visible.shape[:2]} differ in size; "
                         "baselines need registered pairs of the same size")
    with torch.inference_mode():
        source = thermal.astype(np.int32) if thermal.dtype == np.uint16 else thermal
        ir_y = ThermalNormalizer()(torch.from_numpy(np.ascontiguousarray(source)).float(), thermal.dtype)  # (H, W) [0, 1]
        vis = torch.from_numpy(np.ascontiguousarray(visible)).float().mul_(1.0 / 255.0)
        if order == "mono":
            vi_y, cbcr = vis.reshape(vis.shape[0], vis.shape[1]), None
        else:
            ycc = rgb_to_ycbcr(vis)  # (H, W, 3)
            vi_y, cbcr = ycc[..., 0], ycc[..., 1:]
        fused_y = torch.from_numpy(fn(ir_y.numpy(), vi_y.numpy(), **options)).float()  # (H, W)
        out = fused_y if cbcr is None else ycbcr_to_rgb(torch.cat((fused_y[..., None], cbcr), dim=-1))
        return to_uint8(out).numpy()
