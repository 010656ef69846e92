"""What one training step computes, per mode: the module DDP wraps and the losses it returns.

``target_aware``: the fusion loss (intensity, gradient, SSIM, ROI terms) on FusionNet's output, plus
optionally the frozen detector's loss and the anchors to a frozen reference FusionNet (``loss.anchor`` on its
pixels, ``loss.detection_anchor`` on the detector's view of the held classes).

``ssvif``: FusionNet plus the two segmentation branches (:class:`fusion_core.losses.SegHead` on the
fused features, :class:`fusion_core.losses.SegNet` on the fused image). Two objectives share a step:

* the *branches* always learn ``guard_weight·guard + branch_consistency·consistency`` on detached
  inputs: they spread over several classes (collapse guard) and learn to agree with each other;
* *FusionNet* learns ``fusion + w_c(t)·consistency`` where, in stage 2 only, the consistency is
  computed a second time from the live (non-detached) fused features and image, so its gradient
  reaches FusionNet; w_c comes from :class:`training.weighting.RatioWeighting`. Stage 1 (fusion
  warm-up) has w_c = 0.

The two branch passes give identical logits; only where the gradients go differs. Keeping the
branches' own consistency weight fixed matters: with the tiny w_c the ratio rule gives, branches
trained only by w_c·consistency would drift apart under the guard's sharpening (measured: KL in
the hundreds), and with the guard gradient reaching FusionNet the fused image would be pushed to
be "segmentable" rather than to agree.

The module returns unweighted terms; the trainer forms the total, because w_c depends on this step's
losses.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from fusion_core.colour import ycbcr_to_rgb
from fusion_core.errors import ConfigError
from fusion_core.losses import (FusionLossConfig, SegHead, SegNet, anchor_loss, classes_in_use, collapse_guard, consistency_loss,
                                detection_anchor_loss, free_cells, fusion_loss)
from fusion_core.losses.detection import DetectionLossConfig, detection_loss
from fusion_core.model import FusionNet, FusionNetConfig

from .config import SSVIFConfig


class StepOutput(NamedTuple):
    fusion_total: torch.Tensor  # weighted fusion loss (scalar)
    terms: dict[str, torch.Tensor]  # unweighted named terms, incl. 'consistency' and 'guard' in ssvif
    fused: torch.Tensor  # (B, 1, H, W)
    alpha: torch.Tensor  # (B, 1, H, W)
    seg: tuple[torch.Tensor, torch.Tensor] | None  # ssvif logits (head, net), (B, K, h, w)


class TrainModule(nn.Module):
    """FusionNet and, in ssvif mode, the two segmentation branches; ``forward`` computes the losses."""

    def __init__(self, model_config: FusionNetConfig, loss_config: FusionLossConfig, ssvif: SSVIFConfig | None) -> None:
        super().__init__()
        self.fusion = FusionNet(model_config)
        self.loss_config = loss_config
        self.reference: FusionNet | None = None  # loss.anchor's frozen model, set by set_reference; never saved
        self.ssvif = ssvif
        if loss_config.detection > 0:
            from fusion_core.detection.config import DetectorConfig
            from fusion_core.detection.torch_graph import TorchOnnxGraph

            self.detector = TorchOnnxGraph(DetectorConfig().resolved_model_path)  # frozen, never saved
        if ssvif is not None:
            self.seg_head = SegHead(self.fusion.features_channels, ssvif.classes, ssvif.head_hidden)
            self.seg_net = SegNet(ssvif.classes, ssvif.segnet_width, model_config.scale)

    def set_reference(self, reference: FusionNet) -> None:
        """Freeze ``reference`` (the run's ``run.init`` model) as the anchor's reference, on this module's device."""
        reference = reference.to(next(self.fusion.parameters()).device).eval()
        for p in reference.parameters():
            p.requires_grad_(False)
        self.reference = reference

    def detection_terms(self, fused: torch.Tensor, vi_cbcr: torch.Tensor, boxes: torch.Tensor,
                        roi_valid: torch.Tensor, vi: torch.Tensor | None = None,
                        reference: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The frozen detector's loss on the labelled samples' fused colour images (visible chroma), and with
        ``loss.detection_anchor`` the held classes' confidences against the detector on ``reference`` (the
        frozen run.init model's fusion of the same crops, :mod:`fusion_core.losses.detection_anchor`).

        Unlabelled samples are left out entirely: their objects are real but unannotated, so the
        "nothing here" term would teach the fusion to hide them. With ``loss.detection_max_visible`` < 1,
        so are the crops whose visible luminance ``vi`` is brighter on average.
        """
        keep = self.detection_crops(roi_valid, vi)
        held = self.loss_config.detection_anchor > 0
        if not bool(keep.any()):
            zero = fused.new_zeros(())
            return {"detection": zero, "detection_anchor": zero} if held else {"detection": zero}
        ch, cw = self.detector_canvas_size(*fused.shape[-2:])
        raw = self.detector_view(fused[keep], vi_cbcr[keep])
        scaled = self.canvas_boxes(boxes[keep], *fused.shape[-2:])
        terms = detection_loss(raw, scaled, ch, cw,
                               DetectionLossConfig(negatives=self.loss_config.detection_negatives,
                                                   class_balanced=self.loss_config.detection_class_balanced,
                                                   classes=self.loss_config.detection_classes))
        out = {"detection": terms["total"], "det_obj": terms["obj"].detach(), "det_cls": terms["cls"].detach(),
               "det_iou": terms["iou"].detach()}
        if held:
            if reference is None:
                raise ConfigError("loss.detection_anchor > 0 needs the reference model's fusion (TrainModule.set_reference)")
            with torch.no_grad():
                raw_reference = self.detector_view(reference[keep], vi_cbcr[keep])
            held_classes = self.loss_config.detection_anchor_classes
            free = free_cells(scaled, ch, cw, held_classes) if self.loss_config.detection_anchor_free_boxes else None
            out["detection_anchor"] = detection_anchor_loss(raw, raw_reference, held_classes, free)
        return out

    def detection_crops(self, roi_valid: torch.Tensor, vi: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) bool: the crops the detection terms use (labelled, and dark enough by ``loss.detection_max_visible``)."""
        keep = roi_valid > 0.5
        if vi is not None and self.loss_config.detection_max_visible < 1.0:
            keep = keep & (vi.mean(dim=(1, 2, 3)) <= self.loss_config.detection_max_visible)
        return keep

    def detector_canvas_size(self, height: int, width: int) -> tuple[int, int]:
        """The detector's canvas (h, w) for a crop: ``loss.detection_scale`` of it, in multiples of 32."""
        scale = self.loss_config.detection_scale
        ch, cw = (max(32, int(round(n * scale / 32)) * 32) for n in (height, width))
        return ch, cw

    def canvas_boxes(self, boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """(B, N, 5) crop boxes scaled onto the detector's canvas; padding rows are scaled too, and their class −1
        keeps them out of every loss."""
        ch, cw = self.detector_canvas_size(height, width)
        scaled = boxes.clone()
        scaled[..., 1:5] *= scaled.new_tensor([cw / width, ch / height, cw / width, ch / height])
        return scaled

    def detector_view(self, fused: torch.Tensor, vi_cbcr: torch.Tensor) -> torch.Tensor:
        """The frozen detector's head output (B, A, 5 + C) on fused Y with the visible chroma (BGR 0-255)."""
        ycc = torch.cat((fused, vi_cbcr), dim=1).permute(0, 2, 3, 1)
        bgr = ycbcr_to_rgb(ycc).permute(0, 3, 1, 2).flip(1) * 255.0  # the detector's BGR 0-255 input
        canvas = F.interpolate(bgr, size=self.detector_canvas_size(*fused.shape[-2:]), mode="bilinear", align_corners=False)
        return self.detector(canvas)

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, mask: torch.Tensor, roi_valid: torch.Tensor,
                stage: int = 1, vi_cbcr: torch.Tensor | None = None, boxes: torch.Tensor | None = None) -> StepOutput:
        out = self.fusion(ir, vi)
        with torch.autocast(device_type=ir.device.type, enabled=False):  # losses in float32 even under AMP
            fused = out.fused.float()
            total, terms = fusion_loss(fused, ir, vi, mask, self.loss_config, roi_valid)
            reference = None
            if self.loss_config.anchor > 0 or self.loss_config.detection_anchor > 0:
                if self.reference is None:
                    raise ConfigError("loss.anchor or loss.detection_anchor > 0 needs a reference model "
                                      "(TrainModule.set_reference; the trainer uses run.init)")
                with torch.no_grad():
                    reference = self.reference(ir, vi).fused.float()
            if self.loss_config.anchor > 0:
                terms["anchor"] = anchor_loss(fused, reference, mask, roi_valid)
                total = total + self.loss_config.anchor * terms["anchor"]
            if self.loss_config.detection > 0 and vi_cbcr is not None and boxes is not None:
                terms.update(self.detection_terms(fused, vi_cbcr.float(), boxes, roi_valid, vi, reference))
                total = total + self.loss_config.detection * terms["detection"]
                if "detection_anchor" in terms:
                    total = total + self.loss_config.detection_anchor * terms["detection_anchor"]
            if self.ssvif is None:
                return StepOutput(total, terms, fused, out.alpha, None)
            feats = self.fusion.features(ir, vi)[2].float()  # (B, 2C, h, w)
            logits_a, logits_b = self.seg_head(feats.detach()), self.seg_net(fused.detach())  # branches' objective
            conf = self.ssvif.confidence
            terms["guard"] = collapse_guard(logits_a, conf) + collapse_guard(logits_b, conf)
            terms["consistency"] = consistency_loss(logits_a, logits_b)
            if stage == 2:  # same values, gradient into FusionNet
                terms["consistency_fusion"] = consistency_loss(self.seg_head(feats), self.seg_net(fused))
            return StepOutput(total, terms, fused, out.alpha, (logits_a, logits_b))


def seg_monitors(seg: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
    """Classes in use per branch (collapse monitor, logged with the losses)."""
    a, b = seg
    return {"classes_head": float(classes_in_use(a.detach())), "classes_net": float(classes_in_use(b.detach()))}
