"""The automatic calibration: thermal -> visible homography from image pairs of one rig, or a refusal.

Stages (see :mod:`.coarse`, :mod:`.refine`): check that each image has structure (with several pairs, a pair
without it is left out and named in :attr:`Estimate.skipped`: one dark or blank frame in a folder should
not block a calibration the other pairs can make); global search over
similarities at low resolution; refine the best few candidates to a full homography; accept the best
only if its score, overlap and margin over the runner-up pass :class:`CalibrationConfig`'s thresholds.
Never returns a mapping it does not trust: every refusal is an :class:`~fusion_core.errors.InputError`
that says which check failed, by how much, and what to try.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .coarse import search
from .config import CalibrationConfig
from .features import resize_to_width, structure_fraction, to_grey
from .geometry import Size, apply, corner_error
from .refine import refine, score_at

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rival:
    """Another first-level candidate than the winner: how far below the winner it scored (first-level score,
    normalised at each alignment, ≥ 0) and how far apart the two alignments are (largest distance at the
    thermal corners, visible px). ``counted``: far enough apart (> 2 % of the visible width) to be a different
    alignment, so it takes part in the margin; a nearer one is the winner's own basin."""

    score_gap: float
    apart_px: float
    counted: bool


@dataclass(frozen=True)
class Estimate:
    """An accepted calibration. ``score``: normalised orientation agreement at the finest level (0–1,
    higher is better, normalised at the result; see :class:`CalibrationConfig` for measured values);
    ``overlap``: the fraction of the thermal frame inside the visible one; ``margin``: first-level score
    (normalised at each alignment) of the best candidate minus that of the best one that converged to a
    clearly different alignment (more than
    2 % of the visible width apart at a thermal corner; the best's score when there is none);
    ``pairs``: how many pairs were used, ``used`` their indices in the given list; ``skipped``: why each other
    pair was left out (too little structure); ``rivals``: every other first-level candidate (:class:`Rival`),
    so how close a call the margin was can be read back (``scripts/calibration_benchmark.py --ambiguity``);
    ``seconds``: wall time."""

    homography: np.ndarray  # (3, 3) float64, thermal px -> visible px, h[2, 2] = 1
    thermal_size: Size
    visible_size: Size
    score: float
    overlap: float
    margin: float
    pairs: int
    seconds: float
    skipped: tuple[str, ...] = ()
    used: tuple[int, ...] = ()
    rivals: tuple[Rival, ...] = ()


