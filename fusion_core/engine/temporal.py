"""Motion-aware temporal smoothing of α over a stream, shared by every backend.

A per-frame network answers each frame on its own: sensor noise, thermal AGC steps and small camera
motion move its α from frame to frame even where the scene did not change, and the fused video
flickers. Plain exponential smoothing of α would cure that but drag a moving hot target's α behind
the target. So the weight of the previous α falls where the inputs changed locally:

    change = max(|box(ΔIR)|, |box(ΔVI)|)            registered luminance [0, 1], 5×5 mean of the signed
                                                    frame difference (noise averages out, motion does not)
    k      = s · clamp(2 − change / τ, 0, 1)        s = alpha_smoothing, τ = alpha_motion_threshold
    α'     = k · α'_prev + (1 − k) · α               per pixel

A pixel whose inputs changed by less than τ is smoothed with weight s; beyond 2τ it takes the
network's α as it is, so α follows a moving target in the same frame (measured in docs/temporal.md).

The fused image. FusionNet's output is not a plain blend: ``fused = α·IR + (1−α)·VI + detail``
(a detail residual from gains that do not depend on α, then clipped to [0, 1]; see
:mod:`fusion_core.model.fusionnet`). Replacing α by α' changes only the blend term, by
``(α' − α)·(IR − VI)``, so ``fused' = clamp(fused + (α' − α)·(IR − VI), 0, 1)``: exactly the
network's formula with α' wherever its output was not clipped, and the detail left as it was.
Any runner (torch, ONNX Runtime, TensorRT) returns the same two tensors, so this works for all.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model.guided import box_filter

MOTION_RADIUS = 2  # 5×5 window for the local change: noise σ shrinks 5×, a target's edge does not
MOTION_REACH = 24  # px: a change moves the network's α this far around it (1/4-resolution receptive field)
_REACH_CELL = 4  # the reach is applied on a 1/4-resolution max map (cheap on a CPU)


def photometric_residual(cur: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
    """cur − (g·prev + o) with the global gain g and offset o fitted by least squares; (1, 1, H, W) each.

    A thermal AGC step or an exposure change is one gain and offset over the whole frame: it is not
    motion, and what is left after removing it is. Tensor maths only (no host sync)."""
    mean_prev, mean_cur = prev.mean(), cur.mean()
    centred = prev - mean_prev
    gain = (centred * (cur - mean_cur)).mean() / (centred * centred).mean().clamp_min(1e-8)
    return cur - mean_cur - gain * centred


def spread(change: torch.Tensor, reach: int) -> torch.Tensor:
    """(1, 1, H, W) -> same: the max of ``change`` over a square neighbourhood, on 4-px cells.

    Every pixel within ``reach`` px (Chebyshev distance) of a change sees it; cell rounding can extend
    that to ``reach + 6`` px, never less."""
    h, w = change.shape[-2:]
    low = F.max_pool2d(change, _REACH_CELL, stride=_REACH_CELL, ceil_mode=True)
    r = max(1, -(-reach // _REACH_CELL))
    low = F.max_pool2d(low, 2 * r + 1, stride=1, padding=r)
    return F.interpolate(low, scale_factor=_REACH_CELL, mode="nearest")[..., :h, :w]


class AlphaSmoother:
    """Holds the previous frame's α and registered inputs; :meth:`reset` forgets them."""

    def __init__(self, smoothing: float, motion_threshold: float) -> None:
        self.smoothing = smoothing
        self.motion_threshold = motion_threshold
        self._prev: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # (α', IR, VI), each (1, 1, H, W)

    @property
    def enabled(self) -> bool:
        return self.smoothing > 0.0

    def reset(self) -> None:
        """Start a new sequence: the next frame is taken as the network gives it."""
        self._prev = None

    def weight(self, ir_y: torch.Tensor, vi_y: torch.Tensor) -> torch.Tensor | None:
        """(1, 1, H, W) weight k of the previous α for these inputs; None without a usable previous frame."""
        if self._prev is None or self._prev[1].shape != ir_y.shape or self._prev[1].device != ir_y.device:
            return None
        _, prev_ir, prev_vi = self._prev
        change = torch.maximum(box_filter(photometric_residual(ir_y, prev_ir), MOTION_RADIUS).abs(),
                               box_filter(photometric_residual(vi_y, prev_vi), MOTION_RADIUS).abs())
        change = spread(change, MOTION_REACH)
        return (2.0 - change / self.motion_threshold).clamp_(0.0, 1.0).mul_(self.smoothing)

    def __call__(self, fused_y: torch.Tensor, alpha: torch.Tensor, ir_y: torch.Tensor,
                 vi_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame: (fused Y, α) from the network -> (fused Y, α) smoothed; all (1, 1, H, W) float [0, 1].

        The first frame after :meth:`reset` (or a change of size or device) passes through unchanged."""
        if not self.enabled:
            return fused_y, alpha
        fused_y, alpha = fused_y.float(), alpha.float()
        k = self.weight(ir_y, vi_y)
        if k is not None and self._prev is not None:
            smoothed = torch.lerp(alpha, self._prev[0], k)  # k·α'_prev + (1−k)·α
            fused_y = (fused_y + (smoothed - alpha) * (ir_y - vi_y)).clamp_(0.0, 1.0)
            alpha = smoothed
        self._prev = (alpha, ir_y, vi_y)
        return fused_y, alpha
