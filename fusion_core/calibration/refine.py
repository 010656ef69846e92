"""Refinement: the full homography that maximises the orientation agreement, coarse to fine.

From a start inside the basin (the coarse search's answer), the 8 free entries of ``H`` (in normalised
coordinates, where all entries have similar effect) are optimised by L-BFGS on the same normalised
orientation score as the coarse stage, now differentiable: torch warps the thermal image onto the
visible grid (``grid_sample``), computes its doubled-angle field there and correlates it with the
visible field. The thermal footprint is eroded so the warp's own border is not an edge. Each level
(``refine_widths``) starts from the previous level's answer; several pairs add their scores. The last
level's perspective terms carry a Gaussian prior toward 0 (``CalibrationConfig.perspective_prior``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .config import CalibrationConfig
from .features import orientation_field, resize_to_width
from .geometry import Size, mean_scale, resample


PERSPECTIVE_UNIT = 0.01  # perspective terms in normalised thermal coordinates: 0.01 = 1 % scale change centre -> edge


def refine(pairs: list[tuple[np.ndarray, np.ndarray]], h0: np.ndarray, config: CalibrationConfig, levels: slice = slice(None),
           iterations: int = 20) -> tuple[np.ndarray, float]:
    """(refined thermal -> visible homography (3, 3) float64, score 0–1 at the last level run, normalised at
    that level's start).

    Runs ``config.refine_widths[levels]`` in order. Every level but the last of ``refine_widths`` fits
    an affine map (the perspective terms are poorly constrained until the alignment is close, and free
    ones let a single pair overfit); the last fits ``config.final_model``."""
    h, score = np.asarray(h0, dtype=np.float64), 0.0
    last = len(config.refine_widths) - 1
    for i in range(len(config.refine_widths))[levels]:
        width = config.refine_widths[i]
        model = config.final_model if i == last else "affine"
        h, score = _refine_level(pairs, h, width, config, iterations, model)
    return h, score


def score_at(pairs: list[tuple[np.ndarray, np.ndarray]], h: np.ndarray, width: int, config: CalibrationConfig) -> float:
    """Normalised orientation agreement (0–1, mean over pairs) of ``h`` at visible width ``width``, normalised
    at ``h`` itself, so scores of different alignments compare (a refinement's own score keeps the
    normalisation of its start, which drifts when the overlap changes)."""
    total = 0.0
    with torch.no_grad():
        for t, v in pairs:
            level = _Level(t, v, h, width, config.sigma)
            total += float(level.score(torch.from_numpy(level.to_normalised(h))))
    return total / len(pairs)


def _norm(size: Size) -> np.ndarray:
    """Pixel coordinates -> [-1, 1] (grid_sample with align_corners=True)."""
    w, h = size
    return np.array([[2.0 / max(w - 1, 1), 0.0, -1.0], [0.0, 2.0 / max(h - 1, 1), -1.0], [0.0, 0.0, 1.0]])


def _gauss_kernel(sigma: float) -> torch.Tensor:
    radius = max(int(math.ceil(3 * sigma)), 1)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


class _Level:
    """One pair at one refinement level: the thermal image and the fixed visible field, as tensors."""

    def __init__(self, thermal: np.ndarray, visible: np.ndarray, h: np.ndarray, width: int, sigma: float) -> None:
        (th, tw), (vh, vw) = thermal.shape, visible.shape
        width = min(width, vw)  # never enlarge the visible image
        vis, _ = resize_to_width(visible, width)
        self.v_size: Size = (vis.shape[1], vis.shape[0])
        kv = width / vw
        t_width = max(int(round(tw * kv * mean_scale(h, ((tw - 1) / 2, (th - 1) / 2)))), 8)
        therm, _ = resize_to_width(thermal, min(t_width, tw))
        self.t_size: Size = (therm.shape[1], therm.shape[0])
        self.to_level_v = resample((vw, vh), self.v_size)
        self.to_level_t = resample((tw, th), self.t_size)
        field, _ = orientation_field(vis, sigma)
        self.v_field = torch.from_numpy(np.stack([field.real, field.imag]).astype(np.float32))  # (2, h, w)
        self.thermal = torch.from_numpy(therm)[None, None]  # (1, 1, ht, wt)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, self.v_size[1]),
                                torch.linspace(-1, 1, self.v_size[0]), indexing="ij")
        self.points = torch.stack((xs, ys, torch.ones_like(xs)), dim=-1).reshape(-1, 3)  # (h*w, 3)
        self.sigma = sigma
        self.kernel = _gauss_kernel(sigma)
        self.eps: float | None = None
        self.norm: float | None = None

    def to_normalised(self, h: np.ndarray) -> np.ndarray:
        hl = _norm(self.v_size) @ self.to_level_v @ h @ np.linalg.inv(self.to_level_t) @ np.linalg.inv(_norm(self.t_size))
        return hl / hl[2, 2]

    def from_normalised(self, hn: np.ndarray) -> np.ndarray:
        h = np.linalg.inv(self.to_level_v) @ np.linalg.inv(_norm(self.v_size)) @ hn @ _norm(self.t_size) @ self.to_level_t
        return h / h[2, 2]

    def score(self, hn: torch.Tensor) -> torch.Tensor:
        """Normalised agreement (scalar tensor) of the normalised homography ``hn`` (3, 3) float64."""
        w, h = self.v_size
        src = self.points @ torch.linalg.inv(hn).float().T
        grid = (src[:, :2] / src[:, 2:3]).reshape(1, h, w, 2)
        warped = F.grid_sample(self.thermal, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        foot = F.grid_sample(torch.ones_like(self.thermal), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        k = self.kernel
        r = len(k) // 2
        warped = F.conv2d(F.pad(warped, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
        warped = F.conv2d(F.pad(warped, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
        gx = (warped[..., 1:-1, 2:] - warped[..., 1:-1, :-2]) / 2
        gy = (warped[..., 2:, 1:-1] - warped[..., :-2, 1:-1]) / 2
        erode = 2 * (r + 2) + 1
        foot = -F.max_pool2d(-foot, erode, stride=1, padding=erode // 2)[..., 1:-1, 1:-1]
        mag2 = gx * gx + gy * gy
        if self.eps is None:
            with torch.no_grad():
                self.eps = float((mag2.sqrt() * (foot > 0.5)).sum() / (foot > 0.5).sum().clamp(min=1)) + 1e-6
        denom = mag2 + self.eps ** 2
        t_re, t_im = (gx * gx - gy * gy) / denom, 2 * gx * gy / denom  # doubled-angle field of the warped thermal
        v_re, v_im = self.v_field[0, 1:-1, 1:-1], self.v_field[1, 1:-1, 1:-1]
        num = (foot * (v_re * t_re + v_im * t_im)).sum()
        e_t = (foot * (t_re * t_re + t_im * t_im)).sum()
        e_v = (foot * (v_re * v_re + v_im * v_im)).sum()
        if self.norm is None:  # fixed per level: a normalisation that moved with the footprint would reward shrinking it
            self.norm = float(torch.sqrt(e_t * e_v).detach()) + 1e-12
        return num / self.norm


def _refine_level(pairs: list[tuple[np.ndarray, np.ndarray]], h: np.ndarray, width: int, config: CalibrationConfig,
                  iterations: int, model: str = "homography") -> tuple[np.ndarray, float]:
    levels = [_Level(t, v, h, width, config.sigma) for t, v in pairs]
    base = torch.from_numpy(levels[0].to_normalised(h))
    delta = torch.zeros(8, dtype=torch.float64, requires_grad=True)

    free = torch.ones(9, dtype=torch.float64)
    free[8] = 0.0
    if model == "affine":
        free[6:] = 0.0

    def current() -> torch.Tensor:
        return base + (torch.cat([delta, delta.new_zeros(1)]) * free).reshape(3, 3)

    prior = config.perspective_prior / PERSPECTIVE_UNIT ** 2

    def agreement() -> torch.Tensor:
        return sum(level.score(current()) for level in levels) / len(levels)

    def objective() -> torch.Tensor:
        loss = -agreement()
        if model == "homography" and prior > 0:
            hn = current()
            loss = loss + prior * (hn[2, 0] ** 2 + hn[2, 1] ** 2)
        return loss

    if iterations > 0:
        opt = torch.optim.LBFGS([delta], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe", tolerance_change=1e-7)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = objective()
            loss.backward()
            return loss

        opt.step(closure)
    with torch.no_grad():
        final = float(agreement())
        hn = current().numpy()
    return levels[0].from_normalised(hn), final
