"""``backend: auto`` / ``device: auto``: the fastest backend this machine can run, decided once, in the factory.

Order (fastest first, measured on this project's machines: ONNX Runtime runs the whole CPU fusion of
a 640×480 pair in ~0.65× PyTorch's time, ``ivif bench``):

* a CUDA GPU and TensorRT importable -> ``tensorrt`` (built from the ONNX export, plan cached);
* a CUDA GPU without TensorRT -> ``torch`` on CUDA;
* no GPU -> ``onnxruntime`` on the CPU when it is installed, else ``torch``.

A ``.onnx`` model file is never given to ``torch`` (which reads checkpoints only); a model handed over
in memory (``create_engine(model=...)``, training's evaluation) runs on ``torch``, the only backend
that takes one. The precision is
the caller's: fp16 is a choice with a parity cost (see ``ivif export --fp16``), not something
``auto`` switches on silently. Every door reports the resolved pair (``engine.backend``,
``engine.device``): the node's start-up log and /diagnostics, replay reports, the CLI.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import torch

from .contract import EngineConfig


def importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (a missing optional backend is no error)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def resolve_engine_config(config: EngineConfig, in_memory_model: bool = False) -> EngineConfig:
    """``config`` with ``device`` and ``backend`` 'auto' replaced by what this machine runs best (see the module
    docstring); a config without 'auto' comes back unchanged. The result is validated as any EngineConfig
    (so fp16 or tensorrt on a machine without a GPU is a ConfigError naming them)."""
    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    backend = config.backend
    if backend == "auto":
        onnx_model = str(config.model_path or "").endswith(".onnx")
        if in_memory_model:
            backend = "torch"
        elif device == "cuda":
            backend = "tensorrt" if importable("tensorrt") else ("onnxruntime" if onnx_model else "torch")
        else:
            backend = "onnxruntime" if importable("onnxruntime") or onnx_model else "torch"
    if (backend, device) == (config.backend, config.device):
        return config
    return dataclasses.replace(config, backend=backend, device=device)


def prepost_torch_threads(engine_backend: str, device: torch.device) -> int | None:
    """Torch intra-op threads a process should run with when its network runs on ``engine_backend``; None = leave
    torch's default.

    With ONNX Runtime on the CPU, torch only does the engine's pre/post-processing: a few dozen small
    per-pixel operations per frame. Its OpenMP workers spin-wait after each one and take the cores from
    ONNX Runtime's threads and from whatever runs beside the engine (the in-process detector, the ROS
    executor). One thread is the better trade on every set-up measured: the node's end-to-end run at
    30 Hz with the detector on its own thread went from 26.8 to 29.7 Hz (2 cores, 640x480,
    ``python -m ivif_fusion.e2e``). Torch backends and GPUs keep torch's default (torch does the
    network's work there, or the per-pixel work is on the GPU). This is a process-wide setting
    (``torch.set_num_threads``): the ROS node applies it, the library never does on its own.
    """
    if engine_backend == "onnxruntime" and device.type == "cpu":
        return 1
    return None
