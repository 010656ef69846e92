"""Small shared pieces of the export package: its error type, file hashing, the user cache folder, HxW parsing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import ConfigError, IvifError

CACHE_ENV = "IVIF_CACHE_DIR"


class ExportError(IvifError):
    """Exporting or building failed (the exporter, the checker, the parity check or TensorRT refused)."""


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (checkpoints and ONNX files are small; read in 1 MiB blocks anyway)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir(sub: str = "") -> Path:
    """The per-user cache folder for generated artefacts (ONNX exports, TensorRT plans), created on demand.

    ``$IVIF_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/ivif_fusion``, else ``~/.cache/ivif_fusion``.
    Generated files never go into the package folder: it may be read-only, and in a checkout they
    would show up as untracked files.
    """
    root = os.environ.get(CACHE_ENV)
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "ivif_fusion"
    path = base / sub if sub else base
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cache folder {path} cannot be created ({exc}); set {CACHE_ENV} to a writable folder") from exc
    if not os.access(path, os.W_OK):
        raise ConfigError(f"cache folder {path} is not writable; set {CACHE_ENV} to a writable folder")
    return path


def parse_hw(text: str, setting: str = "shape") -> tuple[int, int]:
    """'480x640' -> (480, 640). ``setting`` names the option in the error message."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"{setting} {text!r} is not of the form HxW with positive integers, e.g. 480x640") from None
    if h < 1 or w < 1:
        raise ConfigError(f"{setting} {text!r} must have positive height and width")
    return h, w
