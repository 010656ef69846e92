"""Detection in the loop: a loss that asks the frozen shipped detector to find the labelled targets.

The fusion network is trained so that YOLOX-nano (run by :class:`fusion_core.detection.torch_graph.
TorchOnnxGraph`, weights fixed) finds the boxes annotated on the training pairs in the fused image,
and finds nothing confident where there is no box. Only the fused pixels change; the detector never
learns, so what is rewarded is an image in which the *product's* detector sees the targets.

Assignment (YOLOX's centre prior, without its learned cost): the candidate cells of a box are the
cells whose centre lies inside the box and within ``centre_radius`` strides of its centre; of those,
the ``top_k`` whose predicted box overlaps the target most are its positives (at least the one cell
nearest the centre, so a small box always has one). Terms, each averaged over the positives:

* ``obj``: binary cross-entropy of objectness, 1 on positives and, weighted by ``negatives``, 0 on
  every cell that is neither a candidate of any box nor overlapping one by IoU ≥ ``ignore_iou``
  (YOLOX's normalisation: the negatives' sum is divided by the number of positives, so an empty image
  still teaches "no target"; labels that miss an object teach the fusion to hide it, hence the weight);
  with ``class_balanced`` the positives of each class present weigh as much in total as any other
  class's (MSRS has 3.6 times as many people as cars: unbalanced, the loss is mostly about people);
  with ``classes`` set, only boxes of those classes are positives; the others are *ignored* (their cells
  are not negatives either), so the loss asks nothing about how those objects look;
* ``cls``: cross-entropy of the target class probability towards 1 on positives;
* ``iou``: 1 − IoU of the positives' decoded boxes with their target.

The head output is ``(x, y, log w, log h, objectness, p_0 … p_{C-1})`` per cell, objectness and class
probabilities already through the sigmoid (the ONNX export's convention, :mod:`fusion_core.detection.decode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from ..detection.decode import grid_and_strides

EPS = 1e-6


@dataclass(frozen=True)
class DetectionLossConfig:
    centre_radius: float = 2.5
    top_k: int = 5
    ignore_iou: float = 0.5
    negatives: float = 1.0  # weight of the "nothing here" objectness term (0: only the targets are asked for)
    class_balanced: bool = False  # every class present in the batch weighs the same, however many boxes it has
    classes: tuple[int, ...] = ()  # supervised classes; () = every class. Boxes of other classes are ignored
    weight_obj: float = 1.0
    weight_cls: float = 1.0
    weight_iou: float = 5.0


@lru_cache(maxsize=16)
def _cells(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The inference decoder's grid as float32 tensors: cell indices (A, 2) as (x, y) and strides (A, 1)."""
    cells, strides = grid_and_strides((height, width))
    return torch.tensor(cells, dtype=torch.float32), torch.tensor(strides, dtype=torch.float32)


