"""``ivif export``: a checkpoint to an ONNX file, or on to a TensorRT plan.

``--format onnx`` writes the ONNX export (``--fp16``: the fp16 variant). ``--format tensorrt``
exports the ONNX first (beside ``--out``, same stem, ``.onnx``) unless ``--model`` already is an
ivif ONNX export, then builds a strongly typed TensorRT plan with the given optimisation profile
(shapes are HEIGHTxWIDTH) and writes ``<out>.json`` with its GPU/TensorRT/ONNX fingerprint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("onnx", "tensorrt")


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..export.onnx_export import DEFAULT_OPSET, EXPORTERS

    p = sub.add_parser("export", help="export a model to ONNX or a TensorRT plan",
                       description="Export a FusionNet checkpoint to ONNX (dynamic height/width, metadata, checked, "
                                   "parity-tested against PyTorch) or to a TensorRT 10 plan built from that ONNX.")
    p.add_argument("--model", default=None, help="checkpoint (.pt), or for tensorrt an ivif ONNX export; default: shipped model")
    p.add_argument("--format", required=True, choices=FORMATS, help="output format")
    p.add_argument("--out", required=True, type=Path, help="output file (.onnx, or .plan for tensorrt)")
    p.add_argument("--fp16", action="store_true", help="fp16 weights and arithmetic (float32 I/O); the TensorRT fp16 path")
    p.add_argument("--min-shape", default=None, metavar="HxW", help="tensorrt: smallest frame (default 8x8)")
    p.add_argument("--opt-shape", default=None, metavar="HxW", help="tensorrt: frame size to tune for (default 480x640)")
    p.add_argument("--max-shape", default=None, metavar="HxW", help="tensorrt: largest frame (default 2160x3840)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--exporter", default="auto", choices=EXPORTERS,
                   help="torch.onnx exporter: dynamo (needs onnxscript), legacy (TorchScript), auto (default: dynamo if available)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..export import build_tensorrt_engine, export_onnx, parse_hw, read_onnx_metadata

    precision = "fp16" if args.fp16 else "fp32"
    shapes = {k: parse_hw(v, f"--{k.replace('_', '-')}") if v else None
              for k, v in (("min_shape", args.min_shape), ("opt_shape", args.opt_shape), ("max_shape", args.max_shape))}
    if args.format == "onnx":
        if any(shapes.values()):
            raise ConfigError("--min-shape/--opt-shape/--max-shape apply to --format tensorrt only; ONNX height and width are dynamic")
        result = export_onnx(args.model, args.out, opset=args.opset, precision=precision, exporter=args.exporter)
        parity = ", ".join(f"{k} {v:.2e}" for k, v in (result.parity_max_abs or {}).items())
        print(f"wrote {result.path} ({precision}, {result.exporter} exporter, opset {args.opset}, sha256 {result.sha256[:16]}…; "
              f"max |ONNX Runtime - PyTorch| on a 45x61 pair: {parity})")
        return 0

    if args.model is not None and str(args.model).endswith(".onnx"):
        onnx_path = Path(args.model)
        if read_onnx_metadata(onnx_path).precision != precision:
            raise ConfigError(f"{onnx_path} is not a {precision} export; pass the .pt checkpoint or an ONNX exported with"
                              f"{' --fp16' if args.fp16 else 'out --fp16'}")
    else:
        onnx_path = args.out.with_suffix(".onnx")
        result = export_onnx(args.model, onnx_path, opset=args.opset, precision=precision, exporter=args.exporter)
        print(f"wrote {result.path} ({precision}, {result.exporter} exporter)")
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"--format tensorrt needs the tensorrt Python package (TensorRT 10), but `import tensorrt` failed: "
                          f"{exc}. The ONNX export is {onnx_path}: on the GPU machine that will run the plan (a plan is "
                          f"tied to its GPU and TensorRT version), `ivif export --model {onnx_path} --format tensorrt "
                          f"--out {args.out.name}{' --fp16' if args.fp16 else ''}` builds it") from exc
    sidecar = build_tensorrt_engine(onnx_path, args.out, fp16=args.fp16, **shapes)
    print(f"wrote {args.out} (TensorRT {sidecar['tensorrt_version']}, {sidecar['gpu_name']} sm{sidecar['compute_capability']}, "
          f"{precision}, profile {sidecar['profile']}) and {args.out.name}.json")
    return 0
