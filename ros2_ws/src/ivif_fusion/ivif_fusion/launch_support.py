"""What ``launch/fusion.launch.py`` declares and starts, and what it does when a node exits, as plain
data and pure functions (testable without ``launch``).

Every node parameter gets a launch argument of the same name (detector ones prefixed ``detector_``)
whose default ``''`` means "keep the value from the params file"; a non-empty value overrides the
file. ``detector`` says where detection runs (:data:`DETECTOR_MODES`): ``inprocess`` — fusion_node's own
detector (``detector.enabled``; the ``detector_*`` arguments of the settings it shares with
detector_node, :data:`~ivif_fusion.params.INPROCESS_DETECTOR_SETTINGS`, become its ``detector.*``
parameters, the rest of them and ``detector_params_file`` do not apply), ``node`` — a separate
detector_node on the fused image, ``none``. Topics are remappings (the CameraInfo ones default to ``camera_info`` beside their image
topic, image_transport's rule); ``namespace``, ``use_detector``
(kept for old command lines: ``false`` = ``detector:=none``), ``params_file``,
``detector_params_file``, ``calibration_file`` (the YAML of ``ivif calibrate``, a params file
layered over ``params_file`` for fusion_node), ``log_level``, ``use_sim_time`` (ROS's own parameter,
for both nodes), ``fastdds_profile`` (default: the installed ``config/fastdds_images.xml``, see
:mod:`ivif_fusion.transport`) and ``fastdds_builtin_transports``
(default '': unset, so the profile's transports apply) complete the set; :func:`transport_changes`
turns the last two into the environment the nodes get.

Node exits (:func:`exit_verdict`). ``ros2 launch`` returns what ``LaunchService.run()`` returns: 0
unless an exception escapes an action or event handler (it logs "Caught exception in launch …",
shuts everything down and returns 1); a child's exit code alone never changes it, and a
``Shutdown`` action ends the launch with 0. So every node is started with an on-exit handler that
asks :func:`exit_verdict`: a non-zero exit (exit 2 = invalid configuration at start-up, a crash, a
kill) raises :class:`NodeExitError` naming the node and the cause — the launch stops the other node
and exits 1 — a clean exit while the launch runs shuts the launch down (the pipeline needs every
node), and a clean exit during the launch's own shutdown is the normal end.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

import yaml
from fusion_core.errors import ConfigError
from fusion_core.image_encodings import THERMAL_ENCODINGS, VISIBLE_ENCODINGS

from .camera_info import camera_info_topic
from .params import DETECTOR_PARAMS, DETECTOR_PREFIX, FUSION_PARAMS, INPROCESS_DETECTOR_SETTINGS, ParamSpec

KEEP = ""  # launch-argument value meaning "use the params file"
DETECTOR_MODES = ("inprocess", "node", "none")
DEFAULT_DETECTOR = "inprocess"


@dataclass(frozen=True)
class LaunchArg:
    name: str
    default: str
    description: str


@dataclass
class NodeSetting:
    """One node to start: executable, name, parameter sources (file first, then overrides), remappings."""

    executable: str
    name: str
    namespace: str
    params_file: str
    overrides: dict[str, Any] = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    log_level: str = "info"
    extra_params_files: list[str] = field(default_factory=list)  # applied after params_file, before overrides


TOPIC_ARGS: tuple[tuple[str, str, str], ...] = (
    ("thermal_topic", "thermal/image_raw", f"thermal input ({', '.join(THERMAL_ENCODINGS)})"),
    ("visible_topic", "visible/image_raw", f"visible input ({', '.join(VISIBLE_ENCODINGS)})"),
    ("fused_topic", "fusion/image", "fused output (the visible's encoding) and the detector's input"),
    ("alpha_topic", "fusion/alpha", "per-pixel alpha output (mono8, alpha*255)"),
    ("detections_topic", "detections", "detector output; the annotated image is <detections_topic>/image, JSON <detections_topic>/json"),
)
# CameraInfo topics: '' = image_transport's rule, camera_info beside the image topic (ivif_fusion.camera_info)
CAMERA_INFO_ARGS: tuple[tuple[str, str, str], ...] = (
    ("visible_camera_info_topic", "visible_topic", "the visible camera's CameraInfo (input)"),
    ("fused_camera_info_topic", "fused_topic", "the CameraInfo published with each fused image (output)"),
)


def _param_arg(spec: ParamSpec, prefix: str, node: str) -> LaunchArg:
    return LaunchArg(f"{prefix}{spec.name}", KEEP, f"{node} parameter '{spec.name}': {spec.description} "
                     f"(default {spec.default!r}; '' = value from the params file)")


def launch_arguments(fusion_params_file: str, detector_params_file: str, fastdds_profile_file: str = "") -> list[LaunchArg]:
    """Every launch argument, with its default and description (files: the installed YAML and XML paths)."""
    args = [
        LaunchArg("namespace", "", "namespace of both nodes (topics are relative, so they move with it)"),
        LaunchArg("params_file", fusion_params_file, "fusion_node parameter YAML"),
        LaunchArg("detector_params_file", detector_params_file, "detector_node parameter YAML"),
        LaunchArg("calibration_file", "",
                  "thermal->visible calibration YAML written by 'ivif calibrate' (a params file: homography and the "
                  "calibration.* sizes), applied to fusion_node over params_file; '' = none (pre-registered cameras)"),
        LaunchArg("detector", DEFAULT_DETECTOR,
                  "where detection runs: 'inprocess' (fusion_node runs YOLOX on each fused frame: no fusion/image hop), "
                  "'node' (a separate detector_node on the fused image) or 'none'"),
        LaunchArg("use_detector", "true", "old switch, kept for existing command lines: false = detector:=none"),
        LaunchArg("log_level", "info", "log level of both nodes (debug|info|warn|error|fatal)"),
        LaunchArg("use_sim_time", KEEP,
                  "true: the nodes run on the /clock topic's time (a bag played with 'ros2 bag play --clock', a "
                  "simulator), so latency figures and /diagnostics stamps compare with the recorded stamps; "
                  "'' = the params file's value (ROS's default false)"),
        LaunchArg("fastdds_profile", fastdds_profile_file,
                  "Fast DDS XML profile of the nodes (FASTDDS_DEFAULT_PROFILES_FILE): a shared-memory segment large "
                  "enough for raw images, so frames neither stall nor get lost between processes; give the camera "
                  "drivers the same file. '' = leave the environment as it is"),
        LaunchArg("fastdds_builtin_transports", "",
                  "FASTDDS_BUILTIN_TRANSPORTS for the nodes; it replaces the profile's transports, so '' (default) "
                  "removes it when a profile is given"),
    ]
    args += [LaunchArg(name, default, description) for name, default, description in TOPIC_ARGS]
    args += [LaunchArg(name, KEEP, f"{description}; '' = camera_info beside {image_arg}")
             for name, image_arg, description in CAMERA_INFO_ARGS]
    args += [_param_arg(s, "", "fusion_node") for s in FUSION_PARAMS]
    args += [_param_arg(s, "detector_", "detector_node") for s in DETECTOR_PARAMS]
    return args


def transport_changes(values: dict[str, str]) -> dict[str, str | None]:
    """Environment changes for the nodes from the ``fastdds_*`` launch arguments: value = set, None = unset.

    A profile that does not exist raises :class:`ConfigError` naming it (the launch then fails)."""
    from .transport import BUILTIN_ENV, transport_env

    changes = transport_env(values["fastdds_profile"]) if values["fastdds_profile"] else {}
    if values["fastdds_builtin_transports"]:
        changes[BUILTIN_ENV] = values["fastdds_builtin_transports"]
    return changes


def parse_value(arg_name: str, text: str, default: Any) -> Any:
    """A launch-argument string -> the type of the parameter's default (YAML syntax for lists)."""
    text = text.strip()
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError("expected true or false")
            return text.lower() == "true"
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, list):
            value = yaml.safe_load(text)
            if not isinstance(value, list):
                raise ValueError("expected a YAML list such as [1.0, 0.0, ...]")
            return value
        return text
    except ValueError as exc:
        raise ConfigError(f"launch argument {arg_name}:={text!r} is not a valid {type(default).__name__}: {exc}") from None


