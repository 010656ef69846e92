"""Dynamic weighting of the SSVIF consistency loss against the fusion loss (stage 2).

w_c is the weight of the consistency loss in FusionNet's objective (``fusion + w_c·consistency``;
the segmentation branches have their own fixed weights, see training/steps.py).

Rule ("magnitude-ratio balancing"): keep the *weighted* consistency term at a fixed fraction
``target_ratio`` of the fusion loss, using exponential moving averages of the two unweighted
losses (averaged over DDP ranks) as proxies for their gradient scales::

    w_c(t) = clip(ramp(t) · target_ratio · EMA(L_fusion) / EMA(L_cons), min_weight, max_weight)
    ramp(t) = min(1, (t − stage1_steps + 1) / ramp_steps)          (linear switch-on)

Why: the consistency loss spans orders of magnitude during training (large KL while the branches
disagree, ~0 once they agree); a fixed weight would either swamp the fusion objective early or
vanish later. Tracking the ratio keeps segmentation a steady, bounded influence on the fused
image, and the ramp avoids a shock at the stage switch. The EMAs are updated with the detached
losses of every stage-2 step, before the weight is read (so the first step is already balanced).
The state is saved in checkpoints so a resumed run weights identically. Both the weight and the
losses are logged every ``run.log_every`` steps (``weight/consistency``, ``loss/consistency``).
A loss magnitude is only a proxy for a gradient scale: the KL grows large when the branches are
confident and disagree, although its gradient per logit stays bounded; so w_c is small then.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RatioWeighting:
    target_ratio: float
    ema: float
    ramp_steps: int
    start_step: int
    min_weight: float
    max_weight: float
    fusion_avg: float | None = None
    cons_avg: float | None = None

    def update(self, step: int, fusion: float, consistency: float) -> float:
        """Fold this step's unweighted losses into the averages; return the consistency weight for it."""
        self.fusion_avg = fusion if self.fusion_avg is None else self.ema * self.fusion_avg + (1.0 - self.ema) * fusion
        self.cons_avg = consistency if self.cons_avg is None else self.ema * self.cons_avg + (1.0 - self.ema) * consistency
        ramp = 1.0 if self.ramp_steps == 0 else min(1.0, max(0.0, (step - self.start_step + 1) / self.ramp_steps))
        weight = ramp * self.target_ratio * self.fusion_avg / max(self.cons_avg, 1e-8)
        return min(max(weight, self.min_weight), self.max_weight)

    def state_dict(self) -> dict[str, float | None]:
        return {"fusion_avg": self.fusion_avg, "cons_avg": self.cons_avg}

    def load_state_dict(self, state: dict[str, float | None]) -> None:
        self.fusion_avg, self.cons_avg = state["fusion_avg"], state["cons_avg"]