def cell_centres(height: int, width: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres (A, 2) in canvas pixels and strides (A,), in the head's cell order."""
    cells, strides = _cells(height, width)
    return ((cells + 0.5) * strides).to(device), strides[:, 0].to(device)


def decode_boxes(raw: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, A, 5 + C) head output -> (B, A, 4) xyxy boxes in canvas pixels (differentiable); the formula of
    :func:`fusion_core.detection.decode.decode_yolox`, in torch."""
    cells, strides = (t.to(raw.device) for t in _cells(height, width))
    cxy = (raw[..., 0:2] + cells) * strides
    wh = torch.exp(raw[..., 2:4].clamp(max=10.0)) * strides
    return torch.cat((cxy - wh / 2, cxy + wh / 2), dim=-1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of (..., 4) xyxy boxes, broadcast."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter + EPS)


def _bce_towards_one(p: torch.Tensor) -> torch.Tensor:
    return -torch.log(p.clamp(EPS, 1.0))


def _bce_towards_zero(p: torch.Tensor) -> torch.Tensor:
    return -torch.log((1.0 - p).clamp(EPS, 1.0))


def detection_loss(raw: torch.Tensor, boxes: torch.Tensor, height: int, width: int,
                   cfg: DetectionLossConfig | None = None) -> dict[str, torch.Tensor]:
    """Terms ``obj``, ``cls``, ``iou`` (unweighted) and ``total`` (weighted) for a batch.

    ``raw``: (B, A, 5 + C) head output on a ``height`` × ``width`` canvas. ``boxes``: (B, N, 5) rows
    ``(class, x1, y1, x2, y2)`` in canvas pixels, padded with class −1. Images without any box only
    contribute the negatives' objectness term.
    """
    cfg = cfg or DetectionLossConfig()
    centres, strides = cell_centres(height, width, raw.device)
    pred = decode_boxes(raw, height, width)  # (B, A, 4)
    obj = raw[..., 4]
    loss_obj_neg = raw.new_zeros(())
    per_class: dict[int, list] = {}  # class -> [objectness sum, class sum, IoU sum, positives]
    num_pos = 0
    for b in range(raw.shape[0]):
        gt = boxes[b][boxes[b, :, 0] >= 0]  # (n, 5)
        negative = torch.ones_like(obj[b], dtype=torch.bool)
        if gt.numel():
            xyxy = gt[:, 1:5]
            centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2  # (n, 2)
            inside = ((centres[None] > xyxy[:, None, :2]) & (centres[None] < xyxy[:, None, 2:])).all(-1)  # (n, A)
            near = ((centres[None] - centre[:, None]).abs() < cfg.centre_radius * strides[None, :, None]).all(-1)
            candidate = inside & near
            with torch.no_grad():
                ious = box_iou(pred[b][None].detach(), xyxy[:, None])  # (n, A)
                nearest = ((centres[None] - centre[:, None]) / strides[None, :, None]).norm(dim=-1).argmin(dim=1)
            negative &= ~candidate.any(0) & ~(ious >= cfg.ignore_iou).any(0)
            for j in range(gt.shape[0]):
                if cfg.classes and int(gt[j, 0]) not in cfg.classes:
                    continue  # ignored: kept out of the negatives above, asked nothing here
                cand = torch.nonzero(candidate[j]).flatten()
                if cand.numel() == 0:
                    cand = nearest[j:j + 1]
                k = min(cfg.top_k, cand.numel())
                pos = cand[ious[j, cand].topk(k).indices]
                cls = int(gt[j, 0])
                acc = per_class.setdefault(cls, [0.0, 0.0, 0.0, 0])
                acc[0] = acc[0] + _bce_towards_one(obj[b, pos]).sum()
                acc[1] = acc[1] + _bce_towards_one(raw[b, pos, 5 + cls]).sum()
                acc[2] = acc[2] + (1.0 - box_iou(pred[b, pos], xyxy[j][None])).sum()
                acc[3] += k
                num_pos += k
        loss_obj_neg = loss_obj_neg + _bce_towards_zero(obj[b][negative]).sum()
    n = max(num_pos, 1)
    loss_obj_pos, loss_cls, loss_iou = raw.new_zeros(()), raw.new_zeros(()), raw.new_zeros(())
    for obj_sum, cls_sum, iou_sum, count in per_class.values():
        # balanced: each class's sums rescaled to num_pos / classes present, so the total keeps its size
        w = num_pos / (len(per_class) * count) if cfg.class_balanced else 1.0
        loss_obj_pos, loss_cls, loss_iou = loss_obj_pos + w * obj_sum, loss_cls + w * cls_sum, loss_iou + w * iou_sum
    terms = {"obj": (loss_obj_pos + cfg.negatives * loss_obj_neg) / n, "cls": loss_cls / n, "iou": loss_iou / n}
    terms["total"] = cfg.weight_obj * terms["obj"] + cfg.weight_cls * terms["cls"] + cfg.weight_iou * terms["iou"]
    return terms
