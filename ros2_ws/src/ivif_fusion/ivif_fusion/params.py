"""Node parameters: one table per node (name, default, description, range/choices), declared with
``ParameterDescriptor``\\ s, read once into frozen dataclasses, validated at start-up.

Every parameter is ``read_only`` except the detector's ``score_threshold``, ``nms_iou`` and ``classes``
(``runtime=True``, applied while running by :mod:`ivif_fusion.detector_tuning`) and fusion_node's thermal
normalisation ``thermal_*`` (:mod:`ivif_fusion.thermal_tuning`): the nodes read the others
once, so a later ``ros2 param set`` would be silently ignored; read-only makes rclpy refuse it instead. rclpy itself enforces types and numeric
ranges at declaration; choices and cross-field rules are checked here. Any violation raises
:class:`fusion_core.errors.ConfigError` naming the parameter, which stops the node's start-up.

fusion_node can also run the detector itself (:data:`FUSION_DETECTOR_PARAMS`: ``detector.enabled``
and the detector settings of :data:`DETECTOR_PARAMS` that apply in-process, declared from the same
specs under a ``detector.`` prefix and validated by the same :class:`DetectorParams`).

The defaults here are also the values in ``config/fusion.yaml`` and ``config/detector.yaml`` (a
test keeps them equal). Topic names are not parameters: remap ``thermal/image_raw``,
``visible/image_raw``, ``fusion/image`` … as usual.
"""

from __future__ import annotations

import difflib
import math
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Iterator

from fusion_core.errors import ConfigError, ModelFileError

