"""detector_node: YOLOX (fusion_core.detection) on ``fusion/image``.

Publishes ``detections`` (vision_msgs/Detection2DArray, when vision_msgs is installed),
``detections/json`` (std_msgs/String, see :mod:`ivif_fusion.detection_msgs`; always published when
vision_msgs is missing, otherwise only with ``publish_json``), ``detections/image`` (the input with
labelled boxes, rgb8/bgr8; grey input comes back bgr8) and ``/diagnostics``. Output headers are the
input image's header. Inference runs on a worker thread behind a newest-wins hand-off.
"""

from __future__ import annotations

from fusion_core.engine.pipeline import WARM_UP_SIZE
from fusion_core.errors import InputError
from rclpy.node import Node

from .detection_output import DetectionOutputs, detect_and_publish
from .detector_tuning import retune_on_parameter_change, tuning_values
from .diagnostics import Counters, InputSilence, LatencyWindow, RateMeter, ThrottledLog, status_message, summarize
from .image_conversion import VISIBLE_ENCODINGS
from .image_input import decode, input_topic, message_type
from .params import DETECTOR_PARAMS, DetectorParams, declare, model_path_errors, warn_undeclared_qos_overrides
from .qos import input_event_callbacks, input_qos, output_qos, publisher, subscription
from .worker import LatestWorker

COUNTERS = ("received", "bad_frames", "lost_dds", "processed", "detections", "errors")
LOG_THROTTLE_S = 5.0  # per kind of problem (diagnostics.ThrottledLog)
INPUT = "fusion/image"


def available_onnx_providers() -> tuple[str, ...]:
    import onnxruntime as ort

    return tuple(ort.get_available_providers())


class DetectorNode(Node):
    """See the module docstring. Raises ConfigError (naming the parameter) when a parameter is invalid."""

    def __init__(self, node_name: str = "detector_node", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        from diagnostic_msgs.msg import DiagnosticArray
        from fusion_core.detection import Detector

        self.params = DetectorParams.from_values(declare(self, DETECTOR_PARAMS), available_onnx_providers())
        with model_path_errors():
            self.detector = Detector(self.params.detector_config())
        self.counters = Counters(COUNTERS)
        self._log = ThrottledLog(self.get_logger(), LOG_THROTTLE_S)
        self.detect_ms = LatencyWindow()
        self._rates = RateMeter()
        self._last_problems = 0
        self._last_errors = 0

        self._outputs = DetectionOutputs(self, self.params.publish_json, self.params.publish_image)
        self._vision = self._outputs.vision
        self._diag_pub = publisher(self, DiagnosticArray, "/diagnostics", output_qos(10))
        self._worker: LatestWorker = LatestWorker(self._detect, self.params.worker_queue_size, f"{node_name}_worker",
                                                  self._on_worker_error)
        # before subscribing: the first fused image finds a warm session (see FusionNode._warm_up), at the
        # usual camera size (the rectangular canvas depends on the image's aspect ratio)
        warm_ms = self.detector.warm_up(WARM_UP_SIZE)
        qos = input_qos(self.params.input_reliability, 1)
        transport = self.params.input_transport
        self._sub = subscription(self, message_type(transport), input_topic(INPUT, transport), self._on_image, qos,
                                 event_callbacks=input_event_callbacks(self, INPUT, self.counters, "lost_dds"))
        self._silence = InputSilence((self._sub.topic_name,))  # named as resolved (namespace, remapping)
        self._timer = self.create_timer(self.params.diagnostics_period, self._publish_diagnostics)
        self.get_logger().info(f"detecting on {self._sub.topic_name} with {self.params.detector_config().resolved_model_path.name} "
                               f"({', '.join(self.params.providers)}), "
                               f"{self.detector.canvas}, warmed up in {warm_ms:.0f} ms")
        warn_undeclared_qos_overrides(self)
        retune_on_parameter_change(self, self.detector)

    def _on_image(self, msg) -> None:
        self.counters.add("received")
        self._silence.heard(self._sub.topic_name)
        try:
            array, encoding = decode(msg, VISIBLE_ENCODINGS, INPUT)
        except InputError as exc:
            self.counters.add("bad_frames")
            self._log.log("warning", "bad_frames", f"skipping bad image: {exc}")
            return
        self._worker.submit((array, encoding, msg))

    def _detect(self, item) -> None:
        array, encoding, msg = item
        found, detect_ms = detect_and_publish(self.detector, self._outputs, array, encoding, msg.header)
        self.detect_ms.add(detect_ms)
        self.counters.add("processed")
        self.counters.add("detections", found)

    def _on_worker_error(self, exc: BaseException) -> None:
        self.counters.add("errors")
        self._log.log("error", "errors", f"detection failed: {type(exc).__name__}: {exc}")

    def diagnostic_values(self) -> dict[str, object]:
        counts = self.counters.snapshot()
        rates = self._rates.rates({"received": counts["received"], "processed": counts["processed"]})
        p50, p99 = self.detect_ms.percentiles(50, 99)
        values: dict[str, object] = {"rate_input_hz": rates["received"], "rate_processed_hz": rates["processed"],
                                     "detect_p50_ms": p50, "detect_p99_ms": p99, "vision_msgs": self._vision is not None}
        values.update(counts)
        values["silence_input_s"] = self._silence.seconds()[self._sub.topic_name]
        values["dropped_worker"] = self._worker.dropped
        values["dropped_total"] = self._worker.dropped + counts["bad_frames"] + counts["lost_dds"]
        values.update(tuning_values(self.detector))
        return values

    def _publish_diagnostics(self) -> None:
        values = self.diagnostic_values()
        problems, errors = int(values["dropped_total"]), int(values["errors"])
        level, message = summarize(errors - self._last_errors, problems - self._last_problems,
                                   self._silence.silent(self.params.stale_timeout),
                                   f"detecting at {values['rate_processed_hz']:.1f} Hz", what="image(s)")
        self._last_problems, self._last_errors = problems, errors
        self._diag_pub.publish(status_message(self.get_fully_qualified_name(), "detector", level, message, values,
                                              self.get_clock().now().to_msg()))

    def destroy_node(self) -> None:
        worker = getattr(self, "_worker", None)
        if worker is not None:
            worker.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    from ._runtime import run_node

    return run_node(DetectorNode, "detector_node", args)


if __name__ == "__main__":
    import sys

    sys.exit(main())
