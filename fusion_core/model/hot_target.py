"""Hot targets as the thermal camera shows them: a label-free stage after the blend.

Why. On the held-out selection pairs, replacing the fused luminance by the thermal image inside the
*labelled* people boxes lifts the shipped detector's person AP from 0.372 to 0.431 (docs/evaluation.md,
"Which targets should look like IR"), but a 15 k-parameter network trained to do that darkens whole scenes
(it cannot tell a person from the rest of a crop). A thermal camera marks warm bodies by itself: a person,
an engine or a tyre is brighter than its surroundings. This stage finds those places without labels and
without weights, and moves the fused luminance there towards the thermal image:

    bg = the thermal image blurred far beyond a target's size (a Gaussian pyramid taken 3 levels below the
         network's 1/scale input, 1/4 by default, expanded back: σ 22.6 px at any frame size, measured on an
         impulse)
    m  = clamp((IR − bg − threshold) / ramp, 0, 1), smoothed by a 5×5 binomial
    F' = F + weight · m · (IR − F)

so a pixel ``threshold`` brighter than its neighbourhood (in the [0, 1] thermal scale) starts to take the
thermal value, one ``ramp`` brighter takes it fully, and everything else is untouched. It acts in both
directions (a warm body in a bright visible scene turns to its thermal value, texture included), because the
oracle above gained only when the boxes took the thermal luminance fully (half way bought +0.005).

Fixed numbers in :class:`~fusion_core.model.FusionNetConfig` (``hot_target`` = weight, 0 = off, every model
before it; ``hot_target_threshold``, ``hot_target_ramp``), so a checkpoint that sets them carries the stage
into its ONNX graph. The background's size is fixed in pixels, not in frame fractions, so the same warm
person is found alike in every frame size the exported graph is run at. What it buys and costs (detection
up, SCD down): docs/evaluation.md, "Hot targets without labels".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .guided import upsample_to
from .pyramid import gaussian_kernel, gaussian_levels

BACKGROUND_LEVELS = 3  # pyramid levels below the network's 1/scale input: a 1/32 grid at the default scale 4


def thermal_background(ir_low: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The thermal image blurred far beyond a target's size, at ``like``'s resolution, from its 1/scale version."""
    return upsample_to(gaussian_levels(ir_low, BACKGROUND_LEVELS)[-1], like)


def hot_mask(ir: torch.Tensor, ir_low: torch.Tensor, threshold: float, ramp: float) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: 0 where the thermal image is at most ``threshold`` above its background, 1 where
    it is ``threshold + ramp`` or more above, linear between, then smoothed by a 5×5 binomial (σ 1 px)."""
    m = ((ir - thermal_background(ir_low, ir) - threshold) / ramp).clamp(0.0, 1.0)
    return F.conv2d(F.pad(m, (2, 2, 2, 2), mode="replicate"), gaussian_kernel(1, m))


def apply_hot_target(fused: torch.Tensor, alpha: torch.Tensor, ir: torch.Tensor, ir_low: torch.Tensor, weight: float,
                     threshold: float, ramp: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(fused, α) with hot places moved ``weight · mask`` of the way to the thermal image; unchanged when off.

    α is moved alike (``α + weight·m·(1 − α)``), so the published α still says how much of each pixel is
    thermal: for the blend part of the fusion, ``VI + α·(IR − VI)``, moving it ``w`` of the way to IR is exactly
    the blend at that α (only the detail residual is scaled by ``1 − w``), which keeps the engine's temporal α
    smoothing, which corrects the fused image by ``(α_smoothed − α)·(IR − VI)``, consistent."""
    if not weight:
        return fused, alpha
    w = weight * hot_mask(ir, ir_low, threshold, ramp)
    return (fused + w * (ir - fused)).clamp(0.0, 1.0), alpha + w * (1.0 - alpha)