from .image_input import TRANSPORTS

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
RELIABILITIES = ("reliable", "best_effort")
NODE_DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter. ``bounds``: inclusive numeric range; ``choices``: allowed strings."""

    name: str
    default: Any
    description: str
    bounds: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    dynamic_typing: bool = False  # for arrays that may be given empty ([] in YAML has no type)
    runtime: bool = False  # may be changed while the node runs (ros2 param set); else read once, read-only


FUSION_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("slop", 0.02, "largest stamp difference (s) of a thermal/visible pair; keep below half the frame period", (0.0, 10.0)),
    ParamSpec("queue_size", 5, "frames kept per input while waiting for a partner (approximate-time pairing)", (1, 1000)),
    ParamSpec("inter_message_lower_bound_thermal", -1.0,
              "smallest gap (s) between consecutive thermal stamps; lets a pair out without waiting for the next thermal "
              "frame. < 0 = learn it from the stamps (0.8 x the smallest of the last 32 gaps), 0 = none (a pair may wait "
              "one thermal frame period)", (-1.0, 10.0)),
    ParamSpec("inter_message_lower_bound_visible", -1.0,
              "smallest gap (s) between consecutive visible stamps; < 0 = learn it from the stamps, 0 = none", (-1.0, 10.0)),
    ParamSpec("thermal_stamp_offset", 0.0, "seconds added to every thermal stamp before pairing, for cameras that stamp "
              "at different moments (a thermal core whose stamps are 40 ms late: -0.04; the node warns with the value "
              "when stamps keep pairs from forming); the published images keep the visible stamp", (-10.0, 10.0)),
    ParamSpec("age_penalty", 0.0, "pairing: weight against a partner newer than the pivot frame (message_filters "
              "ApproximateTime); 0 = the narrowest pair wins", (0.0, 10.0)),
    ParamSpec("input_reliability", "reliable",
              "QoS reliability of both image subscriptions: 'reliable' (no DDS drops; needs a reliable publisher) or "
              "'best_effort' (matches any publisher; large images drop on default Fast DDS UDP, see README)",
              choices=RELIABILITIES),
    ParamSpec("thermal_transport", "raw", "thermal input: 'raw' (sensor_msgs/Image on thermal/image_raw) or 'compressed' "
              "(sensor_msgs/CompressedImage, JPEG/PNG, on thermal/image_raw/compressed; PNG keeps 16-bit counts)",
              choices=TRANSPORTS),
    ParamSpec("visible_transport", "raw", "visible input: 'raw' (visible/image_raw) or 'compressed' "
              "(visible/image_raw/compressed, JPEG/PNG: decoded on the CPU, every frame)", choices=TRANSPORTS),
    ParamSpec("backend", "auto", "inference backend that runs the network: 'auto' = tensorrt (if importable) or torch on "
              "a CUDA device, onnxruntime on the CPU; tensorrt needs device cuda",
              choices=("auto", "torch", "onnxruntime", "tensorrt")),
    ParamSpec("model_path", "", "checkpoint (.pt, torch) or ONNX file; '' = the shipped default model"),
    ParamSpec("device", "auto", "inference device; 'auto' = cuda when available, else cpu", choices=NODE_DEVICES),
    ParamSpec("precision", "fp32", "network precision; fp16 needs a CUDA device", choices=("fp32", "fp16")),
    ParamSpec("threads", 0, "CPU intra-op threads of the network (torch or ONNX Runtime); 0 = torch's default, or "
              "for ONNX Runtime the CPUs this process may use (unpinned)", (0, 256)),
    ParamSpec("thermal_policy", "fixed", "thermal normalisation: 'fixed' range or 'percentile' AGC with temporal smoothing; "
              "the thermal_* parameters may be changed while running", choices=("fixed", "percentile"), runtime=True),
    ParamSpec("thermal_low", 0.0, "fixed policy: raw thermal value mapped to 0 (equal low and high = the dtype's full range)",
              (-1e9, 1e9), runtime=True),
    ParamSpec("thermal_high", 0.0, "fixed policy: raw thermal value mapped to 1 (equal low and high = the dtype's full range)",
              (-1e9, 1e9), runtime=True),
    ParamSpec("thermal_p_low", 1.0, "percentile policy: lower percentile, %", (0.0, 100.0), runtime=True),
    ParamSpec("thermal_p_high", 99.0, "percentile policy: upper percentile, %", (0.0, 100.0), runtime=True),
    ParamSpec("thermal_smoothing", 0.9, "percentile policy: weight of the previous bounds per frame, [0, 1)", (0.0, 0.999),
              runtime=True),
    ParamSpec("homography", list(IDENTITY),
              "row-major 3x3 homography mapping thermal pixels to visible pixels (9 numbers); identity or empty = none",
              dynamic_typing=True),
    ParamSpec("calibration.thermal_size", [0, 0],
              "[width, height] of the thermal frames the homography was estimated for (written by ivif calibrate); "
              "other frame sizes are then refused as bad pairs instead of fused misaligned; [0, 0] = not checked"),
    ParamSpec("calibration.visible_size", [0, 0],
              "[width, height] of the visible frames the homography was estimated for; [0, 0] = not checked"),
    ParamSpec("calibration.score", -1.0, "alignment score ivif calibrate reported (0-1; logged at start-up); < 0 = none",
              (-1.0, 1.0)),
    ParamSpec("calibration.method", "", "how the homography was made (ivif calibrate writes it; logged at start-up)"),
    ParamSpec("alpha_smoothing", 0.0,
              "weight of the previous frame's alpha in a motion-aware temporal smoothing (0 = off); steadies alpha "
              "under noise and thermal gain steps without lagging moving targets (docs/temporal.md); reset with the AGC",
              (0.0, 0.999)),
    ParamSpec("alpha_motion_threshold", 0.02,
              "alpha smoothing: local input change (luminance, [0, 1] scale) treated as motion, where alpha follows "
              "the current frame at once; raise it for noisy sensors", (0.001, 1.0)),
    ParamSpec("allow_resize", True, "without a homography, resize a thermal frame of another size to the visible size"),
    ParamSpec("max_aspect_change", 0.1, "largest relative aspect-ratio change allowed when resizing", (0.0, 10.0)),
    ParamSpec("publish_alpha", True, "publish fusion/alpha (mono8, alpha*255; 255 = all thermal) while it has subscribers"),
    ParamSpec("publish_compressed", True,
              "publish fusion/image/compressed (JPEG, image_transport's compressed format) for remote viewers; encoded "
              "only while it has subscribers"),
    ParamSpec("jpeg_quality", 95, "JPEG quality of fusion/image/compressed (image_transport's default 95)", (1, 100)),
    ParamSpec("publish_camera_info", True,
              "republish the visible camera's CameraInfo (visible/camera_info) as fusion/camera_info with each fused "
              "frame's header: the fused image and alpha are in the visible camera's geometry"),
    ParamSpec("publish_footprint", True,
              "publish fusion/thermal_footprint (geometry_msgs/PolygonStamped, latched): the outline of the part of the "
              "visible frame the thermal camera sees, in visible pixels, whenever it changes"),
    ParamSpec("worker_queue_size", 1, "pairs waiting for the fusion worker; when full the oldest is dropped (1 = newest wins)",
              (1, 100)),
    ParamSpec("diagnostics_period", 1.0, "seconds between /diagnostics messages", (0.05, 3600.0)),
    ParamSpec("stale_timeout", 2.0, "an input silent for longer than this (s) turns /diagnostics to WARN, naming it",
              (0.1, 3600.0)),
    ParamSpec("stamp_jump_back_threshold", 1.0,
              "a frame stamped more than this (s) before the newest frame of its input means the clock jumped back "
              "(bag looped, simulation reset): pairing and the engine's temporal state (thermal AGC) start over; "
              "keep it above any reordering of the inputs", (0.001, 86400.0)),
)

DETECTOR_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("model_path", "", "YOLOX ONNX file; '' = the shipped YOLOX-nano (COCO)"),
    ParamSpec("device", "auto", "'cuda' uses ONNX Runtime's CUDA provider; 'auto' = CUDA when that provider is available",
              choices=NODE_DEVICES),
    ParamSpec("threads", 0, "ONNX Runtime intra-op threads (0 = the CPUs this process may use, unpinned)", (0, 256)),
    ParamSpec("input_size", 416, "side of the square letterbox the model takes, pixels (multiple of 32)", (32, 4096)),
    ParamSpec("rectangular", True, "letterbox onto the scaled image rounded up to multiples of 32 (416x320 for 4:3) "
              "instead of the full square: about 25 % less detector time, same scale"),
    ParamSpec("score_threshold", 0.3, "minimum objectness x class score of a published detection; may be changed "
              "while running", (0.0, 1.0), runtime=True),
    ParamSpec("nms_iou", 0.65, "IoU above which a lower-scored box of the same class is suppressed; may be changed "
              "while running", (0.01, 1.0), runtime=True),
    ParamSpec("classes", ["person", "bicycle", "car"], "COCO class names to keep (class_id = position); empty = all 80; "
              "may be changed while running", dynamic_typing=True, runtime=True),
    ParamSpec("input_reliability", "reliable", "QoS reliability of the fusion/image subscription", choices=RELIABILITIES),
    ParamSpec("input_transport", "raw", "'raw' (fusion/image) or 'compressed' (fusion/image/compressed, JPEG: for a "
              "detector on another machine than fusion_node, e.g. over Wi-Fi)", choices=TRANSPORTS),
    ParamSpec("publish_image", True, "publish detections/image (the input with labelled boxes)"),
    ParamSpec("publish_json", False, "also publish detections/json (std_msgs/String) when vision_msgs is installed; "
              "without vision_msgs it is always published instead of detections"),
    ParamSpec("worker_queue_size", 1, "images waiting for the detector; when full the oldest is dropped", (1, 100)),
    ParamSpec("diagnostics_period", 1.0, "seconds between /diagnostics messages", (0.05, 3600.0)),
    ParamSpec("stale_timeout", 2.0, "fusion/image silent for longer than this (s) turns /diagnostics to WARN",
              (0.1, 3600.0)),
)


DETECTOR_PREFIX = "detector."
# The detector_node settings that also apply to fusion_node's in-process detector (the others are about
# detector_node's own subscription, worker and diagnostics, which fusion_node has already).
INPROCESS_DETECTOR_SETTINGS = ("model_path", "device", "threads", "input_size", "rectangular", "score_threshold", "nms_iou",
                               "classes", "publish_image", "publish_json")
_INPROCESS_DEFAULTS = {"publish_image": False}  # in-process: the annotated image costs the fusion worker, so opt in

FUSION_DETECTOR_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("detector.enabled", False,
              "run the detector (YOLOX, as detector_node does) on every fused frame inside fusion_node and publish "
              "detections, detections/json, detections/image with the pair's visible header; saves the fusion/image hop "
              "to a separate detector_node"),
    ParamSpec("detector.own_thread", True,
              "run the in-process detector on a second newest-wins worker thread (fusion of the next pair overlaps "
              "detection of this one; a fused frame replaced while it waits is counted as dropped_detector); false: "
              "detect right after fusion on the fusion worker. With it, 'detector.threads' at 0 means 1: detection holds "
              "one core, fusion uses the rest"),
) + tuple(replace(s, name=DETECTOR_PREFIX + s.name, default=_INPROCESS_DEFAULTS.get(s.name, s.default))
          for s in DETECTOR_PARAMS if s.name in INPROCESS_DETECTOR_SETTINGS)


def pipelined_thread_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """fusion_node's values with 'detector.threads' at 0 (auto) set to 1 when the in-process detector runs
    on its own thread. Detection then holds one core and fusion, the slower stage, keeps a pool of all
    the CPUs (unpinned, see fusion_core.engine.onnx_backend.session_options) and takes what detection
    leaves free. Measured on 2 cores, 30 Hz 640x480, ``python -m ivif_fusion.e2e``, 2 min each: 3601 of
    3601 pairs fused and detected, camera -> detections p99 62 and 68 ms, against 3573-3588 pairs and
    p99 88-101 ms with one thread for fusion too."""
    detector = DETECTOR_PREFIX + "threads"
    if not (values[DETECTOR_PREFIX + "enabled"] and values[DETECTOR_PREFIX + "own_thread"]) or values[detector]:
        return values
    return {**values, detector: 1}


def declare(node, specs: tuple[ParamSpec, ...]) -> dict[str, Any]:
    """Declare every parameter of ``specs`` on ``node``; returns name -> value. ConfigError on a bad value."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    from rclpy.exceptions import ParameterException

    values: dict[str, Any] = {}
    for spec in specs:
        constraints = f"one of: {', '.join(spec.choices)}" if spec.choices else ""
        descriptor = ParameterDescriptor(description=spec.description, read_only=not spec.runtime,
                                         additional_constraints=constraints, dynamic_typing=spec.dynamic_typing)
        if spec.bounds is not None and isinstance(spec.default, int) and not isinstance(spec.default, bool):
            descriptor.integer_range = [IntegerRange(from_value=int(spec.bounds[0]), to_value=int(spec.bounds[1]), step=0)]
        elif spec.bounds is not None:
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(spec.bounds[0]), to_value=float(spec.bounds[1]), step=0.0)]
        try:
            value = node.declare_parameter(spec.name, spec.default, descriptor).value
        except ParameterException as exc:
            raise ConfigError(f"parameter {spec.name!r}: {exc}") from exc
        if spec.choices and value not in spec.choices:
            raise ConfigError(f"parameter {spec.name!r} is {value!r}; valid values: {', '.join(spec.choices)}")
        values[spec.name] = value
    for message in undeclared_messages(undeclared_overrides(node), [spec.name for spec in specs]):
        node.get_logger().warning(message)
    return values


