"""Thermal validity: which pixels of a pair have a usable thermal value, and what fusion does where not.

A pixel is *thermal-invalid* when the thermal value registered onto it cannot be trusted: a
non-finite source pixel (NaN, ±inf in a float frame: dead pixels, a driver's "no data") reaches it,
or it lies outside the thermal camera's footprint in the visible frame (the field-of-view rule of
:mod:`fusion_core.registration`: its bilinear sample would take weight from beyond the thermal
image). The engine handles the mask in the shared pipeline, so every backend behaves the same:

1. :func:`find_invalid` marks the non-finite pixels of the raw frame (integer frames skip this: they
   cannot hold one). A frame with no finite pixel is an :class:`~fusion_core.errors.InputError`.
2. The thermal normaliser leaves them out of its AGC statistics and writes
   :data:`~fusion_core.thermal.INVALID_FILL` there, so the network only ever sees finite inputs.
3. :func:`to_visible_grid` carries the mask through registration: a visible pixel is invalid when
   any invalid thermal pixel contributes to its (interpolated) value. :func:`combine_invalid` adds the
   pixels outside the footprint (:meth:`~fusion_core.registration.Registrar.outside`, cached per
   sizes and device; ``None`` for identity, same size and resize, so the common case costs nothing).
   The network still sees the warp's zeros there, so covered pixels fuse exactly as before the rule.
4. After the network, :func:`apply_invalid` sets α = 0 and the output to the visible image at those
   pixels: with no thermal evidence the fused image is the visible image, exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError
from ..registration import Registrar


def find_invalid(thermal: torch.Tensor, source_dtype: np.dtype) -> tuple[torch.Tensor | None, int]:
    """(Ht, Wt) thermal in source units -> (mask, count): mask (Ht, Wt) bool, True where not finite.

    ``(None, 0)`` when every pixel is finite, and without looking at the pixels for an integer dtype.
    A clean float frame costs one sum: NaN or ±inf anywhere makes it non-finite (so does an overflow,
    which then only costs the exact check). Raises :class:`InputError` when no pixel is finite.
    """
    if np.dtype(source_dtype).kind != "f":
        return None, 0
    if math.isfinite(float(thermal.sum())):  # ~60x cheaper than isfinite().all() on 640x480 (2 CPU cores)
        return None, 0
    invalid = ~torch.isfinite(thermal)
    if not bool(invalid.any()):
        return None, 0
    count = int(invalid.sum())
    if count == invalid.numel():
        raise InputError(f"thermal frame ({thermal.shape[1]}x{thermal.shape[0]}, {np.dtype(source_dtype)}) has no finite "
                         "pixel (all NaN/inf); there is nothing to fuse")
    return invalid, count


def to_visible_grid(invalid: torch.Tensor, registrar: Registrar, visible_hw: tuple[int, int]) -> torch.Tensor:
    """(Ht, Wt) bool in the thermal grid -> (H, W) bool in the visible grid, by the registrar's own warp.

    The mask is warped as a 0/1 image with the same interpolation as the thermal frame; any weight
    from an invalid pixel (> 0) marks the visible pixel invalid, because its thermal value then
    contains the fill rather than a measurement. Pixels outside the footprint are not marked here
    (the padding is 0 there); :func:`combine_invalid` adds them.
    """
    if tuple(invalid.shape) == tuple(visible_hw) and registrar.config.is_identity:
        return invalid
    return registrar(invalid.float(), visible_hw) > 0


def combine_invalid(non_finite: torch.Tensor | None, outside: torch.Tensor | None) -> torch.Tensor | None:
    """The union of two (H, W) bool masks in the visible grid, either of which may be None (= all valid)."""
    if non_finite is None:
        return outside
    if outside is None:
        return non_finite
    return non_finite | outside


def coverage_of(invalid: torch.Tensor | None) -> float:
    """Fraction of the visible pixels with valid thermal, [0, 1]: 1.0 for no mask (no device sync then)."""
    return 1.0 if invalid is None else 1.0 - float(invalid.sum()) / invalid.numel()


def apply_invalid(alpha: torch.Tensor, fused: torch.Tensor, visible: torch.Tensor,
                  invalid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """α = 0 and fused = visible at invalid pixels.

    ``alpha``: (H, W) float [0, 1]; ``fused`` and ``visible``: (H, W) or (H, W, C) of one dtype in the
    same layout (the engine passes uint8: the visible image as given, so its colour comes back bit for
    bit); ``invalid``: (H, W) bool.
    """
    mask = invalid if fused.dim() == 2 else invalid[..., None]
    return alpha.masked_fill(invalid, 0.0), torch.where(mask, visible, fused)