def _overrides(values: dict[str, str], specs: tuple[ParamSpec, ...], prefix: str) -> dict[str, Any]:
    return {s.name: parse_value(prefix + s.name, values[prefix + s.name], s.default)
            for s in specs if values.get(prefix + s.name, KEEP).strip() != KEEP}


def _camera_info_remap(values: dict[str, str], arg: str) -> str:
    """The topic a CameraInfo argument names, or camera_info beside its image topic when it is ''."""
    image_arg = dict((name, image) for name, image, _ in CAMERA_INFO_ARGS)[arg]
    return values.get(arg, KEEP).strip() or camera_info_topic(values[image_arg])


def detector_mode(values: dict[str, str]) -> str:
    """'inprocess' | 'node' | 'none' from the ``detector`` and ``use_detector`` arguments (ConfigError naming them)."""
    mode = values["detector"].strip().lower()
    if mode not in DETECTOR_MODES:
        raise ConfigError(f"launch argument detector:={values['detector']!r} is not valid; valid values: {', '.join(DETECTOR_MODES)}")
    return mode if parse_value("use_detector", values["use_detector"], True) else "none"


def node_settings(values: dict[str, str]) -> list[NodeSetting]:
    """Resolved launch-argument values -> the nodes to start (see :func:`detector_mode` for the detector)."""
    ns, log_level, mode = values["namespace"], values["log_level"], detector_mode(values)
    fused, detections = values["fused_topic"], values["detections_topic"]
    detection_topics = [("detections", detections), ("detections/image", f"{detections}/image"),
                        ("detections/json", f"{detections}/json")]
    fusion = NodeSetting(
        "fusion_node", "fusion_node", ns, values["params_file"], _overrides(values, FUSION_PARAMS, ""),
        [("thermal/image_raw", values["thermal_topic"]), ("visible/image_raw", values["visible_topic"]),
         # the compressed transport's topics (thermal_transport / visible_transport) move with their base topic
         ("thermal/image_raw/compressed", f"{values['thermal_topic']}/compressed"),
         ("visible/image_raw/compressed", f"{values['visible_topic']}/compressed"),
         ("fusion/image", fused), ("fusion/image/compressed", f"{fused}/compressed"), ("fusion/alpha", values["alpha_topic"]),
         ("visible/camera_info", _camera_info_remap(values, "visible_camera_info_topic")),
         ("fusion/camera_info", _camera_info_remap(values, "fused_camera_info_topic"))], log_level)
    if values.get("calibration_file", KEEP).strip():
        fusion.extra_params_files.append(values["calibration_file"].strip())
    nodes = [fusion]
    if mode == "inprocess":
        fusion.overrides[f"{DETECTOR_PREFIX}enabled"] = True
        shared = tuple(s for s in DETECTOR_PARAMS if s.name in INPROCESS_DETECTOR_SETTINGS)
        fusion.overrides.update({DETECTOR_PREFIX + name: value for name, value in _overrides(values, shared, "detector_").items()})
        fusion.remappings += detection_topics
    elif mode == "node":
        nodes.append(NodeSetting(
            "detector_node", "detector_node", ns, values["detector_params_file"], _overrides(values, DETECTOR_PARAMS, "detector_"),
            [("fusion/image", fused), ("fusion/image/compressed", f"{fused}/compressed")] + detection_topics, log_level))
    sim_time = values.get("use_sim_time", KEEP).strip()
    if sim_time != KEEP:  # ROS's own parameter: every node runs on the same clock
        for node in nodes:
            node.overrides["use_sim_time"] = parse_value("use_sim_time", sim_time, False)
    return nodes


