"""Deployment: ONNX export (dynamic H/W, self-describing metadata) and TensorRT 10 plans with a plan cache.

Optional dependencies (onnx, onnxruntime, onnxscript, tensorrt) are imported inside the functions
that need them, so importing this package costs nothing.
"""

from ._common import ExportError, cache_dir, parse_hw, sha256_file
from .cache import resolve_onnx
from .metadata import IO_CONTRACT, OnnxMetadata, read_onnx_metadata
from .onnx_export import EXPORTERS, PARITY_TOLERANCE, OnnxExport, export_onnx, onnx_parity
from .tensorrt_build import (ShapeProfile, build_tensorrt_engine, ensure_plan, fingerprint_mismatch, plan_cache_key,
                             plan_fingerprint)

__all__ = [
    "EXPORTERS",
    "IO_CONTRACT",
    "PARITY_TOLERANCE",
    "ExportError",
    "OnnxExport",
    "OnnxMetadata",
    "ShapeProfile",
    "build_tensorrt_engine",
    "cache_dir",
    "ensure_plan",
    "export_onnx",
    "fingerprint_mismatch",
    "onnx_parity",
    "parse_hw",
    "plan_cache_key",
    "plan_fingerprint",
    "read_onnx_metadata",
    "resolve_onnx",
    "sha256_file",
]
