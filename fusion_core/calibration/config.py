"""Settings of the automatic calibration (:func:`fusion_core.calibration.estimate_homography`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError


FINAL_MODELS = ("affine", "homography")  # degrees of freedom of the last refinement level: 6 or 8


@dataclass(frozen=True)
class CalibrationConfig:
    """Search space, resolutions and acceptance thresholds.

    Search space (the coarse stage tries every similarity in it): the thermal frame's scale relative
    to ``nominal_scale`` in ``scale_range``, rotation within ±``max_rotation_deg``, the thermal centre
    within ±``max_shift`` × visible width of the visible centre (x and y). ``nominal_scale`` is visible
    pixels per thermal pixel; ``None`` = width-matched (visible width / thermal width);
    :func:`nominal_scale_from_fov` derives it from the two lenses' horizontal fields of view.

    ``coarse_width``/``refine_widths``: the visible image's width (pixels) at the coarse search and at
    each refinement level. ``sigma``: Gaussian blur (pixels of each level) before the orientation field.
    ``final_model``: what the last level fits (earlier levels fit an affine map): "homography" (8 entries)
    or "affine" (6; cannot represent a rig's perspective). ``perspective_prior``: weight (in units of the
    0–1 score) of a Gaussian prior pulling the two perspective terms toward 0 (affine), per 1 % of
    perspective (relative scale change from the thermal centre to its edge); real rigs are near-affine,
    and free perspective terms fitted on cross-modal edges swing the extrapolated corners. 0 = no prior.

    Acceptance (else :class:`~fusion_core.errors.InputError`, nothing written): each image has at least
    ``min_structure`` of its pixels on edges; the final score (normalised orientation agreement, 0–1)
    is at least ``min_score``; the thermal frame overlaps the visible one by at least ``min_overlap``
    of its area; the best candidate beats the best clearly different one by ``min_margin`` (ambiguity).
    Scores and margins are normalised at the alignment they score (comparable between candidates).
    The thresholds come from the benchmark (docs/calibration.md): correct alignments scored 0.22–0.48
    with margins >= 0.08, unrelated scenes <= 0.08 with margins <= 0.03, and a wrong alignment of a
    dark night pair 0.18 with margin 0.05. ``min_structure`` (a fraction of pixels with a blurred gradient
    above 1 % of full scale, at 256 px wide) is 0.06: the one wrong alignment the earlier 0.02 let through
    (MSRS 01230N, a low-contrast night thermal image) had 0.049, the lowest correct one 0.080.
    """

    nominal_scale: float | None = None
    scale_range: tuple[float, float] = (0.6, 1.5)
    max_rotation_deg: float = 6.0
    max_shift: float = 0.2
    coarse_width: int = 128
    refine_widths: tuple[int, ...] = (256, 512)
    sigma: float = 1.0
    final_model: str = "homography"
    perspective_prior: float = 0.002
    candidates: int = 3
    min_structure: float = 0.06
    min_score: float = 0.2
    min_overlap: float = 0.3
    min_margin: float = 0.08

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo < hi:
            raise ConfigError(f"scale_range must be 0 < low < high, got {self.scale_range}")
        if self.nominal_scale is not None and self.nominal_scale <= 0:
            raise ConfigError(f"nominal_scale must be > 0 (visible pixels per thermal pixel), got {self.nominal_scale}")
        if not 0 <= self.max_rotation_deg <= 45:
            raise ConfigError(f"max_rotation_deg must be in [0, 45], got {self.max_rotation_deg}")
        if not 0 <= self.max_shift <= 1:
            raise ConfigError(f"max_shift must be in [0, 1] (fraction of the visible width), got {self.max_shift}")
        if self.coarse_width < 32 or any(w < self.coarse_width for w in self.refine_widths):
            raise ConfigError(f"coarse_width must be >= 32 and refine_widths >= coarse_width, got {self.coarse_width}, {self.refine_widths}")
        if self.candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {self.candidates}")
        if self.final_model not in FINAL_MODELS:
            raise ConfigError(f"final_model must be one of {', '.join(FINAL_MODELS)}, got {self.final_model!r}")
        if not self.perspective_prior >= 0:
            raise ConfigError(f"perspective_prior must be >= 0, got {self.perspective_prior}")
        if not 0 < self.min_overlap <= 1:
            raise ConfigError(f"min_overlap must be in (0, 1], got {self.min_overlap}")


def nominal_scale_from_fov(thermal_width: int, visible_width: int, thermal_hfov_deg: float, visible_hfov_deg: float) -> float:
    """Visible pixels per thermal pixel of two pinhole cameras side by side: the ratio of their focal lengths."""
    for name, fov in (("thermal", thermal_hfov_deg), ("visible", visible_hfov_deg)):
        if not 1.0 <= fov < 179.0:
            raise ConfigError(f"{name} horizontal field of view must be in [1, 179) degrees, got {fov}")
    f_t = thermal_width / 2 / math.tan(math.radians(thermal_hfov_deg) / 2)
    f_v = visible_width / 2 / math.tan(math.radians(visible_hfov_deg) / 2)
    return f_v / f_t
