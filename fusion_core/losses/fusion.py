"""Fusion losses on luminance: intensity, gradient (texture), SSIM and the target-aware ROI term.

All images are (B, 1, H, W) float in [0, 1]: fused Y ``f``, thermal ``ir``, visible Y ``vi``.
ROI masks are (B, 1, H, W) float {0, 1} (1 inside a target box); ``roi_valid`` (B,) says which
samples carry box annotations at all (an unlabelled image has an all-zero mask that means "unknown",
not "no targets", so its *outside* term is skipped).

Target-aware rule (the ROI term, each part averaged over its own region, 0 for an empty region):

* inside the boxes: intensity towards the thermal image (``roi_intensity_target='ir'``, thermal
  saliency of people and cars) or towards ``max(IR, VI)`` (``'max'``), plus gradient magnitude
  towards the stronger source gradient ``max(|∇IR|, |∇VI|)``;
* inside the boxes, optionally (``roi_ssim``): the SSIM term restricted to the targets,
  1 − ½(SSIM(F, IR) + SSIM(F, VI)) averaged over the window centres that lie in a box. The global
  SSIM term is dominated by background; this one keeps the *structure* of both sources on the
  targets while ``roi_intensity`` pushes their brightness, so a person stays hot without losing the
  visible outline of the body (what ROI-SSIM measures);
* outside the boxes (labelled samples only): the *signed* Sobel gradient towards the visible one,
  ``L1(∇F, ∇VI)``. Signed, not magnitude, because background should look like the visible scene:
  an IR edge of opposite polarity, or an IR edge where the visible image is flat, is penalised,
  while the global gradient term still rewards strong texture wherever it comes from.

Optional correlation term (``scd``): 2 − [corr(F − VI, IR) + corr(F − IR, VI)] per sample, the SCD
metric (Aslantas & Bendes, 2015) turned into a loss. The pixel terms pull F towards one source per
pixel (max intensity, max gradient), which a per-pixel blend satisfies; SCD asks instead that what F
adds to each source be the *other* source, over the whole image, and is the structure metric the
blend-style candidates lose most clearly against SeAFusion on both dev sets (docs/evaluation.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..errors import ConfigError
from .gradients import gradient_magnitude, sobel
from .ssim import WINDOW, ssim_map

ROI_INTENSITY_TARGETS = ("ir", "max")


@dataclass(frozen=True)
class FusionLossConfig:
    """Weights of the fusion loss terms (0 switches a term off) and the ROI intensity target."""

    intensity: float = 1.0
    gradient: float = 10.0
    ssim: float = 1.0
    roi_intensity: float = 1.0
    roi_gradient: float = 10.0
    roi_outside: float = 5.0
    roi_ssim: float = 0.0
    roi_intensity_target: str = "ir"
    scd: float = 0.0  # correlation-of-differences term (module docstring); 0 = off, as every model before v3
    # Detection in the loop (training only, :mod:`fusion_core.losses.detection`): weight of the frozen
    # shipped detector's loss on the labelled samples, and the scale from crop pixels to its canvas
    # (0.625: a 640-wide camera frame reaches YOLOX-nano's 416 canvas at 0.65).
    detection: float = 0.0
    detection_scale: float = 0.625
    detection_negatives: float = 1.0  # weight of the detector's "nothing here" term (DetectionLossConfig.negatives)
    detection_class_balanced: bool = False  # every class in a batch weighs the same (DetectionLossConfig)
    detection_classes: tuple[int, ...] = ()  # supervised box classes, others ignored; () = all (DetectionLossConfig)
    # The detection term only on labelled crops whose visible luminance mean is at most this (0-1; 1 = every crop):
    # at night the detector gains from the fusion, by day the visible camera serves it (docs/evaluation.md).
    detection_max_visible: float = 1.0
    # Anchor (training only, :mod:`fusion_core.losses.anchor`): weight of L1 to the frozen run.init model's fusion
    # outside the ROI mask, so a fine-tune changes the targets it is aimed at and little else; 0 = off.
    anchor: float = 0.0
    # Detection anchor (training only, :mod:`fusion_core.losses.detection_anchor`): weight of L1 between the frozen
    # detector's confidences for the held classes on the fine-tuned and on the run.init model's fusion; 0 = off.
    detection_anchor: float = 0.0
    detection_anchor_classes: tuple[int, ...] = ()  # classes whose detector confidences are held; named when the term is on
    detection_anchor_free_boxes: bool = False  # leave free the cells inside boxes of the classes not held (free_cells)

    def __post_init__(self) -> None:
        if self.roi_intensity_target not in ROI_INTENSITY_TARGETS:
            raise ConfigError(f"loss.roi_intensity_target {self.roi_intensity_target!r} is not one of {', '.join(ROI_INTENSITY_TARGETS)}")
        if any(c < 0 for c in self.detection_classes):
            raise ConfigError(f"loss.detection_classes must be class indices >= 0, got {list(self.detection_classes)}")
        if any(c < 0 for c in self.detection_anchor_classes):
            raise ConfigError(f"loss.detection_anchor_classes must be class indices >= 0, got {list(self.detection_anchor_classes)}")
        if self.detection_anchor > 0 and self.detection <= 0:
            raise ConfigError("loss.detection_anchor > 0 needs loss.detection > 0: it holds the classes a detection "
                              "fine-tune is not aimed at, and without one there is nothing to hold them against")
        if self.detection_anchor > 0 and not self.detection_anchor_classes:
            raise ConfigError("loss.detection_anchor > 0 needs loss.detection_anchor_classes, the classes to hold (e.g. "
                              "[1, 2] for bicycles and cars): holding every class would hold back the people the "
                              "fine-tune is aimed at as well")
        if not 0.0 < self.detection_max_visible <= 1.0:
            raise ConfigError(f"loss.detection_max_visible must lie in (0, 1], got {self.detection_max_visible}")
        if not 0.0 < self.detection_scale <= 4.0:
            raise ConfigError(f"loss.detection_scale must lie in (0, 4], got {self.detection_scale}")
        for name, value in asdict(self).items():
            if isinstance(value, float) and value < 0:
                raise ConfigError(f"loss.{name} must be >= 0, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, C, H, W) ``x`` over the pixels where the (B, 1, H, W) mask is 1; 0 for an empty mask."""
    total = (x * mask).sum()
    count = mask.sum() * x.shape[1]
    return total / count.clamp_min(1.0)


