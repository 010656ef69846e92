"""fusion_node's in-process detector: YOLOX on each fused frame, without the ``fusion/image`` hop to a
separate detector_node (``detector.enabled``; detector_node stays for graphs that want it apart).

Where it runs (``detector.own_thread``):

* true (default): on a second newest-wins worker (capacity 1), so fusion of the next pair overlaps
  detection of this one; a fused frame replaced while it waited is counted as ``dropped_detector``.
  With one thread for detection and the rest for fusion (``params.pipelined_thread_defaults``) this
  keeps 30 Hz at 640x480 on 2 cores, where the single worker below reaches about 24 Hz (package README,
  "End to end with detection");
* false: on the fusion worker, right after the fused frame is published — one thread, so a pair's
  detections follow its fused image at once, and the next pair waits for both (fusion + detection
  is the per-pair cost the newest-wins fusion worker sees).

Accounting, in fusion_node's /diagnostics: every fused frame is ``detected`` (its detections were
published: ``detections`` counts the boxes), or counted as ``detector_errors`` (the detector raised;
logged with throttling) or ``dropped_detector`` (own thread only), or is the one in flight:

    fused = detected + detector_errors + dropped_detector (+ in flight)
"""

from __future__ import annotations

import numpy as np

from .detection_output import DetectionOutputs, detect_and_publish
from .detector_tuning import tuning_values
from .diagnostics import Counters, LatencyWindow, ThrottledLog
from .image_conversion import stamp_ns
from .params import DETECTOR_PREFIX, DetectorParams, model_path_errors
from .worker import LatestWorker

COUNTERS = ("detected", "detections", "detector_errors")


class DetectorFailure(Exception):
    """A detector error raised out of the fusion worker (same-thread mode), so the worker's own error path —
    which knows whether the node is shutting down — reports it; ``__cause__`` is the detector's exception."""


class InProcessDetector:
    """The detector stage of ``node`` (a FusionNode): model, publishers, counters in ``counters``.

    ``submit`` is called on the fusion worker with each fused frame; raises ConfigError naming
    ``detector.model_path`` when the model file cannot be loaded."""

    def __init__(self, node, params: DetectorParams, own_thread: bool, counters: Counters, log: ThrottledLog) -> None:
        from fusion_core.detection import Detector

        with model_path_errors(f"{DETECTOR_PREFIX}model_path"):
            self.detector = Detector(params.detector_config())
        self.params = params
        self._node = node
        self._counters = counters
        self._log = log
        self.outputs = DetectionOutputs(node, params.publish_json, params.publish_image)
        self.detect_ms = LatencyWindow()  # Detector.detect alone
        self.age_ms = LatencyWindow()  # visible stamp -> detections published, on the node's clock
        self._worker: LatestWorker[tuple[np.ndarray, str, object]] | None = None
        if own_thread:
            self._worker = LatestWorker(self._detect, 1, f"{node.get_name()}_detector", self.on_error)

    def submit(self, fused: np.ndarray, encoding: str, header) -> None:
        """Detect on ``fused`` (the array published on fusion/image with ``encoding`` and ``header``)."""
        if self._worker is not None:
            self._worker.submit((fused, encoding, header))
            return
        try:
            self._detect((fused, encoding, header))
        except Exception as exc:  # noqa: BLE001 - reported by the fusion worker's error path (see DetectorFailure)
            raise DetectorFailure(f"{type(exc).__name__}: {exc}") from exc

    def _detect(self, item: tuple[np.ndarray, str, object]) -> None:
        fused, encoding, header = item
        found, detect_ms = detect_and_publish(self.detector, self.outputs, fused, encoding, header)
        self.detect_ms.add(detect_ms)
        self._counters.add("detected")
        self._counters.add("detections", found)
        self.age_ms.add((self._node.get_clock().now().nanoseconds - stamp_ns(header.stamp)) / 1e6)

    def on_error(self, exc: BaseException) -> None:
        """Count and log (throttled) one failed detection."""
        self._counters.add("detector_errors")
        cause = exc.__cause__ if isinstance(exc, DetectorFailure) and exc.__cause__ is not None else exc
        self._log.log("error", "detector_errors", f"detection failed: {type(cause).__name__}: {cause}")

    @property
    def dropped(self) -> int:
        """Fused frames replaced while waiting for the detector thread (0 in same-thread mode)."""
        return self._worker.dropped if self._worker is not None else 0

    def values(self) -> dict[str, object]:
        """The detector's /diagnostics values besides its counters."""
        values: dict[str, object] = {"detector_own_thread": self._worker is not None, "vision_msgs": self.outputs.vision is not None}
        for label, window in (("detect", self.detect_ms), ("detections_age", self.age_ms)):
            p50, p99 = window.percentiles(50, 99)
            values[f"{label}_p50_ms"], values[f"{label}_p99_ms"] = p50, p99
        values["dropped_detector"] = self.dropped
        values.update({f"detector_{name}": value for name, value in tuning_values(self.detector).items()})
        return values

    def stop(self) -> None:
        """Stop the detector thread (own-thread mode; the frame in progress finishes and publishes)."""
        if self._worker is not None:
            self._worker.stop()
