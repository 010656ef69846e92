"""TensorRT 10 engines (plans) built from the exported ONNX, cached per GPU, TensorRT version and ONNX hash.

Precision. A TensorRT 10 *strongly typed* network takes every tensor type from the ONNX file, and
the weakly-typed ``BuilderFlag.FP16`` is deprecated since 10.12 (removed in 11) and not allowed
with strong typing. So fp16 here means: export the fp16 ONNX variant (fp16 weights and arithmetic,
float32 I/O; ``export_onnx(precision='fp16')``) and build it strongly typed. fp32 ONNX -> fp32 plan
(TensorRT may still use TF32 for convolutions, its default).

Caching. A plan is only valid for the GPU model, the TensorRT version and the exact ONNX it was
built from. :func:`plan_fingerprint` records those (plus the shape profile) in a JSON sidecar
``<plan>.json``; :func:`ensure_plan` rebuilds when the sidecar disagrees with this machine, when
it is missing, or when TensorRT refuses to deserialise the plan — never crashes on a stale plan.
The builder's timing cache is kept per GPU + TensorRT version next to the plans and makes
rebuilds fast. The key functions are pure, so they are tested without TensorRT.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._common import ExportError, cache_dir, sha256_file
from .metadata import INPUT_NAMES, read_onnx_metadata

log = logging.getLogger(__name__)

PLAN_SIDECAR_VERSION = 1


@dataclass(frozen=True)
class ShapeProfile:
    """The (height, width) range a plan accepts and the size it is tuned for. Batch is fixed at 1."""

    min: tuple[int, int] = (8, 8)
    opt: tuple[int, int] = (480, 640)
    max: tuple[int, int] = (2160, 3840)

    def __post_init__(self) -> None:
        for axis, name in ((0, "height"), (1, "width")):
            lo, mid, hi = self.min[axis], self.opt[axis], self.max[axis]
            if not 1 <= lo <= mid <= hi:
                raise ConfigError(f"shape profile {name}s must satisfy 1 <= min <= opt <= max, got {lo}, {mid}, {hi} "
                                  "(--min-shape/--opt-shape/--max-shape are HxW)")

    @classmethod
    def from_shapes(cls, min_shape: tuple[int, int] | None = None, opt_shape: tuple[int, int] | None = None,
                    max_shape: tuple[int, int] | None = None) -> "ShapeProfile":
        """A profile from optional (H, W) shapes; missing ones take the defaults."""
        d = cls.__dataclass_fields__
        return cls(min_shape or d["min"].default, opt_shape or d["opt"].default, max_shape or d["max"].default)

    @classmethod
    def from_dict(cls, data: dict[str, list[int]]) -> "ShapeProfile":
        return cls(tuple(data["min"]), tuple(data["opt"]), tuple(data["max"]))  # type: ignore[arg-type]

    def contains(self, height: int, width: int) -> bool:
        return self.min[0] <= height <= self.max[0] and self.min[1] <= width <= self.max[1]

    def to_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def plan_fingerprint(*, gpu_name: str, compute_capability: tuple[int, int], tensorrt_version: str, onnx_sha256: str,
                     profile: ShapeProfile) -> dict[str, Any]:
    """Everything a plan's validity depends on, as a JSON-able dict (pure)."""
    return {
        "sidecar_version": PLAN_SIDECAR_VERSION,
        "gpu_name": gpu_name,
        "compute_capability": f"{compute_capability[0]}.{compute_capability[1]}",
        "tensorrt_version": tensorrt_version,
        "onnx_sha256": onnx_sha256,
        "profile": profile.to_dict(),
    }


