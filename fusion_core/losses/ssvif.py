"""SSVIF losses: cross-segmentation consistency and the guard against the trivial solution.

Consistency (symmetric, stop-gradient on the target side)::

    L_cons = KL(sg(p_b) || p_a) + KL(sg(p_a) || p_b)      per pixel, averaged

where ``p_a``, ``p_b`` are the two branches' softmax predictions (B, K, h, w). Each branch learns
towards the other's current prediction; it is 0 exactly when the branches agree.

Agreement alone has trivial optima that ignore the input: one class everywhere, or the same flat
distribution everywhere. The collapse guard, per branch, is::

    G(p) = ½ [KL(p̄ || u) + KL(u || p̄)]  +  confidence · mean_{b,y,x} H(p)

with ``p̄ = mean_{b,y,x} p`` the batch's class usage and ``u`` the uniform distribution over K classes.
The balance part is 0 when the batch uses all K classes equally and grows as classes fall out of
use: it forbids one-class collapse. The second part (per-pixel entropy) asks each pixel to commit
to a class, which forbids the flat collapse the balance part cannot see.

Why both directions of the KL. ``KL(p̄ || u) = log K − H(p̄)`` alone (the classic
information-maximisation rule) is bounded by log K and its pull on an unused class k scales like
``p̄_k log p̄_k``: it *vanishes* as the branch collapses. Once saturated logits (|z| ≈ 20–30, which
the confidence part encourages) put a branch into one class, nothing pulls it back, and whether a
run gets there depended on the CPU's rounding (a fresh clone failed the guard test on AVX2 EPYC
machines and passed on others). ``KL(u || p̄) = −log K − mean_k log p̄_k`` pulls an unused class's
logits with a gradient of about 1/(2K) per class however deep the collapse (∂/∂z_ik of
−log p̄_k ≈ −p_ik / (N p̄_k)), so the guard restores classes from any state. Its log p̄_k is computed
as a log-sum-exp of log-softmax values, so it stays finite and exact for saturated logits. The
forward half keeps the classic behaviour near balance, where it spreads flat branches fastest.

Measured in tests/test_losses.py over several seeds and thread counts: consistency alone drives two
informative branches to I ≈ 0; with the guard they keep several classes (I > 0.5 nats) and still
learn to agree; and from a saturated one-class state the guard alone brings classes back.
The flat state is a saddle of the entropy term: branches that start near it (a fresh network) leave it
slowly. In the trainer the branches train on guard + ``branch_consistency`` × consistency from the first
step, and the consistency reaches FusionNet only in stage 2, ramped in; the test spreads the branches with
the guard alone first. What no loss on a branch's output can undo is a branch whose features no longer
depend on its input: at 60× the trainer's learning rate one step once left SegNet's first layer almost
entirely negative and the branch flat for good (tests/test_losses.py, ``_train_branches``). The batch mean
is taken per process (under DDP each rank guards its own batch).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def consistency_loss(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """Symmetric stop-gradient KL between two (B, K, h, w) logit maps; a scalar >= 0."""
    if logits_a.shape != logits_b.shape:
        raise ValueError(f"consistency_loss needs equal shapes, got {tuple(logits_a.shape)} and {tuple(logits_b.shape)}")
    log_a = F.log_softmax(logits_a.float(), dim=1)
    log_b = F.log_softmax(logits_b.float(), dim=1)
    ta, tb = log_a.detach(), log_b.detach()
    kl_a = (tb.exp() * (tb - log_a)).sum(dim=1).mean()  # a learns towards b
    kl_b = (ta.exp() * (ta - log_b)).sum(dim=1).mean()  # b learns towards a
    return kl_a + kl_b


def collapse_guard(logits: torch.Tensor, confidence: float = 0.0) -> torch.Tensor:
    """Collapse guard of one branch's (B, K, h, w) logits (see the module docstring); a scalar >= 0.

    0 for confident, balanced use of all K classes; large for one class everywhere, with a gradient
    that does not vanish there."""
    log_p = F.log_softmax(logits.float(), dim=1)  # (B, K, h, w)
    k = log_p.shape[1]
    per_class = log_p.transpose(0, 1).reshape(k, -1)  # (K, N)
    log_usage = torch.logsumexp(per_class, dim=1) - math.log(per_class.shape[1])  # (K,) log p̄_k, exact when saturated
    forward = (log_usage.exp() * (log_usage + math.log(k))).sum()  # KL(p̄ || u) = log K − H(p̄)
    reverse = -math.log(k) - log_usage.mean()  # KL(u || p̄)
    guard = 0.5 * (forward + reverse)
    if confidence:
        guard = guard + confidence * pixel_entropy(log_p)
    return guard


def pixel_entropy(log_p: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel entropy (nats) of (B, K, h, w) log-probabilities."""
    return -(log_p.exp() * log_p).sum(dim=1).mean()


def classes_in_use(logits: torch.Tensor, min_share: float = 0.02) -> int:
    """How many classes win the argmax on at least ``min_share`` of the pixels (a collapse monitor)."""
    k = logits.shape[1]
    counts = torch.bincount(logits.argmax(dim=1).flatten(), minlength=k).float()
    return int((counts / counts.sum() >= min_share).sum())
