"""What an exported ONNX file says about itself (``metadata_props``), so the file alone is enough to use it.

Keys (all values are strings; JSON where structured):

- ``ivif.format`` = ``ivif-fusion-onnx``, ``ivif.format_version`` = ``1``
- ``ivif.version``: the ivif_fusion version that exported it; ``ivif.torch_version``; ``ivif.exporter``
  (``dynamo`` | ``legacy``); ``ivif.opset``
- ``ivif.model_config``: the :class:`~fusion_core.model.FusionNetConfig` as JSON
- ``ivif.source`` (checkpoint file name, or ``<in-memory FusionNet>``) and ``ivif.checkpoint_sha256``
  (SHA-256 of the checkpoint file; for an in-memory model, of its config JSON and weights' bytes)
- ``ivif.precision``: ``fp32`` or ``fp16`` (the arithmetic inside the graph; I/O is float32 either way)
- ``ivif.io_contract``: :data:`IO_CONTRACT`, the pre/post-processing a caller must do around the graph
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelFileError
from ..model import FusionNetConfig

FORMAT = "ivif-fusion-onnx"
FORMAT_VERSION = "1"
INPUT_NAMES = ("ir", "vi")
OUTPUT_NAMES = ("fused", "alpha")

# The contract between the graph and the shared torch pre/post-processing (fusion_core.engine.pipeline).
IO_CONTRACT: dict[str, Any] = {
    "inputs": {
        "ir": "float32 (N, 1, H, W) thermal intensity in [0, 1]: already normalised (fixed range or percentile AGC) "
              "and registered to the visible frame; thermal normalisation is done outside the graph",
        "vi": "float32 (N, 1, H, W) visible luma Y in [0, 1], full-range BT.601 (ITU-T T.871 / JPEG) YCbCr",
    },
    "outputs": {
        "fused": "float32 (N, 1, H, W) fused luma Y in [0, 1]; recombine with the visible's Cb, Cr (BT.601 full range)",
        "alpha": "float32 (N, 1, H, W) per-pixel thermal weight in [0, 1]; published as uint8 round(alpha * 255)",
    },
    "colour": "BT.601 full range (Y, Cb, Cr in [0, 1], chroma centred on 0.5)",
    "thermal_normalisation": "outside the graph",
    "height_width": "any H >= 1 and W >= 1 (dynamic); N dynamic",
}


@dataclass(frozen=True)
class OnnxMetadata:
    """The parsed ``ivif.*`` metadata of an exported FusionNet ONNX file."""

    model_config: FusionNetConfig
    version: str
    checkpoint_sha256: str
    source: str
    precision: str
    exporter: str
    opset: int
    io_contract: dict[str, Any]
    raw: dict[str, str]


def build_metadata(*, model_config: FusionNetConfig, version: str, torch_version: str, exporter: str, opset: int,
                   source: str, checkpoint_sha256: str, precision: str) -> dict[str, str]:
    """The ``metadata_props`` dict written into an exported file."""
    return {
        "ivif.format": FORMAT,
        "ivif.format_version": FORMAT_VERSION,
        "ivif.version": version,
        "ivif.torch_version": torch_version,
        "ivif.exporter": exporter,
        "ivif.opset": str(opset),
        "ivif.model_config": json.dumps(model_config.to_dict(), sort_keys=True),
        "ivif.source": source,
        "ivif.checkpoint_sha256": checkpoint_sha256,
        "ivif.precision": precision,
        "ivif.io_contract": json.dumps(IO_CONTRACT, sort_keys=True),
    }


def parse_metadata(props: dict[str, str], where: str) -> OnnxMetadata:
    """Check and parse ``ivif.*`` metadata; ``where`` (a file name) goes into error messages."""
    if props.get("ivif.format") != FORMAT:
        raise ModelFileError(f"{where} is not an ivif-fusion ONNX export (metadata ivif.format is {props.get('ivif.format')!r}); "
                             "export one with `ivif export --format onnx`")
    if props.get("ivif.format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{where} has export format version {props.get('ivif.format_version')!r}; "
                             f"this build reads version {FORMAT_VERSION}; export it again")
    try:
        return OnnxMetadata(
            model_config=FusionNetConfig.from_dict(json.loads(props["ivif.model_config"])),
            version=props["ivif.version"],
            checkpoint_sha256=props["ivif.checkpoint_sha256"],
            source=props["ivif.source"],
            precision=props["ivif.precision"],
            exporter=props["ivif.exporter"],
            opset=int(props["ivif.opset"]),
            io_contract=json.loads(props["ivif.io_contract"]),
            raw=dict(props),
        )
    except (KeyError, ValueError, TypeError) as exc:  # ConfigError (a bad FusionNetConfig) is a ValueError
        raise ModelFileError(f"{where} has incomplete or malformed ivif metadata: {exc}") from exc


def read_onnx_metadata(path: str | Path) -> OnnxMetadata:
    """Read the metadata of an exported ONNX file without loading its weights."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"ONNX file {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for non-ONNX files
        raise ModelFileError(f"{path} could not be read as an ONNX model: {exc}") from exc
    return parse_metadata({p.key: p.value for p in model.metadata_props}, str(path))