# Overrides that ROS itself reads later (per-topic QoS, declared when a publisher or subscription is made).
QOS_OVERRIDES = "qos_overrides."
ROS_OWNED_PREFIXES = (QOS_OVERRIDES,)


def undeclared_overrides(node, ros_owned: bool = False) -> list[str]:
    """Names given to ``node`` (``-p``, ``--params-file``, ``parameter_overrides``) that it has not declared:
    its own parameters, or with ``ros_owned`` the ``qos_overrides.*`` ones (declared only as topics are made).

    Why: ROS 2 ignores such a value without a word, so a typo (``slopp``) or a wrong prefix
    (``detector.detector.input_size``) would leave the node running on its default while the user believes
    otherwise. rclpy keeps every override it was given in ``Node._parameter_overrides`` (no public accessor
    in rclpy; an rclpy without it gives an empty list, so the check is skipped rather than wrong)."""
    overrides = getattr(node, "_parameter_overrides", None) or {}
    return sorted(n for n in overrides if n.startswith(ROS_OWNED_PREFIXES) == ros_owned and not node.has_parameter(n))


def warn_undeclared_qos_overrides(node) -> list[str]:
    """Warn about each ``qos_overrides.*`` value that no publisher or subscription of ``node`` declared; call it
    once every entity exists (:mod:`ivif_fusion.qos` declares them as each is made). Returns the warnings.

    Why: like any undeclared parameter ROS ignores it without a word, and a QoS override is easy to get
    wrong (the topic must be the resolved one, with its leading '/', namespace and remapping; only history,
    depth and reliability are overridable)."""
    given = undeclared_overrides(node, ros_owned=True)
    declared = [QOS_OVERRIDES + n for n in node.get_parameters_by_prefix(QOS_OVERRIDES.rstrip("."))]
    messages = [message + "; only history, depth and reliability of the node's own topics can be overridden"
                for message in undeclared_messages(given, declared)]
    for message in messages:
        node.get_logger().warning(message)
    return messages


