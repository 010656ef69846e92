"""Shared pre- and post-processing around a backend's network, and the FusionEngine itself.

Per frame, on the engine's device: upload -> thermal validity (float frames) -> thermal
normalisation -> visible to YCbCr -> registration -> network -> fused Y + visible CbCr back to the
visible's layout -> validity mask (α = 0, output = visible where thermal is invalid or outside the
thermal camera's footprint, see :mod:`fusion_core.engine.validity`) -> uint8 -> one host copy each
for the fused image and α. Colour work runs on planar (C, H, W) tensors: interleaved per-pixel
operations stride through memory and cost about three times as much on the CPU (see
:mod:`fusion_core.colour`); the result is the same to the bit. With ``alpha_smoothing`` > 0, α (and
the fused Y with it) is smoothed over the stream right after the network
(:mod:`fusion_core.engine.temporal`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from ..colour import rgb_planes_to_ycbcr, ycbcr_planes_to_rgb
from ..errors import InputError
from ..registration import Registrar
from ..thermal import ThermalNormConfig, ThermalNormalizer
from .contract import VISIBLE_ORDERS, EngineConfig, FusionResult, NetworkRunner
from .temporal import AlphaSmoother
from .validity import apply_invalid, combine_invalid, coverage_of, find_invalid, to_visible_grid


@dataclass
class _Prepared:
    ir_y: torch.Tensor  # (1, 1, H, W) float [0, 1]
    vi_y: torch.Tensor  # (1, 1, H, W) float [0, 1]
    cbcr: torch.Tensor | None  # (2, H, W) visible chroma (planar), None for grey
    extra: torch.Tensor | None  # (1, H, W) uint8 visible's 4th channel, passed through untouched
    order: str
    visible: torch.Tensor  # (H, W) or (H, W, C) uint8, the visible image as given
    invalid: torch.Tensor | None  # (H, W) bool, True where thermal is invalid or outside the footprint; None when all valid
    invalid_count: int  # non-finite pixels in the thermal frame's own grid
    coverage: float  # fraction of visible pixels with valid thermal, [0, 1]


def _upload(arr: np.ndarray, device: torch.device) -> torch.Tensor:
    arr = np.ascontiguousarray(arr)
    if arr.dtype == np.uint16:  # torch's uint16 support is thin; int32 holds every value exactly
        arr = arr.astype(np.int32)
    return torch.from_numpy(arr).to(device, non_blocking=True)


def _planes_u8(image: torch.Tensor) -> torch.Tensor:
    """(H, W, C) uint8 -> (C, H, W) uint8 on the same device. On the CPU OpenCV's split does the
    transposing copy (0.05 ms at 640x480, against 1 ms for torch's strided copy on one thread)."""
    if image.device.type == "cpu":
        return torch.from_numpy(np.stack(cv2.split(image.numpy())))
    return image.permute(2, 0, 1).contiguous()


def _interleave_u8(planes: torch.Tensor) -> torch.Tensor:
    """(C, H, W) uint8 -> (H, W, C) uint8, the inverse of :func:`_planes_u8` (OpenCV's merge on the CPU)."""
    if planes.device.type == "cpu":
        return torch.from_numpy(cv2.merge(list(planes.numpy())))
    return planes.permute(1, 2, 0).contiguous()


def normalise_thermal(thermal: np.ndarray, normalizer: ThermalNormalizer,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """A checked (Ht, Wt) thermal frame -> ((Ht, Wt) float [0, 1], finite; invalid mask or None; invalid count).

    Non-finite pixels are found first (an all-invalid frame raises InputError before the AGC state is
    touched), left out of the normaliser's statistics and filled (:mod:`fusion_core.engine.validity`).
    The engine and replay's metric reference both prepare thermal through here, so they agree."""
    raw = _upload(thermal, device).float()  # (Ht, Wt) source units
    invalid, invalid_count = find_invalid(raw, thermal.dtype)
    return normalizer(raw, thermal.dtype, invalid), invalid, invalid_count


def check_thermal(thermal: np.ndarray) -> np.ndarray:
    """Reduce a thermal image to (H, W): accepts (H, W), (H, W, 1) and 3 identical channels."""
    if not isinstance(thermal, np.ndarray):
        raise InputError(f"thermal must be a numpy array, got {type(thermal).__name__}")
    if thermal.dtype not in (np.uint8, np.uint16) and thermal.dtype.kind != "f":
        raise InputError(f"thermal dtype {thermal.dtype} is not supported; use uint8, uint16 or float")
    if thermal.ndim == 3 and thermal.shape[2] in (1, 3, 4):
        thermal = thermal[:, :, 0]  # RGB(gray) files store the same value in every channel
    if thermal.ndim != 2 or min(thermal.shape) < 1:
        raise InputError(f"thermal must be (H, W) or (H, W, 1|3), got shape {thermal.shape}")
    return thermal


def check_visible(visible: np.ndarray, order: str) -> str:
    """Validate the visible image against its declared channel order; returns the effective order."""
    if order not in VISIBLE_ORDERS:
        raise InputError(f"visible order {order!r} is not one of {', '.join(VISIBLE_ORDERS)}")
    if not isinstance(visible, np.ndarray) or visible.dtype != np.uint8:
        raise InputError(f"visible must be a uint8 numpy array, got {getattr(visible, 'dtype', type(visible).__name__)}")
    if visible.ndim == 2 or (visible.ndim == 3 and visible.shape[2] == 1):
        return "mono"
    channels = {"rgb": 3, "bgr": 3, "rgba": 4, "bgra": 4, "mono": 1}[order]
    if visible.ndim != 3 or visible.shape[2] != channels:
        raise InputError(f"visible with order {order!r} must be (H, W, {channels}), got shape {visible.shape}")
    return order


WARM_UP_SIZE = (640, 480)  # (width, height) of the blank pair FusionEngine.warm_up fuses when no size is known
# Blank calls a warm-up makes: the second call still pays part of the one-off cost (the first real 640x480
# fusion after one warm-up call took 29-34 ms, after two 22.6 ms, as every later one; ONNX Runtime, one thread).
WARM_UP_CALLS = 2


class FusionEngine:
    """Fuses numpy image pairs with any backend's :class:`NetworkRunner` (see :func:`create_engine`)."""

    def __init__(self, runner: NetworkRunner, config: EngineConfig) -> None:
        self.runner = runner
        self.config = config
        self.device = runner.device
        self.normalizer = ThermalNormalizer(config.thermal)
        self.registrar = Registrar(config.registration)
        self.smoother = AlphaSmoother(config.alpha_smoothing, config.alpha_motion_threshold)

    @property
    def backend(self) -> str:
        return self.runner.name

    def reset(self) -> None:
        """Forget temporal state (thermal AGC, smoothed α) before an unrelated sequence."""
        self.normalizer.reset()
        self.smoother.reset()

    def retune_thermal(self, thermal: ThermalNormConfig) -> None:
        """Normalise thermal frames by ``thermal`` from the next :meth:`fuse` on (a running camera's range or AGC
        tuned while watching the output). One attribute is replaced, so a fusion in progress on another thread
        finishes with the old setting and none mixes the two; the percentile AGC starts afresh."""
        self.normalizer = ThermalNormalizer(thermal)
        self.config = replace(self.config, thermal=thermal)

    def warm_up(self, thermal_size: tuple[int, int] = WARM_UP_SIZE, visible_size: tuple[int, int] | None = None) -> float:
        """Fuse a blank pair of these (width, height) sizes WARM_UP_CALLS times and forget it; returns the
        milliseconds taken in all.

        A backend's first calls pay one-off costs (ONNX Runtime: 66 + 54 ms for the first two 640x480
        fusions against 28 ms after, one CPU thread; CUDA: context and kernels). A stream that starts
        cold loses its first frames to them behind a newest-wins queue; warming up at start-up moves that
        cost out of the stream. Temporal state (thermal AGC, smoothed α) is reset afterwards."""
        visible_size = visible_size or thermal_size
        start = time.perf_counter()
        thermal, visible = np.zeros(thermal_size[::-1], np.uint8), np.zeros((*visible_size[::-1], 3), np.uint8)
        for _ in range(WARM_UP_CALLS):
            self.fuse(thermal, visible)
        self.reset()
        return (time.perf_counter() - start) * 1000.0

    def fuse(self, thermal: np.ndarray, visible: np.ndarray, visible_order: str = "rgb") -> FusionResult:
        """Fuse one pair. ``thermal``: uint8/uint16/float (H, W); ``visible``: uint8 grey or colour."""
        sync = self.device.type == "cuda"
        t0 = time.perf_counter()
        prep = self._prepare(thermal, visible, visible_order)
        if sync:
            torch.cuda.synchronize(self.device)
        t1 = time.perf_counter()
        with torch.inference_mode():
            fused_y, alpha = self.runner(prep.ir_y, prep.vi_y)
        if sync:
            torch.cuda.synchronize(self.device)
        t2 = time.perf_counter()
        if self.smoother.enabled:
            with torch.inference_mode():
                fused_y, alpha = self.smoother(fused_y, alpha, prep.ir_y, prep.vi_y)
        fused_img, alpha_img = self._assemble(fused_y, alpha, prep)
        t3 = time.perf_counter()
        ms = lambda a, b: (b - a) * 1000.0  # noqa: E731
        timings = {"pre": ms(t0, t1), "network": ms(t1, t2), "post": ms(t2, t3), "total": ms(t0, t3)}
        return FusionResult(fused_img, alpha_img, timings, invalid_thermal=prep.invalid_count,
                            thermal_coverage=prep.coverage)

    def _prepare(self, thermal: np.ndarray, visible: np.ndarray, order: str) -> _Prepared:
        thermal = check_thermal(thermal)
        order = check_visible(visible, order)
        with torch.inference_mode():
            th, invalid, invalid_count = normalise_thermal(thermal, self.normalizer, self.device)  # (Ht, Wt) [0, 1]
            vis_u8 = _upload(visible, self.device)
            cbcr = extra = None
            if order == "mono":
                vis_u8 = vis_u8.reshape(vis_u8.shape[0], vis_u8.shape[1])
                vi_y = vis_u8.float().mul_(1.0 / 255.0)
            else:
                # Planar from here on (see fusion_core.colour): one transposing copy of the bytes, then
                # every per-pixel operation runs over contiguous planes.
                planes = _planes_u8(vis_u8)
                rgb = planes[:3] if order.startswith("rgb") else planes[[2, 1, 0]]
                ycc = rgb_planes_to_ycbcr(rgb.float().mul_(1.0 / 255.0))
                vi_y, cbcr = ycc[0], ycc[1:]
                extra = planes[3:] if len(order) == 4 else None
            hw = (vi_y.shape[0], vi_y.shape[1])
            ir_y = self.registrar(th, hw)
            non_finite = to_visible_grid(invalid, self.registrar, hw) if invalid is not None else None
            thermal_hw = (th.shape[0], th.shape[1])
            invalid_vis = combine_invalid(non_finite, self.registrar.outside(thermal_hw, hw, self.device))
            coverage = self.registrar.coverage(thermal_hw, hw) if non_finite is None else coverage_of(invalid_vis)
            return _Prepared(ir_y[None, None].contiguous(), vi_y[None, None].contiguous(), cbcr, extra, order,
                             vis_u8, invalid_vis, invalid_count, coverage)

    def _assemble(self, fused_y: torch.Tensor, alpha: torch.Tensor, prep: _Prepared) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            y = fused_y[0, 0].float()
            if prep.cbcr is None:
                out = to_uint8(y)
            else:
                rgb = ycbcr_planes_to_rgb(y, prep.cbcr)  # (3, H, W)
                planes = to_uint8(rgb if prep.order.startswith("rgb") else rgb[[2, 1, 0]])
                if prep.extra is not None:
                    planes = torch.cat((planes, prep.extra), dim=0)
                out = _interleave_u8(planes)  # back to the visible's interleaved layout
            a = alpha[0, 0].float()
            if prep.invalid is not None:
                # on bytes: the visible pixels come back exactly as they arrived
                a, out = apply_invalid(a, out, prep.visible, prep.invalid)
            return out.cpu().numpy(), to_uint8(a).cpu().numpy()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] float -> uint8 with rounding half to even (0.5 -> 128), clamped.

    On the CPU, float32: OpenCV's saturating conversion of the clamped values (x · 255 in float32, rounded
    half to even, as torch's round): the same bytes in one pass instead of four (640x480 RGB, one
    thread: 0.96 -> 0.45 ms; every float32 in [-0.01, 1.01] on a dense grid and around each k/255 and
    (k + 0.5)/255 compared, tested)."""
    if x.device.type == "cpu" and x.dtype == torch.float32 and x.ndim >= 2:
        clamped = x.clamp(0.0, 1.0).contiguous().numpy()
        return torch.from_numpy(cv2.convertScaleAbs(clamped.reshape(-1, x.shape[-1]), alpha=255.0).reshape(x.shape))
    return x.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
