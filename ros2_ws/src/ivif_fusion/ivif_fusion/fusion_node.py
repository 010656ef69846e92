"""fusion_node: pairs thermal and visible images by stamp, fuses them with fusion_core, publishes the result.

Subscribes ``thermal/image_raw`` (mono8, mono16, 8UC1, 16UC1, 32FC1) and ``visible/image_raw``
(rgb8, bgr8, 8UC3, rgba8, bgra8, mono8, 8UC1: :mod:`fusion_core.image_encodings`; a Bayer mosaic or YUV 4:2:2 is converted to bgr8,
:mod:`fusion_core.camera_formats`) with sensor-data QoS — or, with ``{thermal,visible}_transport:
compressed``, their ``/compressed`` topics (JPEG/PNG, :mod:`ivif_fusion.image_input`). Publishes
``fusion/image`` (the visible's encoding; mono8 for a grey visible), ``fusion/image/compressed`` (JPEG)
and ``fusion/alpha`` (mono8, α·255) — all with the visible frame's header; the last two only while they
have subscribers, so an unwatched output costs nothing —, ``fusion/camera_info`` (with
``publish_camera_info``: the visible camera's CameraInfo from ``visible/camera_info`` under that header,
:mod:`ivif_fusion.camera_info`), ``fusion/thermal_footprint`` (latched outline of what the thermal camera
sees, :mod:`ivif_fusion.footprint`) and ``/diagnostics``. With ``detector.enabled`` it also runs YOLOX on each
fused frame and publishes ``detections`` / ``detections/json`` / ``detections/image`` with the same
header (:mod:`ivif_fusion.inprocess_detection`), as a detector_node on ``fusion/image`` would.

Threads: subscription callbacks only convert (zero-copy), pair (:mod:`fusion_core.pairing`) and
hand the pair to a bounded :class:`~ivif_fusion.worker.LatestWorker`; the worker runs the engine
and publishes. Every frame that does not become an output is counted under one reason.

Clock jumps back (a bag looped, a simulation reset): a frame stamped more than
``stamp_jump_back_threshold`` before the newest frame of its input starts a new timeline — pairing
drops what was waiting (reason ``reset``) and the engine forgets its temporal state (thermal AGC)
before the first pair of the new timeline — so the frames after the jump fuse at once instead of
being dropped as ``late`` until the stamps catch up. Counted as ``stamp_resets``, one WARN each.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np
from fusion_core.errors import InputError
from fusion_core.pairing import DROP_REASONS, ApproximateTimePairer
from rclpy.node import Node

from .camera_info import COUNTERS as CAMERA_INFO_COUNTERS
from .camera_info import CameraInfoRelay
from .delivery import DeliveryMonitor
from .detector_tuning import retune_on_parameter_change
from .diagnostics import Counters, InputSilence, LatencyWindow, RateMeter, ThrottledLog, status_message, summarize
from .footprint import FootprintReport, polygon_message
from .image_conversion import ENCODINGS, THERMAL_ENCODINGS, VISIBLE_ENCODINGS, array_to_image, encoding_for, stamp_ns
from .image_input import compressed_message, decode, input_topic, message_type
from .inprocess_detection import COUNTERS as DETECTOR_COUNTERS
from .inprocess_detection import DetectorFailure, InProcessDetector
from .params import (DETECTOR_PREFIX, FUSION_DETECTOR_PARAMS, FUSION_PARAMS, FusionParams, declare, inprocess_detector_params,
                     model_path_errors, pipelined_thread_defaults, warn_undeclared_qos_overrides)
from .qos import describe, input_event_callbacks, input_qos, latched_qos, output_qos, publisher, subscription
from .stamp_offset import StampOffsetWatch
from .thermal_tuning import ThermalRangeCheck, retune_thermal_on_parameter_change, thermal_values
from .worker import LatestWorker

INPUTS = ("thermal", "visible")
COUNTERS = ("received_thermal", "received_visible", "bad_thermal", "bad_visible", "lost_dds_thermal", "lost_dds_visible",
            "pairs", "fused", "bad_pairs", "errors", "stamp_resets", "invalid_thermal_frames", "invalid_thermal_pixels",
            "compressed_published") + DETECTOR_COUNTERS + CAMERA_INFO_COUNTERS
LOG_THROTTLE_S = 5.0  # per kind of problem (diagnostics.ThrottledLog)


@dataclass
class Frame:
    """One decoded input: ``array`` may be a view on ``msg.data`` (kept alive by ``msg``)."""

    array: np.ndarray
    encoding: str  # the array's layout as a ROS encoding (a compressed frame's decoded one)
    msg: object  # sensor_msgs/Image or CompressedImage
    received: float  # time.monotonic() at the callback, s
    timeline: int  # stamp_resets when it arrived: pairs of a new timeline reset the engine first


class FusionNode(Node):
    """See the module docstring. Raises ConfigError (naming the parameter) when a parameter is invalid."""

    def __init__(self, node_name: str = "fusion_node", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        import torch
        from fusion_core.engine import create_engine
        from fusion_core.engine.auto import prepost_torch_threads
        from geometry_msgs.msg import PolygonStamped
        from sensor_msgs.msg import CompressedImage, Image

        from .detector_node import available_onnx_providers

        values = pipelined_thread_defaults(declare(self, FUSION_PARAMS + FUSION_DETECTOR_PARAMS))
        self.params = FusionParams.from_values(values, torch.cuda.is_available())
        detector_params = inprocess_detector_params(values, available_onnx_providers())
        with model_path_errors():
            self.engine = create_engine(self.params.engine_config())
        torch_threads = prepost_torch_threads(self.engine.backend, self.engine.device)
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        self._torch_threads = torch.get_num_threads()
        self.counters = Counters(COUNTERS)
        self._log = ThrottledLog(self.get_logger(), LOG_THROTTLE_S)
        self._thermal_range = ThermalRangeCheck(self.get_logger())
        self.detection: InProcessDetector | None = None
        if detector_params is not None:
            self.detection = InProcessDetector(self, detector_params, bool(values["detector.own_thread"]), self.counters,
                                               self._log)
        self._footprint = FootprintReport(self.engine.registrar,
                                          lambda level, text: getattr(self.get_logger(), level)(text))
        self._silence = InputSilence(INPUTS)
        self.latency_ms = LatencyWindow()  # completing input received -> published (node overhead + fusion)
        self.age_ms = LatencyWindow()  # visible stamp -> published, on this node's clock
        self.fuse_ms = LatencyWindow()  # engine.fuse alone
        self._rates = RateMeter()
        self._pair_lock = threading.Lock()
        self._pairer: ApproximateTimePairer[Frame] = ApproximateTimePairer(
            self.params.queue_size, self.params.slop, age_penalty=self.params.age_penalty,
            inter_message_lower_bound=self.params.inter_message_lower_bound)
        self._newest_stamp: list[int | None] = [None, None]  # per input, ns (under _pair_lock)
        self._stamp_offset = StampOffsetWatch(self.params.slop, self.params.thermal_stamp_offset,
                                              lambda text: self._log.log("warning", "stamp_offset", text))
        self._timeline = 0  # under _pair_lock
        self._engine_timeline = 0  # worker thread only
        self._last_problems = 0
        self._last_errors = 0

        self._fused_pub = publisher(self, Image, "fusion/image", output_qos())
        self._alpha_pub = publisher(self, Image, "fusion/alpha", output_qos()) if self.params.publish_alpha else None
        self._compressed_pub = (publisher(self, CompressedImage, "fusion/image/compressed", output_qos())
                                if self.params.publish_compressed else None)
        self._footprint_pub = (publisher(self, PolygonStamped, "fusion/thermal_footprint", latched_qos())
                               if self.params.publish_footprint else None)
        self._camera_info = CameraInfoRelay(self, self.counters, self._log) if self.params.publish_camera_info else None
        from diagnostic_msgs.msg import DiagnosticArray

        self._diag_pub = publisher(self, DiagnosticArray, "/diagnostics", output_qos(10))
        self._worker: LatestWorker[tuple[Frame, Frame]] = LatestWorker(
            self._fuse_pair, self.params.worker_queue_size, f"{node_name}_worker", self._on_worker_error)
        self._warm_up()  # before subscribing: the first camera frames find a warm engine
        # Frames published but never received (lost in transport, overwritten in a history) raise no DDS
        # event: they are counted from the writers' sequence numbers (MessageInfo) instead.
        self._delivery = (DeliveryMonitor(), DeliveryMonitor())
        qos = input_qos(self.params.input_reliability)  # history depth qos.INPUT_DEPTH, apart from the pairing queue
        transports = (self.params.thermal_transport, self.params.visible_transport)
        self._subs = [
            # two arguments (no default on info): rclpy then hands over the MessageInfo
            subscription(self, message_type(transports[i]), input_topic(f"{name}/image_raw", transports[i]),
                         lambda msg, info, i=i: self._on_image(i, msg, info), qos,
                         event_callbacks=input_event_callbacks(self, f"{name}/image_raw", self.counters, f"lost_dds_{name}"))
            for i, name in enumerate(INPUTS)
        ]
        self._timer = self.create_timer(self.params.diagnostics_period, self._publish_diagnostics)
        self.get_logger().info(
            f"fusing {self._subs[0].topic_name} + {self._subs[1].topic_name} -> {self._fused_pub.topic_name} with backend "
            f"{self.engine.backend} on {self.engine.device}, torch threads {self._torch_threads} (slop {self.params.slop} s, "
            f"queue {self.params.queue_size}, inputs {' / '.join(describe(sub.qos_profile) for sub in self._subs)}, "
            f"Fast DDS {_transport_summary()})")
        if self._camera_info is not None:
            self.get_logger().info("relaying the visible camera's CameraInfo {} -> {} with each fused frame's header"
                                   .format(*self._camera_info.topics))
        if self.params.homography is not None:
            sizes = self.params.calibrated_sizes
            self.get_logger().info(
                f"thermal -> visible homography {list(self.params.homography)}"
                + (f" for thermal {sizes[0][0]}x{sizes[0][1]} -> visible {sizes[1][0]}x{sizes[1][1]}" if sizes else
                   " (frame sizes not checked: no calibration.thermal_size/visible_size)")
                + (f", calibrated by {values['calibration.method']!r} with score {values['calibration.score']:.3f}"
                   if values["calibration.method"] else ""))
        if self.detection is not None:
            self.get_logger().info(
                f"detecting in-process with {self.detection.params.detector_config().resolved_model_path.name} "
                f"({', '.join(self.detection.params.providers)}, "
                f"{self.detection.detector.canvas}) on "
                f"{'its own thread' if values['detector.own_thread'] else 'the fusion worker'}")
        warn_undeclared_qos_overrides(self)
        retune_on_parameter_change(self, self.detection.detector if self.detection else None, DETECTOR_PREFIX)
        retune_thermal_on_parameter_change(self, self.engine)

    def _warm_up(self) -> None:
        """Run the engine (and the in-process detector) once on a blank pair before the first camera frame:
        cold, the first pairs of a stream were lost behind the newest-wins worker (the demo's bag lost its
        2nd and 3rd pair to the first pair's 245 ms). At the calibrated sizes when set (other sizes are
        refused), else WARM_UP_SIZE. A failure is logged, not fatal: the stream then pays the cost itself."""
        from fusion_core.engine.pipeline import WARM_UP_SIZE

        sizes = self.params.calibrated_sizes or (WARM_UP_SIZE, WARM_UP_SIZE)
        try:
            fusion_ms = self.engine.warm_up(*sizes)
            detect_ms = self.detection.detector.warm_up(sizes[1]) if self.detection is not None else 0.0
        except Exception as exc:  # noqa: BLE001 - any backend error; the first real frame reports it again if it persists
            self.get_logger().warning(f"warm-up at thermal {sizes[0]} / visible {sizes[1]} failed: {type(exc).__name__}: {exc}")
            return
        self.get_logger().info(f"warmed up: fusion {fusion_ms:.0f} ms" + (f", detection {detect_ms:.0f} ms" if self.detection else ""))

    # --- executor side: convert, pair, hand over -------------------------------------------------
    def _on_image(self, index: int, msg, info) -> None:
        name = INPUTS[index]
        received = time.monotonic()
        self.counters.add(f"received_{name}")
        self._delivery[index].on_message(info.get("publisher_gid"), info.get("publication_sequence_number"))
        self._silence.heard(name)
        try:
            array, encoding = decode(msg, THERMAL_ENCODINGS if index == 0 else VISIBLE_ENCODINGS, name)
        except InputError as exc:
            self.counters.add(f"bad_{name}")
            self._log.log("warning", f"bad_{name}", f"skipping bad {name} frame: {exc}")
            return
        stamp = self._stamp_offset.estimate.corrected(index, stamp_ns(msg.header.stamp))
        with self._pair_lock:
            jump = self._jumped_back(index, stamp)
            if jump is not None:
                waiting = self._start_new_timeline(index, stamp)
            self._stamp_offset.estimate.add(index, stamp)
            pairs = self._pairer.add(index, stamp, Frame(array, encoding, msg, received, self._timeline))
        if jump is not None:
            self.counters.add("stamp_resets")
            self.get_logger().warning(
                f"{name} stamp jumped back {jump / 1e9:.3f} s (more than stamp_jump_back_threshold "
                f"{self.params.stamp_jump_back_threshold} s): bag looped or clock reset; pairing and the engine's "
                f"temporal state start over ({waiting} waiting frame(s) dropped)")
        for pair in pairs:
            self.counters.add("pairs")
            self._worker.submit(pair)

    def _jumped_back(self, index: int, stamp: int) -> int | None:
        """How far (ns) ``stamp`` lies behind the newest stamp of its input, when that exceeds the threshold;
        else None (and the newest stamp is updated). Caller holds ``_pair_lock``."""
        newest = self._newest_stamp[index]
        if newest is not None and newest - stamp > self.params.stamp_jump_back_threshold * 1e9:
            return newest - stamp
        self._newest_stamp[index] = stamp if newest is None else max(newest, stamp)
        return None

    def _start_new_timeline(self, index: int, stamp: int) -> int:
        """Forget the old timeline: pairing drops what waits (returned), the other input's newest stamp is
        forgotten too (its first frame after the jump is not a second jump). Caller holds ``_pair_lock``."""
        self._newest_stamp = [None, None]
        self._newest_stamp[index] = stamp
        self._stamp_offset.estimate.reset()
        self._timeline += 1
        return self._pairer.reset()

    # --- worker side: fuse, publish ----------------------------------------------------------------
    def _fuse_pair(self, pair: tuple[Frame, Frame]) -> None:
        thermal, visible = pair
        if visible.timeline != self._engine_timeline:  # the first pair after a clock jump back
            self.engine.reset()  # temporal state (thermal AGC) of the old timeline
            self._engine_timeline = visible.timeline
        order = ENCODINGS[visible.encoding].order
        try:
            result = self.engine.fuse(thermal.array, visible.array, order)
        except InputError as exc:
            self.counters.add("bad_pairs")
            stamp = stamp_ns(visible.msg.header.stamp)
            self._log.log("warning", "bad_pairs", f"skipping pair at visible stamp {stamp} ns: {exc}")
            return
        self._thermal_range.check(thermal.array, self.engine.config.thermal)  # logged before the image goes out
        header = visible.msg.header
        encoding = encoding_for(result.fused, order)
        self._fused_pub.publish(array_to_image(result.fused, encoding, header))
        if self._compressed_pub is not None and self._compressed_pub.get_subscription_count():
            self._compressed_pub.publish(compressed_message(result.fused, encoding, header, self.params.jpeg_quality))
            self.counters.add("compressed_published")
        if self._alpha_pub is not None and self._alpha_pub.get_subscription_count():
            self._alpha_pub.publish(array_to_image(result.alpha, "mono8", header))
        if self._camera_info is not None:
            self._camera_info.publish(header, result.fused.shape[1], result.fused.shape[0])
        self.counters.add("fused")
        if (self._footprint.update(thermal.array.shape[:2], visible.array.shape[:2], result.thermal_coverage)
                and self._footprint_pub is not None):
            self._footprint_pub.publish(polygon_message(self._footprint.outline, header))
        if result.invalid_thermal:  # non-finite thermal pixels: fused as visible with alpha 0 (fusion_core.engine.validity)
            self.counters.add("invalid_thermal_frames")
            self.counters.add("invalid_thermal_pixels", result.invalid_thermal)
            self._log.log("warning", "invalid_thermal", f"thermal frame at {stamp_ns(thermal.msg.header.stamp)} ns has "
                          f"{result.invalid_thermal} non-finite pixel(s): fused as visible there (alpha 0)")
        now = time.monotonic()
        self.latency_ms.add((now - max(thermal.received, visible.received)) * 1000.0)
        self.age_ms.add((self.get_clock().now().nanoseconds - stamp_ns(header.stamp)) / 1e6)
        self.fuse_ms.add(result.timings["total"])
        if self.detection is not None:  # after the fused image is out and counted: detection never delays it
            self.detection.submit(result.fused, encoding, header)

    def _on_worker_error(self, exc: BaseException) -> None:
        if isinstance(exc, DetectorFailure) and self.detection is not None:
            self.detection.on_error(exc)  # fused and published; only its detection failed
            return
        self.counters.add("errors")
        self._log.log("error", "errors", f"fusion failed: {type(exc).__name__}: {exc}")

    # --- diagnostics --------------------------------------------------------------------------------
    def diagnostic_values(self) -> dict[str, object]:
        """Everything /diagnostics reports, as a flat dict (also handy for tests and the benchmark)."""
        counts = self.counters.snapshot()
        with self._pair_lock:
            stats = self._pairer.stats.as_dict()
            pending = [len(self._pairer.pending(i)) for i in (0, 1)]
            bounds_ms = [self._pairer.lower_bound_ns(i) / 1e6 for i in (0, 1)]
            values_offset_ms = self._stamp_offset.offset_ms()
        values: dict[str, object] = {"backend": self.engine.backend, "device": str(self.engine.device),
                                     "torch_threads": self._torch_threads, **thermal_values(self.engine)}
        rates = self._rates.rates({k: counts[k] for k in ("received_thermal", "received_visible", "pairs", "fused")})
        values.update({"rate_thermal_hz": rates["received_thermal"], "rate_visible_hz": rates["received_visible"],
                       "rate_pairs_hz": rates["pairs"], "rate_fused_hz": rates["fused"]})
        for label, window in (("latency", self.latency_ms), ("age", self.age_ms), ("fuse", self.fuse_ms)):
            p50, p99 = window.percentiles(50, 99)
            values[f"{label}_p50_ms"], values[f"{label}_p99_ms"] = p50, p99
        values.update(counts)
        unpaired = 0
        for i, name in enumerate(INPUTS):
            for reason in DROP_REASONS:
                values[f"unpaired_{name}_{reason}"] = stats["dropped"][i][reason]
                unpaired += stats["dropped"][i][reason]
            values[f"pending_{name}"] = pending[i]
            values[f"pairing_bound_{name}_ms"] = bounds_ms[i]
            values[f"pairing_bound_violations_{name}"] = stats["bound_violations"][i]
            delivery = self._delivery[i].snapshot()
            values[f"lost_seq_{name}"] = delivery["gaps"]  # published while matched, never received
            values[f"publishers_{name}"] = delivery["writers"]
        for name, seconds in self._silence.seconds().items():
            values[f"silence_{name}_s"] = seconds
        values["stamp_offset_ms"] = values_offset_ms  # median thermal - visible after thermal_stamp_offset
        values["dropped_worker"] = self._worker.dropped
        values.update(self._footprint.values())
        if self.detection is not None:  # fused = detected + detector_errors + dropped_detector (+ in flight)
            values.update(self.detection.values())
        # lost_dds_* (DDS events) and lost_seq_* count the same frames where both see them; the sequence
        # numbers see every one, so only they enter the total.
        values["dropped_total"] = (unpaired + self._worker.dropped + counts["bad_thermal"] + counts["bad_visible"]
                                   + int(values["lost_seq_thermal"]) + int(values["lost_seq_visible"]) + counts["bad_pairs"])
        return values

    def _publish_diagnostics(self) -> None:
        values = self.diagnostic_values()
        with self._pair_lock:
            self._stamp_offset.check(int(values["pairs"]), int(values["received_thermal"]), int(values["received_visible"]))
        problems, errors = int(values["dropped_total"]), int(values["errors"]) + int(values["detector_errors"])
        level, message = summarize(errors - self._last_errors, problems - self._last_problems,
                                   self._silence.silent(self.params.stale_timeout), f"fusing at {values['rate_fused_hz']:.1f} Hz")
        self._last_problems, self._last_errors = problems, errors
        self._diag_pub.publish(status_message(self.get_fully_qualified_name(), "fusion", level, message, values,
                                              self.get_clock().now().to_msg()))

    def destroy_node(self) -> None:
        """Stop the worker (finishing the pair in progress) before the publishers go away (see _runtime)."""
        worker = getattr(self, "_worker", None)
        if worker is not None:
            worker.stop()
        detection = getattr(self, "detection", None)
        if detection is not None:
            detection.stop()
        super().destroy_node()


def _transport_summary() -> str:
    """The Fast DDS transport set-up of this process, for the start-up log line."""
    profile, builtin = os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"), os.environ.get("FASTDDS_BUILTIN_TRANSPORTS")
    if profile:
        return f"profile {profile}" + (f" (FASTDDS_BUILTIN_TRANSPORTS={builtin} overrides its transports)" if builtin else "")
    if builtin:
        return f"builtin transports {builtin} (no image profile: large frames may stall, see the package README)"
    return "defaults (no image profile: large frames may stall, see the package README 'Transport')"


def main(args: list[str] | None = None) -> int:
    from ._runtime import run_node

    return run_node(FusionNode, "fusion_node", args)


if __name__ == "__main__":
    import sys

    sys.exit(main())
