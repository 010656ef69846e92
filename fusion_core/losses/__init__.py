"""Training losses, kept in the core so training, export checks and evaluation share one definition.

Inputs: fused Y, IR, visible Y as (B, 1, H, W) float in [0, 1]; ROI masks (B, 1, H, W) float {0, 1}.
"""

from .anchor import anchor_loss, anchor_region
from .detection_anchor import detection_anchor_loss, free_cells, held_scores
from .fusion import (
    ROI_INTENSITY_TARGETS,
    FusionLossConfig,
    fusion_loss,
    gradient_loss,
    intensity_loss,
    masked_mean,
    roi_losses,
    roi_ssim_loss,
    scd_loss,
    ssim_loss,
    ssim_loss_map,
)
from .gradients import gradient_magnitude, sobel
from .segmentation import DEFAULT_CLASSES, SegHead, SegNet
from .ssim import gaussian_window, ssim, ssim_map
from .ssvif import classes_in_use, collapse_guard, consistency_loss

__all__ = [
    "DEFAULT_CLASSES",
    "ROI_INTENSITY_TARGETS",
    "FusionLossConfig",
    "SegHead",
    "SegNet",
    "anchor_loss",
    "anchor_region",
    "classes_in_use",
    "collapse_guard",
    "consistency_loss",
    "detection_anchor_loss",
    "free_cells",
    "fusion_loss",
    "gaussian_window",
    "gradient_loss",
    "gradient_magnitude",
    "held_scores",
    "intensity_loss",
    "masked_mean",
    "roi_losses",
    "roi_ssim_loss",
    "scd_loss",
    "sobel",
    "ssim",
    "ssim_loss",
    "ssim_loss_map",
    "ssim_map",
]
