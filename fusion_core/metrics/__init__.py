"""The standard infrared–visible fusion metric suite, as the IVIF papers compute it.

Input contract for every metric: float luminance on the 0–255 scale, (H, W) arrays of one shape
(``fusion_core.io.to_luminance`` makes them from uint8 files). Never min–max normalise anything
before scoring: it inflates EN/SD/SF/AG and makes video scores flicker. Conventions follow the
MATLAB evaluation code of the IVIF benchmarks (VIF-Benchmark, the PIAFusion/SeAFusion scripts):

======== ================================================================ ============ =======
metric   definition                                                        sources      better
======== ================================================================ ============ =======
EN       Shannon entropy (bits) of F's 256-bin grey-level histogram        F only       higher
SD       standard deviation of F                                           F only       higher
SF       sqrt(RF² + CF²), first differences                                F only       higher
AG       MATLAB avg_gradient: Σ sqrt((gx²+gy²)/2) / ((H−1)(W−1))           F only       higher
MI       MI(F, IR) + MI(F, VI), log2, 256×256 joint histogram              SUM of both  higher
SCD      corr(F − VI, IR) + corr(F − IR, VI)                               both         higher
VIF      multiscale pixel VIF (4 scales, σ_n² = 2): VIF(IR,F) + VIF(VI,F)  SUM of both  higher
Qabf     Xydeas–Petrović, Sobel edges, standard constants                  both, joint  higher
SSIM     (SSIM(F,IR) + SSIM(F,VI)) / 2, Gaussian 11×11 σ 1.5, L = 255      MEAN of both higher
MSE      (MSE(F,IR) + MSE(F,VI)) / 2                                       MEAN of both LOWER
PSNR     10·log10(255² / MSE) with that MSE                                via MSE      higher
ROI-SSIM SSIM maps averaged inside the ROI mask, then over the sources     MEAN of both higher
======== ================================================================ ============ =======

Temporal stability of a fused sequence (:mod:`~fusion_core.metrics.flicker`): ``fused_flicker``
(output change the inputs do not explain, grey levels per frame), ``alpha_flicker``, ``alpha_lag``.
"""

from .aggregate import MetricSummary, summarize
from .entropy import en, mi, mutual_information
from .error import mse, psnr, psnr_from_mse
from .flicker import alpha_flicker, alpha_lag, fused_flicker, paste_hot_blob, synthetic_sequence, temporal_change
from .qabf import qabf
from .scd import corr2, scd
from .spatial import ag, sd, sf
from .ssim import roi_ssim, ssim, ssim_map, ssim_maps
from .suite import HIGHER_IS_BETTER, METRICS, compute_all
from .vif import vif, vifp

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "MetricSummary",
    "ag",
    "alpha_flicker",
    "alpha_lag",
    "compute_all",
    "corr2",
    "en",
    "fused_flicker",
    "mi",
    "mse",
    "mutual_information",
    "paste_hot_blob",
    "psnr",
    "psnr_from_mse",
    "qabf",
    "roi_ssim",
    "scd",
    "sd",
    "sf",
    "ssim",
    "ssim_map",
    "ssim_maps",
    "summarize",
    "synthetic_sequence",
    "temporal_change",
    "vif",
    "vifp",
]
