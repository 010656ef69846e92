"""Detection anchor: keep what the frozen detector sees of the classes a fine-tune is not aimed at.

Every detection fine-tune so far gained people and lost bicycles and cars on the dev split (docs/evaluation.md,
"Anchored detection": v3anchorroidet person AP 0.454 → 0.521, bicycle 0.285 → 0.248, car 0.626 → 0.620). The pixel
anchor (:mod:`.anchor`) holds the pixels outside the people's boxes, but the detector's view of a bicycle depends on
all its receptive field spans: the rider above it, whose pixels are free, and the small changes the pixel anchor
still allows everywhere else. This term holds the detector's *output* instead: for the held classes, the per-cell confidence the detector ranks by,
``s = objectness × class probability``, on the fine-tuned fusion against the same detector on the frozen
reference's fusion (the run.init model, the pixel anchor's reference):

    detection_anchor = mean over images of  Σ over cells and held classes  |s − s_reference|

A sum over cells, so an image with one bicycle weighs as much as its bicycle's cells (a mean over the ~10³ mostly
empty cells would drown it); L1, so a confident object that fades costs what it lost. The weight comes from
training batches (``scripts/anchor_weight_probe.py``).

The people's own cells carry small bicycle and car probabilities, so a term held everywhere also holds them in
part. :func:`free_cells` leaves out the cells whose centre lies in a box of a class that is not held (a person) and
in no box of a held class (the rider's bicycle stays held). Measured (docs/evaluation.md, "Holding the detector's
answer"): those cells carry about a tenth of the held drift, and freeing them did not give the people's gain back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .detection import cell_centres


def held_scores(raw: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
    """(B, A, K) confidences ``objectness × p_class`` of the held ``classes`` (all classes when empty) from a
    YOLOX head output ``raw`` (B, A, 5 + C), sigmoids already applied (the ONNX export's convention)."""
    num_classes = raw.shape[-1] - 5
    if any(c < 0 or c >= num_classes for c in classes):
        raise ValueError(f"held classes {list(classes)} outside the detector's {num_classes} classes")
    probs = raw[..., 5:] if not classes else raw[..., [5 + c for c in classes]]
    return raw[..., 4:5] * probs


def free_cells(boxes: torch.Tensor, height: int, width: int, classes: Sequence[int]) -> torch.Tensor:
    """(B, A) bool: the detector cells of a ``height`` × ``width`` canvas whose centre lies inside a box of a class
    not in ``classes`` and inside no box of a held class. ``boxes``: (B, N, 5) rows ``(class, x1, y1, x2, y2)`` in
    canvas pixels, padded with class −1. Nothing is free when every class is held (``classes`` empty)."""
    centres, _ = cell_centres(height, width, boxes.device)  # (A, 2) in canvas pixels, the detection loss's own grid
    cls, xyxy = boxes[..., 0], boxes[..., 1:5]
    inside = ((centres[None, None] > xyxy[:, :, None, :2]) & (centres[None, None] < xyxy[:, :, None, 2:])).all(-1)
    is_held = torch.zeros_like(cls, dtype=torch.bool)
    for c in classes:
        is_held |= cls == c
    other = (cls >= 0) & ~is_held & bool(len(classes))
    return (inside & other[..., None]).any(1) & ~(inside & is_held[..., None]).any(1)


def detection_anchor_loss(raw: torch.Tensor, raw_reference: torch.Tensor, classes: Sequence[int] = (),
                          free: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over images of Σ |s − s_reference| over cells and held classes (:func:`held_scores`), leaving out the
    cells marked in ``free`` ((B, A) bool, :func:`free_cells`) when given.

    ``raw``: the detector on the fine-tuned fusion, (B, A, 5 + C); ``raw_reference``: the same detector on the
    reference's fusion of the same images (no gradient is taken through it).
    """
    if raw.shape != raw_reference.shape:
        raise ValueError(f"detection_anchor_loss: head outputs {tuple(raw.shape)} and {tuple(raw_reference.shape)} differ")
    diff = (held_scores(raw, classes) - held_scores(raw_reference.detach(), classes)).abs()
    if free is not None:
        if free.shape != raw.shape[:2]:
            raise ValueError(f"detection_anchor_loss: free cells {tuple(free.shape)} do not match {tuple(raw.shape[:2])}")
        diff = diff * (~free)[..., None].to(diff.dtype)
    return diff.sum(dim=(1, 2)).mean()