def undeclared_messages(names: list[str], declared: list[str]) -> list[str]:
    """One warning per undeclared override, naming the nearest declared parameter when one is close."""
    messages = []
    for name in names:
        close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
        messages.append(f"parameter {name!r} is not a parameter of this node and is ignored"
                        + (f"; did you mean {close[0]!r}?" if close else ""))
    return messages


@dataclass(frozen=True)
class FusionParams:
    """fusion_node's parameters after validation (see :data:`FUSION_PARAMS` for meanings and units)."""

    slop: float
    queue_size: int
    inter_message_lower_bound: tuple[float | None, float | None]  # (thermal, visible) s; None = learn from stamps
    thermal_stamp_offset: float  # s, added to thermal stamps before pairing
    age_penalty: float
    input_reliability: str
    thermal_transport: str
    visible_transport: str
    backend: str
    model_path: str | None
    device: str  # resolved: 'cpu' or 'cuda'
    precision: str
    threads: int | None
    thermal: Any  # fusion_core.thermal.ThermalNormConfig of the thermal_* parameters (thermal_norm_config)
    homography: tuple[float, ...] | None
    calibrated_sizes: tuple[tuple[int, int], tuple[int, int]] | None  # ((thermal w, h), (visible w, h))
    allow_resize: bool
    max_aspect_change: float
    alpha_smoothing: float
    alpha_motion_threshold: float
    publish_alpha: bool
    publish_compressed: bool
    jpeg_quality: int
    publish_camera_info: bool
    publish_footprint: bool
    worker_queue_size: int
    diagnostics_period: float
    stale_timeout: float
    stamp_jump_back_threshold: float

    @classmethod
    def from_values(cls, v: dict[str, Any], cuda_available: bool) -> FusionParams:
        calibrated_sizes = parse_calibrated_sizes(v["calibration.thermal_size"], v["calibration.visible_size"])
        params = cls(
            slop=float(v["slop"]), queue_size=int(v["queue_size"]),
            inter_message_lower_bound=tuple(None if float(v[f"inter_message_lower_bound_{name}"]) < 0
                                            else float(v[f"inter_message_lower_bound_{name}"]) for name in ("thermal", "visible")),
            thermal_stamp_offset=float(v["thermal_stamp_offset"]),
            age_penalty=float(v["age_penalty"]), input_reliability=v["input_reliability"],
            thermal_transport=v["thermal_transport"], visible_transport=v["visible_transport"],
            backend=v["backend"], model_path=v["model_path"] or None,
            device=resolve_device(v["device"], cuda_available), precision=v["precision"],
            threads=int(v["threads"]) or None, thermal=thermal_norm_config(v),
            homography=parse_homography(v["homography"], keep_identity=calibrated_sizes is not None),
            calibrated_sizes=calibrated_sizes,
            allow_resize=bool(v["allow_resize"]), max_aspect_change=float(v["max_aspect_change"]),
            alpha_smoothing=float(v["alpha_smoothing"]), alpha_motion_threshold=float(v["alpha_motion_threshold"]),
            publish_alpha=bool(v["publish_alpha"]), publish_compressed=bool(v["publish_compressed"]),
            jpeg_quality=int(v["jpeg_quality"]), publish_camera_info=bool(v["publish_camera_info"]),
            publish_footprint=bool(v["publish_footprint"]), worker_queue_size=int(v["worker_queue_size"]),
            diagnostics_period=float(v["diagnostics_period"]), stale_timeout=float(v["stale_timeout"]),
            stamp_jump_back_threshold=float(v["stamp_jump_back_threshold"]),
        )
        params.engine_config()  # cross-field rules (fp16 needs cuda, low < high, ...) fail here, at start-up
        return params

    def engine_config(self):
        """The fusion_core EngineConfig these parameters describe (ConfigError names the parameter)."""
        from fusion_core.engine import EngineConfig
        from fusion_core.registration import RegistrationConfig

        try:
            registration = RegistrationConfig(homography=self.homography, calibrated_sizes=self.calibrated_sizes,
                                              allow_resize=self.allow_resize,
                                              max_aspect_change=self.max_aspect_change)
        except ConfigError as exc:
            raise ConfigError(f"parameter 'homography': {exc}") from exc
        try:
            return EngineConfig(backend=self.backend, model_path=self.model_path, device=self.device,
                                precision=self.precision, thermal=self.thermal, registration=registration, threads=self.threads,
                                alpha_smoothing=self.alpha_smoothing, alpha_motion_threshold=self.alpha_motion_threshold)
        except ConfigError as exc:
            raise ConfigError(f"parameters backend/device/precision: {exc}") from exc


