"""``ivif bench``: latency, throughput, stage split and peak memory of each backend, side by side.

Every (backend, precision, size) runs the real :class:`FusionEngine` on the same pair (see
:mod:`._bench_input`): ``--warmup`` untimed calls, then ``--iters`` timed ``fuse`` calls. Reported:
per-pair latency p50/p90/p99 (wall clock around ``fuse``; on CUDA ``fuse`` synchronises, so this is
the real per-pair time), throughput (pairs/s = 1000 / mean latency, one pair at a time), the
median pre/network/post split from ``FusionResult.timings``, peak memory (CPU: growth of peak RSS
during the timed run, from /proc; CUDA: ``torch.cuda.max_memory_allocated`` growth, which does not
see ONNX Runtime's or TensorRT's own allocations) and each p50's ratio to the fastest backend at
the same size and precision. ``--network-only`` adds the network forward alone, median of 10 after
3 warm-ups, the protocol of ../shared/TARGETS.md. Sizes are WIDTHxHEIGHT (640x480 = MSRS); ``--scaling``
runs 320x256 to 1280x1024 (:mod:`._bench_scaling`). ``--detector`` adds YOLOX-nano on each fused image
(:mod:`._bench_detect`): a ``detection`` and a ``fusion+detection`` row per backend and size. Every row
also gets its cost per megapixel (ms/MP) and stage shares, and the JSON a linear fit per backend.
``--model`` repeated (``NAME=PATH``) times several checkpoints in the same run, one after another on the
same pair, so a candidate's speed ratio to the shipped model comes from one run (rows are labelled
``NAME/backend`` and the ratios span every model).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path
from typing import Any

QUICK_WARMUP, QUICK_ITERS = 1, 5


def _csv(choices: tuple[str, ...] | None = None):  # noqa: ANN202 - argparse type factory
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if choices and t not in choices]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated list of {', '.join(choices or ('values',))}")
        return items
    return parse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..engine import BACKENDS, DEVICES, PRECISIONS
    from ._bench_scaling import SIZE_SETS, parse_sizes

    p = sub.add_parser("bench", help="benchmark backends side by side", description="Time the real FusionEngine per backend, size and precision "
                       "on one image pair: latency p50/p90/p99, throughput, pre/network/post split, peak memory, ratio to "
                       "the fastest. Sizes are WIDTHxHEIGHT.")
    p.add_argument("--backend", type=_csv(BACKENDS), default=["torch", "onnxruntime"], help="comma-separated (default torch,onnxruntime)")
    p.add_argument("--size", type=parse_sizes, default=None,
                   help="comma-separated WIDTHxHEIGHT and/or size sets (scaling = " + ", ".join(
                       f"{w}x{h}" for w, h in SIZE_SETS["scaling"]) + "; default 640x480)")
    p.add_argument("--scaling", action="store_true", help="add the scaling size set (same as --size scaling)")
    p.add_argument("--detector", action="store_true",
                   help="also time YOLOX-nano (onnxruntime) on each fused image: a detection and a fusion+detection row")
    p.add_argument("--square-detector", action="store_true",
                   help="with --detector: letterbox onto the full 416 x 416 square instead of the stride-rounded rectangle")
    p.add_argument("--device", default="cpu", choices=DEVICES, help="default cpu")
    p.add_argument("--precision", type=_csv(PRECISIONS), default=["fp32"], help="comma-separated fp32,fp16 (fp16 needs cuda)")
    p.add_argument("--warmup", type=int, default=None, help=f"untimed calls first (default 5; --quick {QUICK_WARMUP})")
    p.add_argument("--iters", type=int, default=None, help=f"timed calls (default 50; --quick {QUICK_ITERS})")
    p.add_argument("--model", action="append", default=None, metavar="[NAME=]PATH",
                   help="checkpoint (.pt; ONNX/TensorRT backends export it); default: shipped model. Repeat to time "
                        "several models side by side in one run ('default' = the shipped one); ratios span them all")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads for torch and onnxruntime (default: theirs)")
    p.add_argument("--pair", nargs=2, type=Path, metavar=("IR", "VI"), default=None, help="image pair to use")
    p.add_argument("--calibration", type=Path, default=None, metavar="FILE",
                   help="time a calibrated rig: the thermal image at the file's thermal size warped into its visible size "
                        "(a file from 'ivif calibrate'; the sizes come from it, so not with --size/--scaling)")
    p.add_argument("--network-only", action="store_true", help="also time the network forward alone (TARGETS.md protocol)")
    p.add_argument("--quick", action="store_true", help="CI mode: few iterations")
    p.add_argument("--json", type=Path, default=None, help="write all results to this JSON file")
    p.set_defaults(run=run)


def _percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(values, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99)),
            "mean": float(a.mean()), "min": float(a.min())}


class _PeakMemory:
    """Peak memory growth over a block: CUDA allocator peak, or the process's peak RSS (VmHWM, reset via clear_refs)."""

    def __init__(self, device: Any) -> None:
        self.cuda = device.type == "cuda"
        self.device = device

    @staticmethod
    def _status_kib(field: str) -> int | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def __enter__(self) -> "_PeakMemory":
        import torch

        if self.cuda:
            torch.cuda.synchronize(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)
                self.start = self._status_kib("VmRSS")
            except OSError:
                import resource

                self.start = None  # fall back to ru_maxrss, which only grows when a new lifetime peak is set
                self.rusage_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.cuda:
            self.mib = (torch.cuda.max_memory_allocated(self.device) - self.start) / 2**20
            self.kind = "cuda_max_allocated_delta"
        elif self.start is not None:
            self.mib = max(0.0, ((self._status_kib("VmHWM") or 0) - self.start) / 1024)
            self.kind = "rss_peak_delta"
        else:
            import resource

            self.mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.rusage_start) / 1024
            self.kind = "ru_maxrss_delta"


