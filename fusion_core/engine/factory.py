"""create_engine: the single place that maps a backend name to its runner (imports are lazy)."""

from __future__ import annotations

from ..model import FusionNet
from .auto import resolve_engine_config
from .contract import EngineConfig
from .pipeline import FusionEngine


def create_engine(config: EngineConfig | None = None, model: FusionNet | None = None) -> FusionEngine:
    """Build a :class:`FusionEngine`. ``model`` (torch backend only) skips loading from disk.

    ``backend``/``device`` 'auto' are resolved here, once; ``engine.config`` holds the resolved values."""
    config = resolve_engine_config(config or EngineConfig(), in_memory_model=model is not None)
    if config.backend == "torch":
        from .torch_backend import build_torch_runner

        return FusionEngine(build_torch_runner(config, model), config)
    if config.backend == "onnxruntime":
        from .onnx_backend import build_onnx_runner

        return FusionEngine(build_onnx_runner(config), config)
    from .tensorrt_backend import build_tensorrt_runner

    return FusionEngine(build_tensorrt_runner(config), config)
