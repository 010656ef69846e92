"""Target-free thermal -> visible calibration (``ivif calibrate``): estimate the 3×3 homography that
:mod:`fusion_core.registration` applies, from image pairs of the rig, and store it as a ROS 2
parameters file. See docs/calibration.md for the method and its measured accuracy."""

from .config import CalibrationConfig, nominal_scale_from_fov
from .estimate import Estimate, estimate_homography, overlap_fraction
from .file import Calibration, load_calibration, save_calibration
from .geometry import corner_error, naive_resize
from .manual import homography_from_points, read_points

__all__ = [
    "Calibration",
    "CalibrationConfig",
    "Estimate",
    "corner_error",
    "estimate_homography",
    "homography_from_points",
    "load_calibration",
    "naive_resize",
    "nominal_scale_from_fov",
    "overlap_fraction",
    "read_points",
    "save_calibration",
]
