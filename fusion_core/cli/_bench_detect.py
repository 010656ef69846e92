"""``ivif bench --detector``: YOLOX-nano on each fused image, timed like the fusion rows.

Per (backend, precision, size) one loop of ``--warmup`` untimed and ``--iters`` timed iterations, each
``engine.fuse`` then ``Detector.detect`` on its fused image, gives two rows:

* ``detection``: the ``detect`` call alone (wall ms), split into pre (colour conversion + letterbox to
  the canvas: rectangular by default, 416 × 320 for 4:3, or the 416 × 416 square with ``square``),
  network (the ONNX Runtime session) and post (decode, class mapping, per-class NMS, boxes back to
  image pixels);
* ``fusion+detection``: fuse + detect per pair (wall ms), its pre/network/post the sums of both stages.

:class:`~fusion_core.detection.Detector` has no stage timings of its own; the split comes from a runner
wrapped around its ONNX Runtime session (``Detector(config, runner=...)``), which stamps the moments the
network starts and ends: pre = call start -> network start, post = network end -> call end. The
detector's code and results are unchanged.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np


class _TimedRunner:
    """A HeadRunner that remembers when its last call started and ended (``time.perf_counter`` s)."""

    def __init__(self, runner: Callable[[np.ndarray], np.ndarray]) -> None:
        self._runner = runner
        self.rectangular = getattr(runner, "rectangular", False)  # the canvas the wrapped session takes
        self.start = self.end = 0.0

    def __call__(self, batch: np.ndarray) -> np.ndarray:  # (1, 3, Hc, Wc) float32 -> (1, N, 5 + C)
        self.start = time.perf_counter()
        out = self._runner(batch)
        self.end = time.perf_counter()
        return out


class TimedDetector:
    """The default YOLOX-nano detector on ONNX Runtime (``threads`` intra-op threads, None = its default),
    whose ``detect`` also returns the (pre, network, post) split in ms."""

    def __init__(self, threads: int | None = None, square: bool = False) -> None:
        from ..detection import Detector, DetectorConfig, onnx_runner

        self.config = DetectorConfig(threads=threads, rectangular=not square)
        self._timed = _TimedRunner(onnx_runner(self.config))
        self.detector = Detector(self.config, runner=self._timed)

    def describe(self) -> dict[str, Any]:
        return {"model": self.config.resolved_model_path.name, "runtime": "onnxruntime",
                "providers": list(self.config.providers), "input_size": self.config.input_size,
                "rectangular": self.detector.rectangular}

    def detect(self, image: np.ndarray, order: str) -> tuple[int, dict[str, float]]:
        """(number of detections, {'pre', 'network', 'post', 'total'} ms) for one uint8 image."""
        t0 = time.perf_counter()
        found = self.detector.detect(image, order)
        t1 = time.perf_counter()
        ms = {"pre": (self._timed.start - t0) * 1000.0, "network": (self._timed.end - self._timed.start) * 1000.0,
              "post": (t1 - self._timed.end) * 1000.0, "total": (t1 - t0) * 1000.0}
        return len(found), ms


STAGES = ("pre", "network", "post")


def bench_fuse_and_detect(engine: Any, detector: TimedDetector, thermal: np.ndarray, visible: np.ndarray,
                          warmup: int, iters: int, memory: Callable[[], AbstractContextManager[Any]],
                          percentiles: Callable[[list[float]], dict[str, float]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(detection row, fusion+detection row) of one pair (thermal (H, W), visible (H, W, 3) uint8), without
    the backend/size labels; ``memory()`` is the peak-memory probe, ``percentiles`` the bench's."""
    for _ in range(warmup):
        detector.detect(engine.fuse(thermal, visible, "rgb").fused, "rgb")
    det_wall: list[float] = []
    both_wall: list[float] = []
    det_stages: dict[str, list[float]] = {k: [] for k in STAGES}
    both_stages: dict[str, list[float]] = {k: [] for k in STAGES}
    counts: list[int] = []
    with memory() as mem:
        for _ in range(iters):
            t0 = time.perf_counter()
            result = engine.fuse(thermal, visible, "rgb")
            n, ms = detector.detect(result.fused, "rgb")
            both_wall.append((time.perf_counter() - t0) * 1000.0)
            det_wall.append(ms["total"])
            counts.append(n)
            for k in STAGES:
                det_stages[k].append(ms[k])
                both_stages[k].append(ms[k] + result.timings[k])
    peak = {"kind": mem.kind, "mib": round(mem.mib, 2)}
    rows = []
    for wall, stages in ((det_wall, det_stages), (both_wall, both_stages)):
        lat = percentiles(wall)
        rows.append({"status": "ok", "latency_ms": lat, "throughput_pairs_per_s": 1000.0 / lat["mean"],
                     "stages_ms": {k: statistics.median(v) for k, v in stages.items()}, "peak_memory": peak})
    rows[0].update(detector=detector.describe(), detections_per_image=statistics.median(counts))
    return rows[0], rows[1]