def _time_network(engine: Any, thermal: Any, visible: Any, warmup: int, iters: int) -> float:
    """Median ms of ``engine.runner`` alone on the pair's prepared (1, 1, H, W) tensors."""
    import statistics

    import torch

    from ..colour import luminance

    dev = engine.device
    ir = (torch.from_numpy(thermal).float() / 255.0)[None, None].to(dev)
    vi = luminance(torch.from_numpy(visible).float() / 255.0)[None, None].contiguous().to(dev)
    times = []
    with torch.inference_mode():
        for i in range(warmup + iters):
            t0 = time.perf_counter()
            engine.runner(ir, vi)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def _bench_one(engine: Any, thermal: Any, visible: Any, warmup: int, iters: int) -> dict[str, Any]:
    import statistics

    for _ in range(warmup):
        engine.fuse(thermal, visible, "rgb")
    walls: list[float] = []
    stages: dict[str, list[float]] = {"pre": [], "network": [], "post": []}
    result = None
    with _PeakMemory(engine.device) as mem:
        for _ in range(iters):
            t0 = time.perf_counter()
            result = engine.fuse(thermal, visible, "rgb")
            walls.append((time.perf_counter() - t0) * 1000.0)
            for k in stages:
                stages[k].append(result.timings[k])
    lat = _percentiles(walls)
    return {"status": "ok", "latency_ms": lat, "throughput_pairs_per_s": 1000.0 / lat["mean"],
            "stages_ms": {k: statistics.median(v) for k, v in stages.items()},
            "peak_memory": {"kind": mem.kind, "mib": round(mem.mib, 2)},
            "thermal_coverage": round(result.thermal_coverage, 4)}


DETECT_KINDS = ("detection", "fusion+detection")


def _sizes(args: argparse.Namespace) -> list[tuple[int, int]]:
    """--scaling's set first, then --size's sizes not already in it; 640x480 when neither is given."""
    from ._bench_scaling import SIZE_SETS

    sizes = list(SIZE_SETS["scaling"]) if args.scaling else []
    sizes += [s for s in (args.size or []) if s not in sizes]
    return sizes or [(640, 480)]