def plan_cache_key(fingerprint: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of a fingerprint (pure): the plan's cache file name."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def fingerprint_mismatch(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable differences, e.g. ``["tensorrt_version: plan 10.3.0, here 10.8.0"]`` (pure)."""
    keys = sorted(set(stored) | set(current))
    return [f"{k}: plan {stored.get(k)!r}, here {current.get(k)!r}" for k in keys if stored.get(k) != current.get(k)]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def device_fingerprint(onnx_path: str | Path, profile: ShapeProfile, device_index: int = 0) -> dict[str, Any]:
    """:func:`plan_fingerprint` for this machine's GPU ``device_index`` and installed TensorRT."""
    import tensorrt as trt
    import torch

    return plan_fingerprint(gpu_name=torch.cuda.get_device_name(device_index),
                            compute_capability=tuple(torch.cuda.get_device_capability(device_index)),
                            tensorrt_version=trt.__version__, onnx_sha256=sha256_file(onnx_path), profile=profile)


def _logger() -> Any:
    import tensorrt as trt

    return trt.Logger(trt.Logger.WARNING)


def build_tensorrt_engine(onnx_path: str | Path, out_plan: str | Path, *, fp16: bool | None = None,
                          min_shape: tuple[int, int] | None = None, opt_shape: tuple[int, int] | None = None,
                          max_shape: tuple[int, int] | None = None, timing_cache: str | Path | None = None,
                          device_index: int = 0) -> dict[str, Any]:
    """Build a strongly typed TensorRT plan from an exported ONNX file; returns the sidecar written beside it.

    ``fp16``: None = whatever the ONNX carries; True requires an fp16 export, False an fp32 one
    (strong typing cannot change precision). ``min/opt/max_shape``: (H, W) of the optimisation
    profile (defaults: :class:`ShapeProfile`). ``timing_cache``: file to read and update (default:
    per GPU + TensorRT version in the cache folder).
    """
    import tensorrt as trt
    import torch

    onnx_path, out_plan = Path(onnx_path), Path(out_plan)
    profile = ShapeProfile.from_shapes(min_shape, opt_shape, max_shape)
    meta = read_onnx_metadata(onnx_path)
    if fp16 is not None and (meta.precision == "fp16") != fp16:
        want = "fp16" if fp16 else "fp32"
        raise ConfigError(f"{onnx_path} is an {meta.precision} export but a {want} plan was asked; TensorRT 10 strongly typed "
                          f"networks take precision from the ONNX: export with `ivif export --format onnx{' --fp16' if fp16 else ''}`")
    torch.cuda.set_device(device_index)  # the builder works on the current CUDA device
    fingerprint = device_fingerprint(onnx_path, profile, device_index)
    logger = _logger()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT's ONNX parser rejected {onnx_path}: {errors}")
    config = builder.create_builder_config()
    trt_profile = builder.create_optimization_profile()
    for name in INPUT_NAMES:
        trt_profile.set_shape(name, (1, 1, *profile.min), (1, 1, *profile.opt), (1, 1, *profile.max))
    config.add_optimization_profile(trt_profile)

    cc = fingerprint["compute_capability"]
    tc_path = Path(timing_cache) if timing_cache else (
        cache_dir("tensorrt") / f"timing-{_slug(fingerprint['gpu_name'])}-sm{cc}-trt{fingerprint['tensorrt_version']}.cache")
    blob = tc_path.read_bytes() if tc_path.is_file() else b""
    try:
        cache = config.create_timing_cache(blob)
        usable = cache is not None and config.set_timing_cache(cache, False)  # ignore_mismatch=False
    except Exception:  # a corrupt cache file: TensorRT raises or returns None depending on the version
        usable = False
    if not usable:
        if blob:
            log.warning("timing cache %s is unusable with this GPU/TensorRT; starting an empty one", tc_path)
        config.set_timing_cache(config.create_timing_cache(b""), False)

    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ExportError(f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log above)")
    out_plan.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(out_plan, bytes(plan))
    _atomic_write(tc_path, bytes(config.get_timing_cache().serialize()))
    sidecar = dict(fingerprint, key=plan_cache_key(fingerprint), onnx_path=str(onnx_path.resolve()), precision=meta.precision)
    _atomic_write(sidecar_path(out_plan), json.dumps(sidecar, indent=2, sort_keys=True).encode())
    log.info("built TensorRT plan %s (%s, %s, profile %s)", out_plan, meta.precision, fingerprint["gpu_name"], profile.to_dict())
    return sidecar


def sidecar_path(plan: Path) -> Path:
    return plan.with_name(plan.name + ".json")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


@dataclass
class LoadedPlan:
    """A deserialised engine with the runtime that made it (TensorRT requires the runtime to outlive it)."""

    path: Path
    runtime: Any  # trt.Runtime
    engine: Any  # trt.ICudaEngine


def deserialize_plan(plan_path: str | Path) -> LoadedPlan | None:
    """The engine in ``plan_path``, or None when TensorRT cannot load it (other version, corrupt)."""
    import tensorrt as trt

    runtime = trt.Runtime(_logger())
    try:
        engine = runtime.deserialize_cuda_engine(Path(plan_path).read_bytes())
    except Exception as exc:  # normally None + a logged error; some versions raise instead
        log.warning("TensorRT could not deserialise %s: %s", plan_path, exc)
        engine = None
    return LoadedPlan(Path(plan_path), runtime, engine) if engine is not None else None


def ensure_plan(onnx_path: str | Path, profile: ShapeProfile | None = None, plan_path: str | Path | None = None,
                device_index: int = 0) -> LoadedPlan:
    """A loaded engine for ``onnx_path`` on this GPU, from the cache or freshly built.

    ``plan_path`` None = ``<cache>/tensorrt/<onnx stem>-<key[:16]>.plan``. A plan whose sidecar
    fingerprint differs from this machine (other GPU, TensorRT version, ONNX, profile) or that
    TensorRT refuses to load is rebuilt, with the reason logged.
    """
    import torch

    profile = profile or ShapeProfile()
    torch.cuda.set_device(device_index)
    current = device_fingerprint(onnx_path, profile, device_index)
    if plan_path is None:
        plan_path = cache_dir("tensorrt") / f"{Path(onnx_path).stem}-{plan_cache_key(current)[:16]}.plan"
    plan_path = Path(plan_path)
    reason = "no plan yet"
    if plan_path.is_file() and sidecar_path(plan_path).is_file():
        stored = json.loads(sidecar_path(plan_path).read_text())
        diff = fingerprint_mismatch({k: stored.get(k) for k in current}, current)
        if not diff:
            loaded = deserialize_plan(plan_path)
            if loaded is not None:
                return loaded
            reason = "TensorRT could not deserialise it"
        else:
            reason = "; ".join(diff)
    elif plan_path.is_file():
        reason = "it has no fingerprint sidecar"
    log.warning("building TensorRT plan %s (%s)", plan_path, reason)
    build_tensorrt_engine(onnx_path, plan_path, min_shape=profile.min, opt_shape=profile.opt, max_shape=profile.max,
                          device_index=device_index)
    loaded = deserialize_plan(plan_path)
    if loaded is None:
        raise ExportError(f"TensorRT could not load the plan it just built at {plan_path}")
    return loaded
