"""Export FusionNet to ONNX: dynamic N, H and W, self-describing metadata, checked, parity-tested.

Graph: inputs ``ir``, ``vi`` and outputs ``fused``, ``alpha``, all float32 (N, 1, H, W) in [0, 1]
(see :data:`~fusion_core.export.metadata.IO_CONTRACT`). With ``precision='fp16'`` the weights and the
arithmetic are float16 but the I/O stays float32 (a Cast at each end): that is the form a TensorRT 10
strongly-typed network needs for fp16, and runners bind the same float32 buffers for both precisions.

Exporters (torch 2.13): ``dynamo`` (``torch.onnx.export(dynamo=True)``, the supported path; needs
``onnxscript``; ~10 s on 2 CPU cores, ~30 s for the first export in a process) and ``legacy`` (the
TorchScript exporter: ~1 s, deprecated by torch). Both give the same ops (Conv, AveragePool with
ceil_mode/count_include_pad=0, Resize linear half_pixel with sizes from Shape, ...) and match PyTorch
at odd sizes. ``auto`` uses dynamo when onnxscript is importable, else legacy (logged).
"""

from __future__ import annotations

import copy
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import load_model
from ..errors import ConfigError, ModelFileError
from ..model import FusionNet
from ._common import ExportError, sha256_file
from .metadata import INPUT_NAMES, OUTPUT_NAMES, build_metadata

log = logging.getLogger(__name__)

EXPORTERS = ("auto", "dynamo", "legacy")
DEFAULT_OPSET = 18
# Bumped whenever the same checkpoint exports to a different graph, so cached exports of older code are not
# reused. 2: FusionNet's pass-saving rewrite (sigmoid for the two-way softmax, fewer full-resolution passes,
# no output Casts at fp32), the same values to float rounding and 0.7-1 ms faster at 640x480. 3: the pyramid
# detail transfer's choose-max without a Where (models with pyramid_gains only; the same values to the bit).
GRAPH_REVISION = 3
PARITY_TOLERANCE = 1.0 / 255.0  # max |ONNX - PyTorch fp32| for fused and alpha, on the [0, 1] scale
_EXAMPLE_SHAPE = (2, 1, 67, 91)  # odd, distinct, > 1: nothing gets specialised while tracing
_AXES = {0: "batch", 2: "height", 3: "width"}


@dataclass(frozen=True)
class OnnxExport:
    """Result of :func:`export_onnx`: the file, its hash, its metadata and the measured parity."""

    path: Path
    sha256: str
    metadata: dict[str, str]
    exporter: str
    parity_max_abs: dict[str, float] | None  # {"fused": .., "alpha": ..} vs PyTorch fp32, None if not checked


class _Graph(nn.Module):
    """FusionNet as an export graph: float32 (fused, alpha) out, the arithmetic in ``dtype``."""

    def __init__(self, model: FusionNet, dtype: torch.dtype) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype

    def forward(self, ir: torch.Tensor, vi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.dtype == torch.float32:  # no casts: the tracer records even a no-op one, and a Cast that
            out = self.model(ir, vi)     # makes a graph output is a full-resolution copy in ONNX Runtime
            return out.fused, out.alpha
        out = self.model(ir.to(self.dtype), vi.to(self.dtype))  # (N, 1, H, W) each
        return out.fused.float(), out.alpha.float()


def _load_source(checkpoint_or_model: str | Path | FusionNet | None) -> tuple[FusionNet, str, str]:
    """(model in eval mode on the CPU, source name, checkpoint hash)."""
    if isinstance(checkpoint_or_model, FusionNet):
        model = checkpoint_or_model
        import hashlib
        import json

        digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return model, "<in-memory FusionNet>", digest.hexdigest()
    from ..checkpoint import DEFAULT_MODEL_PATH

    path = Path(checkpoint_or_model) if checkpoint_or_model is not None else DEFAULT_MODEL_PATH
    if path.suffix == ".onnx":
        raise ModelFileError(f"{path} is already an ONNX file; export needs a .pt checkpoint")
    model = load_model(path)  # ModelFileError for any bad checkpoint
    return model, path.name, sha256_file(path)


def resolve_exporter(exporter: str) -> str:
    """'auto' -> 'dynamo' when onnxscript is importable, else 'legacy'; validates explicit choices."""
    if exporter not in EXPORTERS:
        raise ConfigError(f"exporter {exporter!r} is not one of {', '.join(EXPORTERS)}")
    has_onnxscript = importlib.util.find_spec("onnxscript") is not None
    if exporter == "dynamo" and not has_onnxscript:
        raise ConfigError("exporter 'dynamo' needs the onnxscript package (pip install onnxscript); or use exporter 'legacy'")
    if exporter == "auto":
        if has_onnxscript:
            return "dynamo"
        log.warning("onnxscript is not installed: exporting with torch's legacy TorchScript ONNX exporter")
        return "legacy"
    return exporter


def _export_dynamo(graph: nn.Module, example: tuple[torch.Tensor, torch.Tensor], opset: int) -> Any:
    from torch.export import Dim

    dims = {axis: Dim.DYNAMIC for axis in _AXES}
    # onnxscript/onnx_ir log every optimiser pass at INFO; under the CLI's INFO root logger that is noise.
    for name in ("onnxscript", "onnx_ir"):
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)
    program = torch.onnx.export(graph, example, dynamo=True, input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                                dynamic_shapes={name: dims for name in INPUT_NAMES}, opset_version=opset, verbose=False)
    if program is None:
        raise ExportError("torch.onnx.export(dynamo=True) returned no program")
    # Dim.DYNAMIC gives symbols like 's16'; name them after the axes (shared names would make torch warn).
    first = program.model_proto.graph.input[0].type.tensor_type.shape.dim
    program.rename_axes({first[axis].dim_param: name for axis, name in _AXES.items() if first[axis].dim_param})
    return program.model_proto


