"""PyTorch backend: the FusionNet module itself, on the CPU or CUDA (fp16 on CUDA)."""

from __future__ import annotations

import torch

from ..checkpoint import load_model
from ..errors import ConfigError, ModelFileError
from ..model import FusionNet
from .contract import EngineConfig


def resolve_device(name: str) -> torch.device:
    """'cpu' or 'cuda' -> torch.device, refusing CUDA when this machine has none."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but torch.cuda.is_available() is False; use device 'cpu'")
    return torch.device(name)


class TorchRunner:
    """Runs a FusionNet in ``inference_mode``; fp16 casts the model and the inputs, outputs float32."""

    name = "torch"

    def __init__(self, model: FusionNet, device: torch.device, precision: str = "fp32") -> None:
        self.device = device
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.model = model.to(device=device, dtype=self.dtype).eval()

    def __call__(self, ir_y: torch.Tensor, vi_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(ir_y.to(self.dtype), vi_y.to(self.dtype))
        return out.fused.float(), out.alpha.float()


def build_torch_runner(config: EngineConfig, model: FusionNet | None = None) -> TorchRunner:
    """Runner from a checkpoint path (or an in-memory model, for training and tests)."""
    device = resolve_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    if model is None:
        if config.model_path is not None and str(config.model_path).endswith(".onnx"):
            raise ModelFileError(f"backend 'torch' needs a .pt checkpoint, got ONNX file {config.model_path}; use backend 'onnxruntime'")
        model = load_model(config.model_path)
    return TorchRunner(model, device, config.precision)