THERMAL_RUNTIME = ("thermal_policy", "thermal_low", "thermal_high", "thermal_p_low", "thermal_p_high", "thermal_smoothing")


def thermal_norm_config(v: dict[str, Any]):
    """The thermal_* parameter values -> fusion_core ThermalNormConfig (equal thermal_low and thermal_high = the
    dtype's full range); ConfigError naming the parameters. At start-up and for every change while running."""
    from fusion_core.thermal import ThermalNormConfig

    low, high = float(v["thermal_low"]), float(v["thermal_high"])
    try:
        return ThermalNormConfig(policy=v["thermal_policy"], low=None if low == high else low,
                                 high=None if low == high else high, p_low=float(v["thermal_p_low"]),
                                 p_high=float(v["thermal_p_high"]), smoothing=float(v["thermal_smoothing"]))
    except ConfigError as exc:
        raise ConfigError(f"parameters thermal_*: {exc}") from exc


@dataclass(frozen=True)
class DetectorParams:
    """detector_node's parameters after validation (see :data:`DETECTOR_PARAMS`)."""

    model_path: str | None
    providers: tuple[str, ...]
    threads: int | None
    input_size: int
    rectangular: bool
    score_threshold: float
    nms_iou: float
    classes: tuple[str, ...] | None
    input_reliability: str
    input_transport: str
    publish_image: bool
    publish_json: bool
    worker_queue_size: int
    diagnostics_period: float
    stale_timeout: float

    @classmethod
    def from_values(cls, v: dict[str, Any], available_providers: tuple[str, ...]) -> DetectorParams:
        classes = v["classes"]
        if classes is not None and (not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes)):
            raise ConfigError(f"parameter 'classes' must be a list of COCO class names, got {classes!r}")
        cuda = "CUDAExecutionProvider"
        device = resolve_device(v["device"], cuda in available_providers, "ONNX Runtime's CUDAExecutionProvider")
        params = cls(
            model_path=v["model_path"] or None,
            providers=(cuda, "CPUExecutionProvider") if device == "cuda" else ("CPUExecutionProvider",),
            threads=int(v["threads"]) or None, input_size=int(v["input_size"]), rectangular=bool(v["rectangular"]),
            score_threshold=float(v["score_threshold"]), nms_iou=float(v["nms_iou"]),
            classes=tuple(classes) if classes else None, input_reliability=v["input_reliability"],
            input_transport=v["input_transport"],
            publish_image=bool(v["publish_image"]), publish_json=bool(v["publish_json"]),
            worker_queue_size=int(v["worker_queue_size"]), diagnostics_period=float(v["diagnostics_period"]),
            stale_timeout=float(v["stale_timeout"]),
        )
        params.detector_config()
        return params

    def detector_config(self):
        from fusion_core.detection import DetectorConfig

        try:
            return DetectorConfig(model_path=self.model_path, input_size=self.input_size, rectangular=self.rectangular,
                                  score_threshold=self.score_threshold, nms_iou=self.nms_iou, classes=self.classes,
                                  providers=self.providers, threads=self.threads)
        except ConfigError as exc:
            raise ConfigError(f"detector parameters: {exc}") from exc


