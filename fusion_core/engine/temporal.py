"""Motion-aware temporal smoothing of α over a stream, shared by every backend.

A per-frame network answers each frame on its own: sensor noise, thermal AGC steps and small camera
motion move its α from frame to frame even where the scene did not change, and the fused video
flickers. Plain exponential smoothing of α would cure that but drag a moving hot target's α behind
the target. So the weight of the previous α falls where the inputs changed locally:

    ΔX     = X_t − (g·X_{t−1} + o)                  per modality X ∈ {IR, VI}, registered luminance [0, 1];
                                                    g, o: one global gain/offset fitted by least squares,
                                                    so an AGC step or exposure change is not motion
    change = max(|cell(ΔIR)|, |cell(ΔVI)|)          cell = mean over 4×4-px cells: noise averages out
                                                    (σ/4), a moving target's edge does not
    change = max of change within MOTION_REACH px   the network's α answers a change this far around it
    k      = s · clamp(2 − change / τ, 0, 1)        s = alpha_smoothing, τ = alpha_motion_threshold
    α'     = k · α'_prev + (1 − k) · α               per pixel (k upsampled nearest from its cells)

A pixel whose surroundings changed by less than τ is smoothed with weight s; beyond 2τ it takes the
network's α as it is, so α follows a moving target in the same frame (measured in docs/temporal.md).
The motion test runs on the 4×4 cells (1/16 of the pixels) and keeps only those cells between
frames; full-resolution work is two pooling passes, the blend and the fused correction.

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

from ..model.guided import downsample

CELL = 4  # px: the motion test's cells; 4×4 means shrink the noise 4×
MOTION_REACH = 24  # px: a change moves the network's α this far around it (its 1/4-resolution receptive field)


def photometric_residual(cur: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
    """cur − (g·prev + o) with the global gain g and offset o fitted by least squares; (1, 1, h, w) each.

    A thermal AGC step or an exposure change is one gain and offset over the whole frame: it is not
    motion, and what is left after removing it is. Tensor maths only (no host sync)."""
    mean_prev, mean_cur = prev.mean(), cur.mean()
    centred = prev - mean_prev
    gain = (centred * (cur - mean_cur)).mean() / (centred * centred).mean().clamp_min(1e-8)
    return cur - mean_cur - gain * centred


def dilate(cells: torch.Tensor, reach: int) -> torch.Tensor:
    """(1, 1, h, w) map on CELL-px cells -> same: each cell's max over the cells within ``reach`` px.

    Every pixel within ``reach`` px (Chebyshev distance) of a changed pixel sees the change; cell
    rounding can extend that to ``reach + 2·CELL − 2`` px, never less."""
    r = max(1, -(-reach // CELL))
    rows = F.max_pool2d(cells, (1, 2 * r + 1), stride=1, padding=(0, r))  # separable: 2·(2r+1) compares, not (2r+1)²
    return F.max_pool2d(rows, (2 * r + 1, 1), stride=1, padding=(r, 0))


class AlphaSmoother:
    """Holds the previous frame's smoothed α and its inputs' cell means; :meth:`reset` forgets them."""

    def __init__(self, smoothing: float, motion_threshold: float) -> None:
        self.smoothing = smoothing
        self.motion_threshold = motion_threshold
        self._alpha: torch.Tensor | None = None  # (1, 1, H, W) the previous smoothed α
        self._cells: tuple[torch.Tensor, torch.Tensor] | None = None  # previous IR, VI 4×4-cell means

    @property
    def enabled(self) -> bool:
        return self.smoothing > 0.0

    def reset(self) -> None:
        """Start a new sequence: the next frame is taken as the network gives it."""
        self._alpha = self._cells = None

    def weight(self, ir_y: torch.Tensor, vi_y: torch.Tensor) -> torch.Tensor | None:
        """(1, 1, H, W) weight k of the previous α for these inputs; None without a usable previous frame.

        Also remembers the inputs' cells for the next frame."""
        cells = (downsample(ir_y, CELL), downsample(vi_y, CELL))  # (1, 1, ⌈H/4⌉, ⌈W/4⌉) each
        prev, self._cells = self._cells, cells
        if prev is None or prev[0].shape != cells[0].shape or prev[0].device != cells[0].device:
            return None
        change = torch.maximum(photometric_residual(cells[0], prev[0]).abs_(), photometric_residual(cells[1], prev[1]).abs_())
        k = dilate(change, MOTION_REACH).div_(-self.motion_threshold).add_(2.0).clamp_(0.0, 1.0).mul_(self.smoothing)
        h, w = ir_y.shape[-2:]
        return F.interpolate(k, scale_factor=CELL, mode="nearest")[..., :h, :w]

    def __call__(self, fused_y: torch.Tensor, alpha: torch.Tensor, ir_y: torch.Tensor,
                 vi_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame: (fused Y, α) from the network -> (fused Y, α) smoothed; all (1, 1, H, W) float [0, 1].

        The first frame after :meth:`reset` (or a change of size or device) passes through unchanged."""
        if not self.enabled:
            return fused_y, alpha
        fused_y, alpha = fused_y.float(), alpha.float()
        k = self.weight(ir_y, vi_y)
        if k is not None and self._alpha is not None and self._alpha.shape == alpha.shape:
            smoothed = torch.lerp(alpha, self._alpha, k)  # k·α'_prev + (1−k)·α
            fused_y = (fused_y + (smoothed - alpha) * (ir_y - vi_y)).clamp_(0.0, 1.0)
            alpha = smoothed
        self._alpha = alpha
        return fused_y, alpha