def _detector(threads: int | None, square: bool) -> Any:
    """The timed YOLOX-nano detector, or the exception when onnxruntime or the model is missing (its rows say why)."""
    from ..errors import IvifError
    from ._bench_detect import TimedDetector

    try:
        return TimedDetector(threads, square)
    except (IvifError, ImportError) as exc:
        print(f"detector unavailable: {exc}")
        return exc


def _detection_rows(engine: Any, detector: Any, frames: tuple[Any, Any], warmup: int, iters: int,
                    base: dict[str, Any]) -> list[dict[str, Any]]:
    """The detection and fusion+detection rows of one backend and size (skipped/failed with the reason)."""
    from ..errors import IvifError
    from ._bench_detect import bench_fuse_and_detect

    if isinstance(detector, Exception):
        return [dict(base, kind=k, status="skipped", reason=f"detector: {detector}") for k in DETECT_KINDS]
    try:
        rows = bench_fuse_and_detect(engine, detector, *frames, warmup, iters,
                                     lambda: _PeakMemory(engine.device), _percentiles)
    except IvifError as exc:
        return [dict(base, kind=k, status="failed", reason=str(exc)) for k in DETECT_KINDS]
    return [dict(base, kind=k, **row) for k, row in zip(DETECT_KINDS, rows)]


def _calibration(args: argparse.Namespace) -> Any:
    """``--calibration``'s Calibration, or None; it fixes the sizes, so --size/--scaling cannot come with it."""
    if args.calibration is None:
        return None
    from ..calibration import load_calibration
    from ..errors import ConfigError

    if args.size or args.scaling:
        raise ConfigError("--calibration times the rig at the sizes it was calibrated for; leave out --size/--scaling")
    return load_calibration(args.calibration)


def _models(specs: list[str] | None) -> list[tuple[str, str | None]]:
    """``--model`` values as (name, path or None for the shipped model); a bare path is named by its file stem."""
    if not specs:
        return [("default", None)]
    models = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).stem, spec
        models.append((name, None if path == "default" else path))
    names = [n for n, _ in models]
    if len(set(names)) != len(names):
        from ..errors import ConfigError

        raise ConfigError(f"--model names must differ, got {names}; name them NAME=PATH")
    return models