def inprocess_detector_params(values: dict[str, Any], available_providers: tuple[str, ...]) -> DetectorParams | None:
    """fusion_node's ``detector.*`` values (:data:`FUSION_DETECTOR_PARAMS`) -> the :class:`DetectorParams` of its
    in-process detector, or None when ``detector.enabled`` is false. The settings detector_node has and
    fusion_node does not use keep their declared defaults. A ConfigError says it is about ``detector.*``."""
    if not values[DETECTOR_PREFIX + "enabled"]:
        return None
    merged = {s.name: s.default for s in DETECTOR_PARAMS}
    merged.update({name: values[DETECTOR_PREFIX + name] for name in INPROCESS_DETECTOR_SETTINGS})
    try:
        return DetectorParams.from_values(merged, available_providers)
    except ConfigError as exc:
        raise ConfigError(f"in-process detector (fusion_node parameters {DETECTOR_PREFIX}*): {exc}") from exc


@contextmanager
def model_path_errors(parameter: str = "model_path") -> Iterator[None]:
    """Around loading a node's model: a :class:`ModelFileError` (missing, unreadable or wrong file) becomes a
    ConfigError naming the parameter to fix, so start-up ends with exit 2 and a FATAL line saying so."""
    try:
        yield
    except ModelFileError as exc:
        raise ConfigError(f"parameter {parameter!r}: {exc}") from exc