def intensity_loss(f: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor) -> torch.Tensor:
    """L1(F, max(IR, VI)): keep the brighter, more salient intensity (drives contrast: SD, EN)."""
    return (f - torch.maximum(ir, vi)).abs().mean()


def gradient_loss(f: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor) -> torch.Tensor:
    """L1(|∇F|, max(|∇IR|, |∇VI|)): keep the stronger texture of either source (SF, AG, Qabf)."""
    target = torch.maximum(gradient_magnitude(ir), gradient_magnitude(vi))
    return (gradient_magnitude(f) - target).abs().mean()


def ssim_loss_map(f: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor) -> torch.Tensor:
    """1 − ½(SSIM map(F, IR) + SSIM map(F, VI)) at each valid window position, (B, 1, H−10, W−10)."""
    return 1.0 - 0.5 * (ssim_map(f, ir) + ssim_map(f, vi))


def ssim_loss(f: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor, loss_map: torch.Tensor | None = None) -> torch.Tensor:
    """1 − ½(SSIM(F, IR) + SSIM(F, VI)): structure of both sources (``loss_map`` reuses a computed map)."""
    return (ssim_loss_map(f, ir, vi) if loss_map is None else loss_map).mean()


def _correlation(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of each sample's pixels, (B, ...) x (B, ...) -> (B,); 0 for a constant image."""
    da = a.flatten(1) - a.flatten(1).mean(dim=1, keepdim=True)
    db = b.flatten(1) - b.flatten(1).mean(dim=1, keepdim=True)
    return (da * db).sum(dim=1) / torch.sqrt((da * da).sum(dim=1) * (db * db).sum(dim=1) + eps)


def scd_loss(f: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor) -> torch.Tensor:
    """2 − [corr(F − VI, IR) + corr(F − IR, VI)], batch mean: 0 when F adds exactly the other source to
    each (F = IR + VI up to gain and offset), about 0.75 for the plain average on MSRS (SCD 1.24)."""
    return (2.0 - _correlation(f - vi, ir) - _correlation(f - ir, vi)).mean()


def roi_ssim_loss(loss_map: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of an :func:`ssim_loss_map` over the window positions whose centre pixel is in ``mask``."""
    r = WINDOW // 2
    return masked_mean(loss_map, mask[..., r:mask.shape[-2] - r, r:mask.shape[-1] - r].to(loss_map.dtype))


def roi_losses(
    f: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor, mask: torch.Tensor,
    roi_valid: torch.Tensor | None = None, intensity_target: str = "ir",
) -> dict[str, torch.Tensor]:
    """The three target-aware parts: ``roi_intensity``, ``roi_gradient`` (inside) and ``roi_outside``."""
    if intensity_target not in ROI_INTENSITY_TARGETS:
        raise ConfigError(f"roi intensity target {intensity_target!r} is not one of {', '.join(ROI_INTENSITY_TARGETS)}")
    mask = mask.to(f.dtype)
    inside = mask
    valid = torch.ones(f.shape[0], device=f.device, dtype=f.dtype) if roi_valid is None else roi_valid.to(f.dtype)
    outside = (1.0 - mask) * valid.view(-1, 1, 1, 1)
    target_i = ir if intensity_target == "ir" else torch.maximum(ir, vi)
    target_g = torch.maximum(gradient_magnitude(ir), gradient_magnitude(vi))
    return {
        "roi_intensity": masked_mean((f - target_i).abs(), inside),
        "roi_gradient": masked_mean((gradient_magnitude(f) - target_g).abs(), inside),
        "roi_outside": masked_mean((sobel(f) - sobel(vi)).abs(), outside),
    }


def fusion_loss(
    fused: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor, mask: torch.Tensor | None = None,
    cfg: FusionLossConfig | None = None, roi_valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum of the fusion terms -> (total, {term name: unweighted value}).

    ``fused`` may also be a :class:`~fusion_core.model.FusionOutput` (its ``fused`` is used). With
    ``mask=None`` the ROI terms are left out (as for a data set without boxes). ``roi_ssim`` appears
    only when its weight is > 0 (it shares the SSIM maps with the global ``ssim`` term).
    """
    cfg = cfg or FusionLossConfig()
    f = getattr(fused, "fused", fused)
    terms: dict[str, torch.Tensor] = {}
    if cfg.intensity:
        terms["intensity"] = intensity_loss(f, ir, vi)
    if cfg.gradient:
        terms["gradient"] = gradient_loss(f, ir, vi)
    use_roi_ssim = mask is not None and cfg.roi_ssim > 0
    loss_map = ssim_loss_map(f, ir, vi) if (cfg.ssim or use_roi_ssim) else None
    if cfg.ssim:
        terms["ssim"] = ssim_loss(f, ir, vi, loss_map)
    if cfg.scd:
        terms["scd"] = scd_loss(f, ir, vi)
    if mask is not None and (cfg.roi_intensity or cfg.roi_gradient or cfg.roi_outside):
        terms.update(roi_losses(f, ir, vi, mask, roi_valid, cfg.roi_intensity_target))
    if use_roi_ssim:
        terms["roi_ssim"] = roi_ssim_loss(loss_map, mask)
    weights = asdict(cfg)  # the detection term is added by the trainer, which holds the detector
    total = sum((weights[name] * value for name, value in terms.items()), f.new_zeros(()))
    return total, terms
