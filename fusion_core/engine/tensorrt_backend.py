"""TensorRT backend: a cached TensorRT 10 plan run on torch CUDA tensors.

``model_path``: a ``.pt`` checkpoint or None (exported to ONNX on the fly, see
:func:`fusion_core.export.resolve_onnx`), an ivif ``.onnx`` export, or a ``.plan``/``.engine``
built by ``ivif export --format tensorrt`` (rebuilt from the ONNX named in its sidecar when it was
built for another GPU or TensorRT version). Precision comes from the ONNX (fp16 = the fp16 export).
I/O tensors are the pipeline's own torch CUDA tensors (no copies); ``execute_async_v3`` runs on
the current torch stream, so it is ordered with the pre- and post-processing kernels.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, InputError, ModelFileError
from .contract import EngineConfig
from .torch_backend import resolve_device

log = logging.getLogger(__name__)

PLAN_SUFFIXES = (".plan", ".engine", ".trt")


class TensorRTRunner:
    """Runs a loaded plan; (1, 1, H, W) float32 CUDA tensors in, (fused, alpha) float32 CUDA tensors out."""

    name = "tensorrt"

    def __init__(self, loaded: Any, device: torch.device, profile: Any) -> None:
        self.loaded = loaded  # fusion_core.export.tensorrt_build.LoadedPlan: keeps runtime + engine alive
        self.device = device
        self.profile = profile  # ShapeProfile the plan accepts
        self.context = loaded.engine.create_execution_context()
        if self.context is None:
            raise ConfigError(f"TensorRT could not create an execution context for {loaded.path} (out of GPU memory?)")
        self._shape: tuple[int, ...] | None = None

    def __call__(self, ir_y: torch.Tensor, vi_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ir, vi = ir_y.float().contiguous(), vi_y.float().contiguous()  # (1, 1, H, W) on self.device
        shape = tuple(ir.shape)
        if shape != self._shape:
            if not self.profile.contains(shape[2], shape[3]):
                raise InputError(f"frame size {shape[2]}x{shape[3]} (HxW) is outside the TensorRT plan's profile "
                                 f"{self.profile.to_dict()}; rebuild with `ivif export --format tensorrt --min-shape/--max-shape`")
            for name in ("ir", "vi"):
                if not self.context.set_input_shape(name, shape):
                    raise InputError(f"TensorRT rejected input shape {shape} for {name!r}")
            self._shape = shape
        fused, alpha = torch.empty_like(ir), torch.empty_like(ir)
        for name, tensor in (("ir", ir), ("vi", vi), ("fused", fused), ("alpha", alpha)):
            self.context.set_tensor_address(name, tensor.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execute_async_v3 failed for shape {shape} (see the TensorRT log)")
        return fused, alpha


def _import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as exc:  # also OSError-like failures surface as ImportError from the bindings
        raise ConfigError(f"backend 'tensorrt' needs the tensorrt Python package (TensorRT 10, e.g. pip install tensorrt-cu12) "
                          f"and its libraries, but `import tensorrt` failed: {exc}; use backend 'onnxruntime' or 'torch'") from exc
    return trt


def build_tensorrt_runner(config: EngineConfig) -> TensorRTRunner:
    """Runner for ``config`` (backend 'tensorrt', device 'cuda')."""
    _import_tensorrt()
    from ..export.cache import resolve_onnx
    from ..export.tensorrt_build import ShapeProfile, ensure_plan, sidecar_path

    device = resolve_device(config.device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    path = Path(config.model_path) if config.model_path is not None else None
    if path is not None and path.suffix in PLAN_SUFFIXES:
        side = sidecar_path(path)
        if not path.is_file():
            raise ModelFileError(f"TensorRT plan {path} does not exist")
        if not side.is_file():
            raise ModelFileError(f"TensorRT plan {path} has no sidecar {side.name}; "
                                 "build plans with `ivif export --format tensorrt`")
        try:
            stored = json.loads(side.read_text())
            onnx_path, profile = Path(stored["onnx_path"]), ShapeProfile.from_dict(stored["profile"])
        except (ValueError, KeyError, TypeError) as exc:  # json errors are ValueErrors; ConfigError from the profile too
            raise ModelFileError(f"TensorRT plan sidecar {side} is malformed ({exc}); "
                                 "rebuild the plan with `ivif export --format tensorrt`") from exc
        if not onnx_path.is_file():
            raise ModelFileError(f"TensorRT plan {path} was built from {onnx_path}, which no longer exists; cannot rebuild it")
        if stored.get("precision") != config.precision:
            raise ConfigError(f"TensorRT plan {path} is {stored.get('precision')}, but precision {config.precision} was requested")
        loaded = ensure_plan(onnx_path, profile, plan_path=path, device_index=index)
    else:
        onnx_path, _meta = resolve_onnx(path, config.precision)
        profile = ShapeProfile()
        loaded = ensure_plan(onnx_path, profile, device_index=index)
    return TensorRTRunner(loaded, device, profile)
