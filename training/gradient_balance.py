"""Keep the detection term from drowning the fusion terms' gradient.

With the frozen detector in the loop, the detection term's gradient norm is 4–10 against 0.07–0.22 for
each fusion term (docs/evaluation.md, "Two more directions"), and the step is clipped to norm 1: the
fusion terms then hardly steer, and the structure metrics (SCD, Qabf, SSIM) slide as detection is trained.
A smaller detection weight lowers its share in every step alike, where it agrees with fusion as much as
where it works against it.

:func:`balance` combines the two gradients the way multi-task learning does it (the projection of
PCGrad, Yu et al., NeurIPS 2020, "Gradient Surgery for Multi-Task Learning", one task kept fixed):

1. the component of the detection gradient that points against the fusion gradient is removed (projected
   onto the plane normal to the fusion gradient), so a detection step never undoes fusion;
2. what is left is scaled down, if needed, to at most ``ratio`` × the fusion gradient's norm;
3. the two are added. The usual ``optim.grad_clip`` then applies to the sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class BalanceStats:
    """What :func:`balance` did at one step (logged with the losses)."""

    fusion_norm: float
    detection_norm: float  # before projection and cap
    cosine: float  # between the two raw gradients; < 0: they conflicted and the conflict was removed
    scale: float  # factor applied to the projected detection gradient (1 = not capped)


def _flat(grads: list[torch.Tensor | None], like: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, like)])


def balance(fusion: list[torch.Tensor | None], detection: list[torch.Tensor | None], params: list[torch.Tensor],
            ratio: float) -> tuple[list[torch.Tensor], BalanceStats]:
    """Per-parameter gradients: fusion + the detection gradient, projected off conflict and capped.

    ``fusion`` and ``detection`` are ``torch.autograd.grad`` results over ``params`` (``None`` where a
    term does not reach a parameter). ``ratio`` > 0 caps the detection part's norm relative to fusion's.
    """
    if ratio <= 0:
        raise ValueError(f"ratio must be > 0, got {ratio}")
    f, d = _flat(fusion, params), _flat(detection, params)
    f_norm, d_norm = float(f.norm()), float(d.norm())
    dot = float(torch.dot(f, d))
    cosine = dot / (f_norm * d_norm) if f_norm > 0 and d_norm > 0 else 0.0
    if dot < 0 and f_norm > 0:
        d = d - (dot / f_norm**2) * f
    kept = float(d.norm())
    scale = min(1.0, ratio * f_norm / kept) if kept > 0 else 1.0
    total = f + scale * d
    out = [chunk.view_as(p) for chunk, p in zip(total.split([p.numel() for p in params]), params)]
    return out, BalanceStats(f_norm, d_norm, cosine, scale)
