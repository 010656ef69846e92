"""Anchor term: keep a fine-tune's output where a reference model put it, except on the targets.

Every detection fine-tune so far raised person AP and paid for it elsewhere: bicycles and cars lost AP,
scenes darkened, the fusion metrics fell (docs/evaluation.md, "Day and night", "Width"). The detection
term's gradient reaches every pixel the detector looks at, so it reshapes the background and the other
classes as well as the people it helps. The anchor asks the fine-tuned fusion ``F`` to stay at a frozen
reference's fusion ``R`` (the model the run started from) wherever it is not supervised to change:

    anchor = mean |F − R| over the pixels outside the ROI mask (labelled samples),
             and over every pixel of unlabelled samples.

With ``data.roi_classes`` naming the classes to change (e.g. people), their boxes are the mask and
everything else, other classes included, is held where the reference made it. L1, so small drifts
cost as much per unit as large ones and the term does not vanish near the reference.
"""

from __future__ import annotations

import torch


def anchor_region(mask: torch.Tensor, roi_valid: torch.Tensor) -> torch.Tensor:
    """Where the anchor applies, (B, 1, H, W) {0, 1}: outside the boxes of labelled samples, everywhere
    on unlabelled ones (their all-zero mask means "not annotated", and there is no target to free)."""
    labelled = (roi_valid > 0.5).to(mask.dtype).view(-1, 1, 1, 1)
    return 1.0 - mask * labelled


def anchor_loss(fused: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, roi_valid: torch.Tensor) -> torch.Tensor:
    """Mean |fused − reference| over :func:`anchor_region`; 0 where that region is empty.

    ``fused``, ``reference``: (B, 1, H, W) in [0, 1]; ``reference`` carries no gradient (a frozen model's
    output); ``mask``: the ROI mask, (B, 1, H, W) {0, 1}; ``roi_valid``: (B,) 1 for labelled samples.
    """
    if fused.shape != reference.shape:
        raise ValueError(f"anchor_loss: fused {tuple(fused.shape)} and reference {tuple(reference.shape)} differ in shape")
    region = anchor_region(mask, roi_valid)
    return ((fused - reference.detach()).abs() * region).sum() / region.sum().clamp_min(1.0)
