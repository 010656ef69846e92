"""ONNX Runtime backend: the exported FusionNet graph behind the NetworkRunner contract.

CPU: ``CPUExecutionProvider`` with ``EngineConfig.threads`` intra-op threads (None = ONNX Runtime's
default, one per physical core). CUDA: ``CUDAExecutionProvider`` (onnxruntime-gpu) with I/O bound
straight to the torch CUDA tensors of the shared pipeline, so pre- and post-processing stay on the
GPU. When ``device='cuda'`` but this onnxruntime has no CUDA provider, the network runs on the CPU
provider and the runner copies its two inputs to the host and the outputs back (logged once, and
visible as ``runner.provider``). A ``.pt`` model (or None = the shipped default) is exported on the
fly into the user cache (:func:`fusion_core.export.resolve_onnx`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, ModelFileError
from .contract import EngineConfig
from .torch_backend import resolve_device

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


class OnnxRunner:
    """Runs an ivif ONNX export with ONNX Runtime; (1, 1, H, W) float32 in, (fused, alpha) float32 out."""

    name = "onnxruntime"

    def __init__(self, session: Any, device: torch.device) -> None:
        self.session = session
        self.device = device
        self.provider: str = session.get_providers()[0]
        self._bind = device.type == "cuda" and self.provider == CUDA_PROVIDER

    def __call__(self, ir_y: torch.Tensor, vi_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._bind:
            return self._run_bound(ir_y, vi_y)
        feeds = {"ir": ir_y.detach().float().cpu().contiguous().numpy(), "vi": vi_y.detach().float().cpu().contiguous().numpy()}
        fused, alpha = self.session.run(["fused", "alpha"], feeds)
        return torch.from_numpy(fused).to(self.device), torch.from_numpy(alpha).to(self.device)

    def _run_bound(self, ir_y: torch.Tensor, vi_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero-copy on CUDA: ORT reads and writes the torch tensors' device memory."""
        ir, vi = ir_y.float().contiguous(), vi_y.float().contiguous()  # (1, 1, H, W)
        fused, alpha = torch.empty_like(ir), torch.empty_like(ir)
        shape = tuple(ir.shape)
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        binding = self.session.io_binding()
        for name, tensor in (("ir", ir), ("vi", vi)):
            binding.bind_input(name, "cuda", index, np.float32, shape, tensor.data_ptr())
        for name, tensor in (("fused", fused), ("alpha", alpha)):
            binding.bind_output(name, "cuda", index, np.float32, shape, tensor.data_ptr())
        # ORT runs on its own CUDA stream: the inputs written on torch's stream must be complete first.
        # run_with_iobinding synchronises ORT's stream before returning, so the outputs are ready after it.
        torch.cuda.current_stream(self.device).synchronize()
        self.session.run_with_iobinding(binding)
        return fused, alpha


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def session_options(threads: int | None) -> Any:
    """ONNX Runtime options for a CPU-bound chain graph (the fusion network, the detector): sequential,
    no busy-waiting workers, ``threads`` intra-op threads (None = the CPUs this process may use).

    The count is always given: left at ORT's default (0), ORT also pins its pool threads to cores
    (onnxruntime.ai, "Thread management"; here /proc shows the pool thread allowed on one CPU), and a
    pinned thread waits whenever anything else holds its core — the in-process detector, the ROS
    executor, another process. In fusion_node at 30 Hz: 3556 of 3601 pairs, p99 119 ms pinned, against
    3601 of 3601, p99 62-68 ms with the same count unpinned (``python -m ivif_fusion.e2e``)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1  # the graph is a chain: parallelism is inside the ops
    # ORT's idle workers busy-wait after each run by default; whatever runs next (the shared torch
    # post-processing, the detector after fusion in one process) then fights them for the cores (measured
    # on 2 cores, 640x480: fusion post 173 ms -> 23 ms; fuse + detect p99 65-84 ms -> 41-43 ms).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads if threads is not None else available_cpus()
    return options


def build_onnx_runner(config: EngineConfig) -> OnnxRunner:
    """Runner for ``config.model_path`` (.onnx, .pt or None) on ``config.device``."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ConfigError(f"backend 'onnxruntime' needs the onnxruntime package (pip install 'ivif-fusion[onnx]'): {exc}") from exc
    from ..export import resolve_onnx

    device = resolve_device(config.device)
    path, _meta = resolve_onnx(config.model_path, config.precision)
    providers: list[Any] = [CPU_PROVIDER]
    if device.type == "cuda":
        if CUDA_PROVIDER in ort.get_available_providers():
            index = device.index if device.index is not None else torch.cuda.current_device()
            providers = [(CUDA_PROVIDER, {"device_id": index}), CPU_PROVIDER]
        else:
            log.warning("device 'cuda' was requested but this onnxruntime has no %s (install onnxruntime-gpu); the network "
                        "runs on the CPU provider, pre/post-processing stay on CUDA", CUDA_PROVIDER)
    try:
        session = ort.InferenceSession(str(path), sess_options=session_options(config.threads), providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
        raise ModelFileError(f"onnxruntime could not load model file {path}: {exc}") from exc
    runner = OnnxRunner(session, device)
    if device.type == "cuda" and runner.provider != CUDA_PROVIDER and len(providers) > 1:
        log.warning("onnxruntime could not start %s (see its log); running on %s", CUDA_PROVIDER, runner.provider)
    return runner