def estimate_homography(pairs: list[tuple[np.ndarray, np.ndarray]], config: CalibrationConfig | None = None) -> Estimate:
    """Estimate the homography from (thermal, visible) image pairs of one rig (all thermal images of one
    size, all visible images of one size). Images: uint8/uint16 (H, W) or (H, W, C)."""
    config = config or CalibrationConfig()
    start = time.perf_counter()
    if not pairs:
        raise InputError("calibration needs at least one thermal/visible image pair")
    grey = [(to_grey(t, f"thermal image {i}"), to_grey(v, f"visible image {i}")) for i, (t, v) in enumerate(pairs)]
    t_shape, v_shape = grey[0][0].shape, grey[0][1].shape
    for i, (t, v) in enumerate(grey):
        if t.shape != t_shape or v.shape != v_shape:
            raise InputError(f"pair {i}: thermal {t.shape[::-1]} / visible {v.shape[::-1]} differ from pair 0's "
                             f"{t_shape[::-1]} / {v_shape[::-1]}; all pairs must come from one rig")
    used, skipped = _pairs_with_structure(grey, config)
    grey = [grey[i] for i in used]
    t_size: Size = (t_shape[1], t_shape[0])
    v_size: Size = (v_shape[1], v_shape[0])
    nominal = config.nominal_scale or v_size[0] / t_size[0]
    candidates = search(grey, config, nominal)
    if not candidates:
        raise InputError(f"no alignment in the search space overlaps the visible frame by {config.min_overlap:.0%} of the "
                         "thermal frame; widen scale_range/max_shift or give the lenses' fields of view")
    # the first level for every candidate, the rest for the winner only
    first = [refine(grey, c.homography, config, slice(0, 1))[0] for c in candidates[: config.candidates]]
    scores = [score_at(grey, h, config.refine_widths[0], config) for h in first]
    best = int(np.argmax(scores))
    apart = [corner_error(hj, first[best], t_size) for hj in first]
    counted = [j for j in range(len(first)) if j != best and apart[j] > 0.02 * v_size[0]]
    rival = max(counted, key=lambda j: scores[j], default=None)
    rivals = tuple(Rival(float(scores[best] - scores[j]), float(apart[j]), j in counted) for j in range(len(first)) if j != best)
    margin = scores[best] - (scores[rival] if rival is not None else 0.0)
    h = refine(grey, first[best], config, slice(1, None))[0] if len(config.refine_widths) > 1 else first[best]
    score = score_at(grey, h, config.refine_widths[-1], config)
    overlap = overlap_fraction(h, t_size, v_size)
    if score < config.min_score:
        raise InputError(f"the best alignment scores {score:.3f} < min_score {config.min_score}: the thermal and visible "
                         "images do not share enough structure (different scenes, no overlap, or too little texture); "
                         "try pairs with more edges in both cameras, several pairs, or --points")
    if overlap < config.min_overlap:
        raise InputError(f"the best alignment puts only {overlap:.0%} of the thermal frame inside the visible one "
                         f"(min_overlap {config.min_overlap:.0%}); the cameras barely overlap or the match is wrong")
    if margin < config.min_margin:
        what = ("the best alignment scores only" if rival is None else
                f"two clearly different alignments, {apart[rival]:.0f} px apart at the thermal corners "
                f"({apart[rival] / v_size[0]:.1%} of the visible width), score within")
        raise InputError(f"ambiguous: {what} {margin:.3f} (min_margin {config.min_margin}); use several pairs of one rig, "
                         "or --points")
    return Estimate(h / h[2, 2], t_size, v_size, score, overlap, margin, len(grey), time.perf_counter() - start, skipped, used,
                    rivals)


def overlap_fraction(h: np.ndarray, thermal_size: Size, visible_size: Size, samples: int = 32) -> float:
    """Fraction of a ``samples``² grid over the thermal frame that ``h`` maps inside the visible frame."""
    (tw, th), (vw, vh) = thermal_size, visible_size
    xs, ys = np.meshgrid(np.linspace(0, tw - 1, samples), np.linspace(0, th - 1, samples))
    p = apply(h, np.stack([xs.ravel(), ys.ravel()], axis=1))
    inside = (p[:, 0] >= 0) & (p[:, 0] <= vw - 1) & (p[:, 1] >= 0) & (p[:, 1] <= vh - 1)
    return float(inside.mean())


def _pairs_with_structure(grey: list[tuple[np.ndarray, np.ndarray]], config: CalibrationConfig) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The indices of the pairs whose two images both have ``min_structure`` and, for every other pair, why it
    was left out (logged). Raises InputError, with every reason, when no pair is left."""
    kept, skipped = [], []
    for i, pair in enumerate(grey):
        reason = None
        for name, image in zip(("thermal", "visible"), pair):
            small = image if image.shape[1] <= 2 * config.coarse_width else resize_to_width(image, 2 * config.coarse_width)[0]
            frac = structure_fraction(small, config.sigma)
            if frac < config.min_structure:
                reason = (f"pair {i}: the {name} image has too little structure to calibrate on ({frac:.1%} of its pixels "
                          f"on edges, min_structure {config.min_structure:.0%})")
                break
        if reason is None:
            kept.append(i)
        else:
            skipped.append(reason)
    if not kept:
        raise InputError("; ".join(skipped) + "; use a scene with edges" + (" in both cameras" if len(grey) > 1 else ""))
    for reason in skipped:
        log.warning("%s; left out, calibrating from the other %d pair(s)", reason, len(kept))
    return tuple(kept), tuple(skipped)
