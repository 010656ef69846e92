"""Checkpoints that say what they are: weights together with the FusionNetConfig that built them.

A checkpoint is a ``torch.save`` dict::

    {"format": "ivif-fusion-checkpoint", "version": 1,
     "model_config": {...FusionNetConfig...}, "model": state_dict,
     "meta": {...free-form: training record, data, seed...},
     ...optional training state (optimizer, step, train_config) added by training/}

The shipped default model lives in ``fusion_core/weights/default.pt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError
from .model import FusionNet, FusionNetConfig

FORMAT = "ivif-fusion-checkpoint"
VERSION = 1
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "weights" / "default.pt"


def save_checkpoint(path: str | Path, model: FusionNet, meta: dict[str, Any] | None = None, **training_state: Any) -> Path:
    """Write ``model`` with its config (and any extra training state) to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    payload.update(training_state)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # atomic: a crash mid-write never leaves a truncated checkpoint behind
    return path


def load_checkpoint(path: str | Path | None = None) -> dict[str, Any]:
    """Read a checkpoint dict (the shipped default when ``path`` is None) and check its format."""
    path = Path(path) if path is not None else DEFAULT_MODEL_PATH
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for corrupt files
        raise ConfigError(f"model file {path} could not be read as a checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ConfigError(f"{path} is not an ivif-fusion checkpoint (a bare state_dict has no model config)")
    if payload.get("version") != VERSION:
        raise ConfigError(f"{path} has checkpoint version {payload.get('version')}; this build reads version {VERSION}")
    return payload


def load_model(path: str | Path | None = None) -> FusionNet:
    """Rebuild the FusionNet stored in a checkpoint, in eval mode on the CPU."""
    payload = load_checkpoint(path)
    model = FusionNet(FusionNetConfig.from_dict(payload["model_config"]))
    model.load_state_dict(payload["model"])
    return model.eval()