def resolve_device(device: str, cuda_available: bool, what: str = "CUDA (torch.cuda.is_available())") -> str:
    """'auto' -> 'cuda' when available else 'cpu'; an explicit 'cuda' without CUDA is a ConfigError."""
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    if device == "cuda" and not cuda_available:
        raise ConfigError(f"parameter 'device' is 'cuda' but {what} is not available; use 'cpu' or 'auto'")
    return device


def parse_homography(value: Any, keep_identity: bool = False) -> tuple[float, ...] | None:
    """9 numbers -> tuple (identity -> None, "no homography", unless ``keep_identity``: a calibration file's
    identity maps between the sizes it records); empty or unset -> None; anything else is a ConfigError."""
    if value is None or (not isinstance(value, (str, bytes)) and hasattr(value, "__len__") and len(value) == 0):
        return None
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError(value)
        numbers = tuple(float(x) for x in value)
    except (TypeError, ValueError):
        raise ConfigError(f"parameter 'homography' must be 9 numbers (row-major 3x3) or empty, got {value!r}") from None
    if len(numbers) != 9 or not all(math.isfinite(x) for x in numbers):
        raise ConfigError(f"parameter 'homography' must be 9 finite numbers (row-major 3x3) or empty, got {len(numbers)} value(s)")
    return None if numbers == IDENTITY and not keep_identity else numbers


def parse_calibrated_sizes(thermal: Any, visible: Any) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """``calibration.thermal_size`` / ``visible_size`` -> ((w, h), (w, h)), or None when both are [0, 0].
    One given without the other, or anything but two positive integers, is a ConfigError."""
    sizes = []
    for name, value in (("calibration.thermal_size", thermal), ("calibration.visible_size", visible)):
        numbers = tuple(int(x) for x in value)
        if len(numbers) != 2 or min(numbers) < 0:
            raise ConfigError(f"parameter {name!r} must be [width, height] (or [0, 0] = not checked), got {list(value)}")
        sizes.append(numbers)
    if sizes[0] == sizes[1] == (0, 0):
        return None
    if min(sizes[0] + sizes[1]) == 0:
        raise ConfigError("parameters 'calibration.thermal_size' and 'calibration.visible_size' must be given together "
                          f"(got {list(sizes[0])} and {list(sizes[1])}); a calibration file from ivif calibrate sets both")
    return sizes[0], sizes[1]