def run(args: argparse.Namespace) -> int:
    import torch

    from ..engine import EngineConfig, create_engine
    from ..errors import IvifError
    from ..registration import RegistrationConfig
    from ._bench_input import find_bench_pair
    from ._bench_report import add_ratios, print_tables
    from ._bench_scaling import KINDS, add_per_megapixel, fit_scaling, print_per_megapixel

    warmup = args.warmup if args.warmup is not None else (QUICK_WARMUP if args.quick else 5)
    iters = args.iters if args.iters is not None else (QUICK_ITERS if args.quick else 50)
    if warmup < 0 or iters < 1:
        raise IvifError("--warmup must be >= 0 and --iters >= 1")
    if args.threads is not None and args.threads < 1:
        raise IvifError(f"--threads must be >= 1, got {args.threads}")
    from ._common import check_output_file

    check_output_file(args.json, "--json")
    models = _models(args.model)
    pair = find_bench_pair(*(args.pair or (None, None)))
    calibration = _calibration(args)
    if calibration is None:
        sizes = _sizes(args)
        frames_for = lambda size: pair.resized(*size)  # noqa: E731
        print(f"input: {pair.source}, resized to each size; device {args.device}; warm-up {warmup}, timed {iters}")
    else:  # the rig's two sizes; a row's size is the visible one (the output's)
        sizes = [calibration.visible_size]
        frames_for = lambda size: pair.rig(calibration.thermal_size, calibration.visible_size)  # noqa: E731
        (tw, th), (vw, vh) = calibration.thermal_size, calibration.visible_size
        print(f"input: {pair.source}, thermal resized to {tw}x{th}, visible to {vw}x{vh}, warped by {args.calibration}; "
              f"device {args.device}; warm-up {warmup}, timed {iters}")
    registration = calibration.registration() if calibration is not None else RegistrationConfig()
    if args.threads is not None:
        # torch too, whatever the backend: with onnxruntime it still does the pre/post-processing, and
        # ROS fusion_node runs it on one thread there (fusion_core.engine.auto.prepost_torch_threads)
        torch.set_num_threads(args.threads)
    detector = _detector(args.threads, args.square_detector) if args.detector else None

    results: list[dict[str, Any]] = []
    network: list[dict[str, Any]] = []
    for (model_name, model_path), backend, precision in itertools.product(models, args.backend, args.precision):
        label = backend if len(models) == 1 else f"{model_name}/{backend}"
        base = {"kind": "fusion", "model": model_name, "label": label, "backend": backend, "precision": precision,
                "device": args.device}
        try:
            t0 = time.perf_counter()
            engine = create_engine(EngineConfig(backend=backend, model_path=model_path, device=args.device,
                                                precision=precision, threads=args.threads, registration=registration))
            setup_s = time.perf_counter() - t0
        except (IvifError, ImportError) as exc:
            for w, h in sizes:
                results.append(dict(base, size=[w, h], status="skipped", reason=str(exc)))
                if args.detector:
                    results += [dict(base, kind=k, size=[w, h], status="skipped", reason=str(exc)) for k in DETECT_KINDS]
            continue
        extra = {"provider": getattr(engine.runner, "provider", None), "setup_s": round(setup_s, 3)}
        if calibration is not None:
            extra["thermal_size"] = list(calibration.thermal_size)
        for w, h in sizes:
            frames = frames_for((w, h))
            try:
                row = _bench_one(engine, *frames, warmup, iters)
            except IvifError as exc:
                row = {"status": "failed", "reason": str(exc)}
            results.append(dict(base, size=[w, h], **extra, **row))
            if args.detector:
                results += _detection_rows(engine, detector, frames, warmup, iters, dict(base, size=[w, h], **extra))
            if args.network_only and row["status"] == "ok":
                nw, nit = (1, 3) if args.quick else (3, 10)
                ms = _time_network(engine, *frames, nw, nit)
                network.append(dict(base, size=[w, h], median_ms=ms, warmup=nw, iters=nit))
        del engine
        if args.device == "cuda":
            torch.cuda.empty_cache()
    for kind in KINDS:
        add_ratios([r for r in results if r["kind"] == kind], "latency_ms", "p50")
    add_ratios(network, None, "median_ms")
    add_per_megapixel(results)
    fits = fit_scaling(results)
    print_tables(results, network)
    print_per_megapixel(results, fits)

    if args.json:
        meta = {"input": pair.source, "device": args.device, "warmup": warmup, "iters": iters, "threads": args.threads,
                "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
                "cpu_count": __import__("os").cpu_count(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "gpu": torch.cuda.get_device_name() if args.device == "cuda" and torch.cuda.is_available() else None,
                "size_convention": "WIDTHxHEIGHT", "sizes": [list(x) for x in sizes],
                "calibration": None if calibration is None else {"file": str(args.calibration),
                                                                 "thermal_size": list(calibration.thermal_size),
                                                                 "visible_size": list(calibration.visible_size)},
                "detector": None if detector is None else (f"unavailable: {detector}" if isinstance(detector, Exception)
                                                           else detector.describe())}
        try:
            import onnxruntime

            meta["onnxruntime"] = onnxruntime.__version__
        except ImportError:
            meta["onnxruntime"] = None
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "results": results, "network_only": network, "scaling_fit": fits},
                                        indent=2))
        print(f"wrote {args.json}")
    return 0 if any(r["status"] == "ok" for r in results) else 1
