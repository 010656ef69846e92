"""Training checkpoints, RNG state, the machine description and the run record.

A training checkpoint is a :func:`fusion_core.checkpoint.save_checkpoint` file (so
``fusion_core.load_model`` reads its FusionNet) with the training state added::

    optimizer, scheduler, scaler, step (completed steps), train_config (resolved dict),
    rng {torch, cuda, numpy, python}, heads {seg_head, seg_net} (ssvif), weighting (ssvif EMAs),
    progress {wall_s, train_s, pairs}

``model.pt`` at the end of a run is the deployable form: weights, model config and ``meta`` only.
"""

from __future__ import annotations

import json
import os
import platform
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fusion_core.checkpoint import save_checkpoint
from fusion_core.model import FusionNet


def rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain values (checkpoints load with ``weights_only=True``).

    numpy's legacy MT19937 state ``(name, key uint32[624], pos, has_gauss, cached_gaussian)`` keeps
    its key as an int64 tensor; python's ``random`` state is already a tuple of ints.
    """
    name, key, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {"torch": torch.get_rng_state(),
                             "numpy": [str(name), torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
                             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.int64).astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def machine_info(device: torch.device, world_size: int) -> dict[str, Any]:
    """What ran the training: enough to compare throughput figures, nothing identifying."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a TorchVersion otherwise, which weights_only refuses
        "device": str(device),
        "world_size": world_size,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    else:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    return info


def save_training_checkpoint(path: Path, fusion: FusionNet, meta: dict[str, Any], **state: Any) -> Path:
    """A resumable checkpoint (see the module docstring for the keys in ``state``)."""
    return save_checkpoint(path, fusion, meta, rng=rng_state(), **state)


def write_record(path: Path, record: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def prune_step_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` ``step_*.pt`` files (``keep`` 0 keeps all)."""
    if keep <= 0:
        return
    for old in sorted(folder.glob("step_*.pt"))[:-keep]:
        old.unlink()