def _export_legacy(graph: nn.Module, example: tuple[torch.Tensor, torch.Tensor], opset: int, tmp: Path) -> Any:
    import onnx

    axes = {name: dict(_AXES) for name in INPUT_NAMES + OUTPUT_NAMES}
    torch.onnx.export(graph, example, str(tmp), dynamo=False, input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                      dynamic_axes=axes, opset_version=opset, do_constant_folding=True)
    return onnx.load(str(tmp))


def _declare_io_shapes(proto: Any) -> None:
    """Declare every I/O as (batch, 1, height, width): the legacy exporter leaves the outputs' channel symbolic."""
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        for axis, dim in enumerate(dims):
            if axis == 1:
                dim.Clear()
                dim.dim_value = 1
            else:
                dim.Clear()
                dim.dim_param = _AXES[axis]


def onnx_parity(path: str | Path, model: FusionNet, ir: torch.Tensor, vi: torch.Tensor) -> dict[str, float]:
    """Max |ONNX Runtime (CPU) - PyTorch fp32| of fused and alpha on one (N, 1, H, W) pair in [0, 1]."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fused, alpha = session.run(list(OUTPUT_NAMES), {"ir": ir.numpy(), "vi": vi.numpy()})
    if next(model.parameters()).dtype != torch.float32:
        model = copy.deepcopy(model).float()  # the reference is fp32; never cast the caller's model
    with torch.inference_mode():
        ref = model(ir, vi)
    return {"fused": float(abs(torch.from_numpy(fused) - ref.fused).max()),
            "alpha": float(abs(torch.from_numpy(alpha) - ref.alpha).max())}


def export_onnx(checkpoint_or_model: str | Path | FusionNet | None, out_path: str | Path, *, opset: int = DEFAULT_OPSET,
                precision: str = "fp32", exporter: str = "auto", parity_check: bool = True) -> OnnxExport:
    """Export a checkpoint (``None`` = the shipped default) or an in-memory FusionNet to ``out_path``.

    The file is validated with ``onnx.checker.check_model(full_check=True)`` and, unless
    ``parity_check`` is False, run with ONNX Runtime on a random 45×61 pair and compared with
    PyTorch fp32 (both outputs within :data:`PARITY_TOLERANCE`). It is written atomically: a failed
    export leaves no file behind.
    """
    import onnx

    from .. import __version__

    if precision not in ("fp32", "fp16"):
        raise ConfigError(f"precision {precision!r} is not one of fp32, fp16")
    if opset < 17:
        raise ConfigError(f"opset {opset} is too old: AveragePool/Resize semantics used here need opset >= 17")
    chosen = resolve_exporter(exporter)
    model, source, ckpt_hash = _load_source(checkpoint_or_model)
    model = copy.deepcopy(model).float().eval()  # the caller's model keeps its dtype and train/eval mode
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")

    dtype = torch.float16 if precision == "fp16" else torch.float32
    graph = _Graph(copy.deepcopy(model).to(dtype), dtype).eval()  # fp16: a second copy, the reference stays fp32
    gen = torch.Generator().manual_seed(0)
    example = (torch.rand(_EXAMPLE_SHAPE, generator=gen), torch.rand(_EXAMPLE_SHAPE, generator=gen))
    try:
        with torch.no_grad():
            proto = _export_dynamo(graph, example, opset) if chosen == "dynamo" else _export_legacy(graph, example, opset, tmp)
    except (ConfigError, ExportError):
        raise
    except Exception as exc:  # torch raises many types from inside its exporters
        tmp.unlink(missing_ok=True)
        raise ExportError(f"torch.onnx ({chosen} exporter) failed to export {source}: {exc}") from exc

    meta = build_metadata(model_config=model.config, version=__version__, torch_version=torch.__version__, exporter=chosen,
                          opset=opset, source=source, checkpoint_sha256=ckpt_hash, precision=precision)
    _declare_io_shapes(proto)
    onnx.helper.set_model_props(proto, meta)
    proto.doc_string = f"ivif_fusion FusionNet ({precision}) from {source}; see metadata ivif.io_contract"
    proto.producer_name = "ivif_fusion"
    proto.producer_version = __version__
    try:
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp))
        parity = None
        if parity_check:
            pg = torch.Generator().manual_seed(1)
            ir, vi = torch.rand(1, 1, 45, 61, generator=pg), torch.rand(1, 1, 45, 61, generator=pg)
            parity = onnx_parity(tmp, model, ir, vi)
            if max(parity.values()) > PARITY_TOLERANCE:
                raise ExportError(f"exported ONNX differs from PyTorch by {parity} (> {PARITY_TOLERANCE:.5f}) on a 45x61 pair")
        tmp.replace(out_path)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the exported graph: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    log.info("exported %s -> %s (%s, %s exporter, opset %d, parity %s)", source, out_path, precision, chosen, opset, parity)
    return OnnxExport(out_path, sha256_file(out_path), meta, chosen, parity)