EXIT_INVALID_CONFIG = 2  # the nodes' exit code for an invalid parameter (ivif_fusion._runtime.run_node)


class NodeExitError(RuntimeError):
    """Raised by the launch file's on-exit handler when a node failed: launch logs it and exits 1."""


@dataclass(frozen=True)
class ExitVerdict:
    """What the launch does about one node's exit: ``action`` 'ignore' | 'shutdown' | 'fail', and why."""

    action: str
    message: str


def exit_verdict(node: str, returncode: int, launch_shutting_down: bool) -> ExitVerdict:
    """Decide about ``node`` exiting with ``returncode`` (negative: killed by that signal, as asyncio reports
    it). ``launch_shutting_down``: the launch context's ``is_shutdown`` (Ctrl-C or another node's failure)."""
    when = " while the launch was shutting down" if launch_shutting_down else ""
    if returncode == 0:
        if launch_shutting_down:
            return ExitVerdict("ignore", f"{node} stopped cleanly")
        return ExitVerdict("shutdown", f"{node} exited (code 0) while the launch was running; "
                                       "stopping the launch, the pipeline needs every node")
    if returncode == EXIT_INVALID_CONFIG:
        cause = (f"{node} stopped at start-up: invalid configuration (exit code {EXIT_INVALID_CONFIG}); "
                 f"its FATAL line above names the parameter to fix")
    elif returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        cause = f"{node} was killed by {name} (exit code {returncode}){when}"
        if -returncode == signal.SIGKILL and launch_shutting_down:
            cause += ": it did not stop within launch's sigterm_timeout + sigkill_timeout"
    else:
        cause = f"{node} failed with exit code {returncode}{when}; see its output above"
    return ExitVerdict("fail", cause)
