"""Options shared by several subcommands (engine selection, thermal normalisation, registration)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..engine import BACKEND_CHOICES, DEVICE_CHOICES, PRECISIONS, EngineConfig
from ..errors import ConfigError
from ..registration import RegistrationConfig
from ..thermal import POLICIES, ThermalNormConfig


IMAGE_WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def check_output_file(path: Path | None, option: str, image: bool = False) -> None:
    """Before the slow work: ConfigError when ``path`` (an output file of ``option``) is a folder, its folder
    cannot be made, or (``image``) its suffix is not one OpenCV writes. None = the option was not given."""
    if path is None:
        return
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file path")
    if image and path.suffix.lower() not in IMAGE_WRITE_SUFFIXES:
        raise ConfigError(f"{option} {path}: the file name must end in one of {', '.join(IMAGE_WRITE_SUFFIXES)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot make its folder ({exc.strerror or exc})") from exc


def check_seed(seed: int, option: str = "--seed") -> None:
    if seed < 0:
        raise ConfigError(f"{option} must be >= 0, got {seed}")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("engine")
    g.add_argument("--model", default=None, help="checkpoint (.pt) or ONNX file; default: the shipped model")
    g.add_argument("--backend", default="auto", choices=BACKEND_CHOICES,
                   help="inference backend (default: auto = tensorrt or torch on a CUDA GPU, else onnxruntime on the CPU)")
    g.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="device (default: auto = cuda when available)")
    g.add_argument("--precision", default="fp32", choices=PRECISIONS, help="fp16 needs --device cuda (default: fp32)")
    g.add_argument("--thermal-policy", default="fixed", choices=POLICIES, help="thermal normalisation (default: fixed)")
    g.add_argument("--thermal-range", nargs=2, type=float, metavar=("LOW", "HIGH"), default=None,
                   help="fixed-policy range in raw thermal units (default: the dtype's full range)")
    g.add_argument("--calibration", type=Path, default=None, metavar="FILE",
                   help="thermal->visible homography file written by 'ivif calibrate' (default: pairs are pre-registered, "
                        "or the thermal frame is resized to the visible size); frames of other sizes than it was "
                        "calibrated for are refused")
    g.add_argument("--alpha-smoothing", type=float, default=0.0, metavar="W",
                   help="ordered sequences: weight of the previous frame's alpha in the motion-aware temporal smoothing, "
                        "[0, 1) (default 0 = off; docs/temporal.md)")
    g.add_argument("--alpha-motion-threshold", type=float, default=0.02, metavar="T",
                   help="alpha smoothing: local input change treated as motion, (0, 1] (default 0.02)")


def engine_config_from_args(args: argparse.Namespace) -> EngineConfig:
    low, high = args.thermal_range if args.thermal_range else (None, None)
    if args.thermal_range and args.thermal_policy != "fixed":
        raise ConfigError(f"--thermal-range applies to --thermal-policy fixed only; the {args.thermal_policy} policy "
                          "finds its range in each frame")
    return EngineConfig(
        backend=args.backend,
        model_path=args.model,
        device=args.device,
        precision=args.precision,
        thermal=ThermalNormConfig(policy=args.thermal_policy, low=low, high=high),
        registration=registration_from_args(args),
        alpha_smoothing=getattr(args, "alpha_smoothing", 0.0),
        alpha_motion_threshold=getattr(args, "alpha_motion_threshold", 0.02),
    )


def registration_from_args(args: argparse.Namespace) -> RegistrationConfig:
    """The homography of ``--calibration`` (a ROS params file from ``ivif calibrate``) with the frame sizes it
    was calibrated for, else the default."""
    path = getattr(args, "calibration", None)
    if path is None:
        return RegistrationConfig()
    from ..calibration import load_calibration

    return load_calibration(path).registration()
