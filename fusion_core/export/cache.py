"""ONNX files for backends that were given a checkpoint: export once, reuse from the user cache.

A ``.pt`` (or ``None`` = the shipped default) becomes
``<cache>/onnx/<stem>-<checkpoint sha256[:16]>-<precision>-opset<N>-v<ivif version>-g<graph revision>.onnx``;
the name carries everything the graph depends on, so a retrained checkpoint, another precision, a new
ivif_fusion version or a rewritten graph (:data:`~fusion_core.export.onnx_export.GRAPH_REVISION`) gets its own file. A cached file whose metadata does not name the same
checkpoint hash (corrupt, hand-edited) is exported again. ``$IVIF_ONNX_EXPORTER`` (auto | dynamo |
legacy, default auto) picks the torch exporter for these on-the-fly exports (legacy is ~10x faster).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import ConfigError, ModelFileError
from ._common import cache_dir, sha256_file
from .metadata import OnnxMetadata, read_onnx_metadata
from .onnx_export import DEFAULT_OPSET, GRAPH_REVISION, export_onnx

log = logging.getLogger(__name__)

EXPORTER_ENV = "IVIF_ONNX_EXPORTER"


def resolve_onnx(model_path: str | Path | None, precision: str = "fp32") -> tuple[Path, OnnxMetadata]:
    """The ONNX file (and its metadata) to run for ``model_path`` at ``precision``.

    An ``.onnx`` path is used as given and must have been exported at ``precision``; a ``.pt`` or
    ``None`` is exported on the fly into the cache (see the module docstring).
    """
    from .. import __version__
    from ..checkpoint import DEFAULT_MODEL_PATH

    path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
    if path.suffix == ".onnx":
        meta = read_onnx_metadata(path)
        if meta.precision != precision:
            flag = " --fp16" if precision == "fp16" else ""
            raise ConfigError(f"ONNX file {path} was exported at precision {meta.precision}, but precision {precision} was "
                              f"requested; export it with `ivif export --format onnx{flag}` or pass the .pt checkpoint")
        return path, meta
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    digest = sha256_file(path)
    target = cache_dir("onnx") / f"{path.stem}-{digest[:16]}-{precision}-opset{DEFAULT_OPSET}-v{__version__}-g{GRAPH_REVISION}.onnx"
    if target.is_file():
        try:
            meta = read_onnx_metadata(target)
            if meta.checkpoint_sha256 == digest and meta.precision == precision:
                return target, meta
        except ConfigError as exc:
            log.warning("cached ONNX %s is unusable (%s); exporting again", target, exc)
    log.info("exporting %s to ONNX (%s) for this backend; cached at %s", path, precision, target)
    export_onnx(path, target, precision=precision, exporter=os.environ.get(EXPORTER_ENV, "auto"))
    return target, read_onnx_metadata(target)
