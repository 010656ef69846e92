"""Parameters: YAML files equal the declared defaults, bad values (and bad model files) stop start-up naming
the parameter, the launch file declares every argument it reads, the executables exit cleanly."""

from __future__ import annotations

import ast
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from ros_harness import REPO, ros_env

from fusion_core.errors import ConfigError

pytestmark = pytest.mark.ros

from ivif_fusion.launch_support import DEFAULT_DETECTOR, launch_arguments, node_settings, parse_value  # noqa: E402
from ivif_fusion.params import (DETECTOR_PARAMS, FUSION_DETECTOR_PARAMS, FUSION_PARAMS, IDENTITY,  # noqa: E402
                                INPROCESS_DETECTOR_SETTINGS, FusionParams, parse_homography, pipelined_thread_defaults,
                                resolve_device)

LAUNCH_FILE = REPO / "launch" / "fusion.launch.py"


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested YAML maps -> dotted parameter names, as rcl's parser reads them (detector: {enabled} -> detector.enabled)."""
    out = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


@pytest.mark.parametrize("file,node,specs", [("fusion.yaml", "/**/fusion_node", FUSION_PARAMS + FUSION_DETECTOR_PARAMS),
                                             ("detector.yaml", "/**/detector_node", DETECTOR_PARAMS)])
def test_yaml_equals_declared_defaults(file: str, node: str, specs) -> None:
    document = yaml.safe_load((REPO / "config" / file).read_text())
    assert list(document) == [node]
    values = flatten(document[node]["ros__parameters"])
    assert values == {s.name: s.default for s in specs}
    assert list(values) == [s.name for s in specs]  # same order too: the file reads like the table
    for spec in specs:  # same types too (0 vs 0.0 matters to rclpy)
        assert type(values[spec.name]) is type(spec.default), spec.name


def test_inprocess_detector_params_come_from_the_detector_table() -> None:
    """fusion_node's detector.* settings are detector_node's specs under a prefix (one definition), with
    only publish_image defaulting otherwise (opt in: drawing costs the fusion worker)."""
    by_name = {s.name: s for s in DETECTOR_PARAMS}
    shared = [s for s in FUSION_DETECTOR_PARAMS if s.name.removeprefix("detector.") in by_name]
    assert [s.name for s in shared] == [f"detector.{n}" for n in INPROCESS_DETECTOR_SETTINGS]
    for spec in shared:
        twin = by_name[spec.name.removeprefix("detector.")]
        assert (spec.description, spec.bounds, spec.choices) == (twin.description, twin.bounds, twin.choices), spec.name
        assert spec.default == (False if twin.name == "publish_image" else twin.default), spec.name
    assert {s.name for s in FUSION_DETECTOR_PARAMS} - {s.name for s in shared} == {"detector.enabled", "detector.own_thread"}


@pytest.mark.parametrize(("enabled", "own_thread", "threads", "detector_threads", "expected"), [
    (True, True, 0, 0, (0, 1)),  # the default: detection holds one core, fusion keeps its (unpinned) pool
    (True, True, 2, 0, (2, 1)),
    (True, True, 0, 3, (0, 3)),  # a value the user set is kept
    (True, False, 0, 0, (0, 0)),  # detection after fusion on one worker: the libraries' pools
    (False, True, 0, 0, (0, 0)),  # no in-process detector
])
def test_pipelined_thread_defaults(enabled, own_thread, threads, detector_threads, expected) -> None:
    values = {"detector.enabled": enabled, "detector.own_thread": own_thread, "threads": threads,
              "detector.threads": detector_threads, "slop": 0.02}
    out = pipelined_thread_defaults(values)
    assert (out["threads"], out["detector.threads"]) == expected and out["slop"] == 0.02
    assert values["threads"] == threads  # the declared values are not modified in place


def test_every_parameter_has_a_description_and_sane_default() -> None:
    for spec in FUSION_PARAMS + FUSION_DETECTOR_PARAMS + DETECTOR_PARAMS:
        assert len(spec.description) > 20, spec.name
        if spec.choices:
            assert spec.default in spec.choices, spec.name
        if spec.bounds:
            assert spec.bounds[0] <= spec.default <= spec.bounds[1], spec.name


def test_params_file_is_applied_in_any_namespace(graph) -> None:
    """The '/**/fusion_node' key of config/fusion.yaml reaches a namespaced node through rcl's YAML parser."""
    from rclpy.node import Node

    from ivif_fusion.params import declare

    override = REPO / "config" / "fusion.yaml"
    node = Node("fusion_node", namespace="robot7", context=graph.context,
                cli_args=["--ros-args", "--params-file", str(override), "-p", "slop:=0.031", "-p", "detector.nms_iou:=0.5"])
    try:
        values = declare(node, FUSION_PARAMS + FUSION_DETECTOR_PARAMS)
        assert values["slop"] == 0.031 and values["homography"] == list(IDENTITY)
        assert (values["detector.enabled"], values["detector.classes"], values["detector.nms_iou"]) == \
            (False, ["person", "bicycle", "car"], 0.5)  # the nested detector: block, and a dotted override
        params = FusionParams.from_values(values, cuda_available=False)
        assert params.homography is None and params.device == "cpu" and params.thermal.low is None
        assert params.engine_config().registration.is_identity
        assert node.describe_parameter("slop").read_only
    finally:
        node.destroy_node()


def test_an_undeclared_override_is_named_with_the_nearest_parameter(graph, capfd) -> None:
    """ROS ignores a value for a parameter the node never declares; declare() names each one in a warning (with the
    nearest real name) and leaves ROS's own per-topic QoS overrides alone."""
    from rclpy.node import Node

    from ivif_fusion.params import declare, undeclared_overrides

    node = Node("fusion_node", namespace="typo", context=graph.context,
                cli_args=["--ros-args", "-p", "slopp:=0.1", "-p", "detector.detector.input_size:=320",
                          "-p", "qos_overrides./typo/fusion/image.publisher.depth:=3", "-p", "detector.nms_iou:=0.5"])
    try:
        values = declare(node, FUSION_PARAMS + FUSION_DETECTOR_PARAMS)
        assert undeclared_overrides(node) == ["detector.detector.input_size", "slopp"]
        assert values["detector.input_size"] == 416 and values["detector.nms_iou"] == 0.5  # the typo changed nothing
        err = capfd.readouterr().err
        assert "parameter 'slopp' is not a parameter of this node and is ignored; did you mean 'slop'?" in err
        assert ("parameter 'detector.detector.input_size' is not a parameter of this node and is ignored; "
                "did you mean 'detector.input_size'?") in err
        assert "qos_overrides" not in err and "nms_iou" not in err
    finally:
        node.destroy_node()


BAD_FUSION = [
    ("slop", -0.5, "parameter 'slop'.*out of range"),
    ("queue_size", 0, "parameter 'queue_size'.*out of range"),
    ("queue_size", 2.5, "parameter 'queue_size'.*expecting type 'INTEGER'"),
    ("input_reliability", "sometimes", "parameter 'input_reliability' is 'sometimes'; valid values: reliable, best_effort"),
    ("backend", "tflite", "parameter 'backend' is 'tflite'; valid values: auto, torch, onnxruntime, tensorrt"),
    ("device", "gpu", "parameter 'device' is 'gpu'; valid values: cpu, cuda, auto"),
    ("precision", "fp16", "parameters backend/device/precision: precision 'fp16' needs device 'cuda'"),
    ("thermal_low", 9.0, "parameters thermal_\\*: thermal high \\(0.0\\) must be greater than low \\(9.0\\)"),
    ("homography", [1.0, 0.0, 0.0], "parameter 'homography' must be 9 finite numbers"),
    ("homography", [0.0] * 9, "parameter 'homography': homography is singular"),
    ("calibration.thermal_size", [640, 512], "must be given together"),
    ("calibration.visible_size", [1280], "parameter 'calibration.visible_size' must be \\[width, height\\]"),
    ("calibration.score", 2.0, "parameter 'calibration.score'.*out of range"),
    ("alpha_smoothing", 1.0, "parameter 'alpha_smoothing'.*out of range"),
    ("alpha_motion_threshold", 0.0, "parameter 'alpha_motion_threshold'.*out of range"),
    ("worker_queue_size", 0, "parameter 'worker_queue_size'.*out of range"),
]


@pytest.mark.parametrize("name,value,message", BAD_FUSION, ids=[f"{n}={v}" for n, v, _ in BAD_FUSION])
def test_bad_fusion_parameter_stops_start_up(graph, name, value, message) -> None:
    from rclpy.parameter import Parameter

    from ivif_fusion.fusion_node import FusionNode

    with pytest.raises(ConfigError, match=message):
        FusionNode(namespace="bad", context=graph.context, parameter_overrides=[Parameter(name, value=value)])


@pytest.mark.parametrize("name,value,message", [
    ("input_size", 100, "detector parameters: input_size must be a positive multiple of 32"),
    ("classes", ["person", "unicorn"], "classes \\['unicorn'\\] are not COCO class names"),
    ("classes", "person", "parameter 'classes' must be a list of COCO class names"),
    ("score_threshold", 1.5, "parameter 'score_threshold'.*out of range"),
    ("device", "tpu", "parameter 'device' is 'tpu'; valid values: cpu, cuda, auto"),
])
def test_bad_detector_parameter_stops_start_up(graph, name, value, message) -> None:
    from rclpy.parameter import Parameter

    from ivif_fusion.detector_node import DetectorNode

    with pytest.raises(ConfigError, match=message):
        DetectorNode(namespace="bad", context=graph.context, parameter_overrides=[Parameter(name, value=value)])


@pytest.mark.parametrize("value,expected", [(None, None), ([], None), (list(IDENTITY), None), ([1, 0, 0, 0, 1, 0, 0, 0, 1], None),
                                            ([2, 0, 5, 0, 2, 7, 0, 0, 1], (2.0, 0.0, 5.0, 0.0, 2.0, 7.0, 0.0, 0.0, 1.0))])
def test_parse_homography(value, expected) -> None:
    assert parse_homography(value) == expected


def test_a_calibration_files_identity_is_kept_with_its_sizes(graph) -> None:
    """homography = identity with calibration sizes (a calibration file) is a real mapping, warped and size-checked
    by the engine; before, the node turned it into "no homography" and then refused its own sizes at start-up."""
    from rclpy.node import Node

    from ivif_fusion.params import declare

    node = Node("fusion_node", namespace="calib_identity", context=graph.context,
                cli_args=["--ros-args", "-p", "calibration.thermal_size:=[32, 24]", "-p", "calibration.visible_size:=[64, 48]"])
    try:
        values = declare(node, FUSION_PARAMS + FUSION_DETECTOR_PARAMS)
        params = FusionParams.from_values(values, cuda_available=False)
        registration = params.engine_config().registration
        assert params.homography == IDENTITY and registration.calibrated_sizes == ((32, 24), (64, 48))
        assert not registration.is_identity
    finally:
        node.destroy_node()
    assert parse_homography(list(IDENTITY), keep_identity=True) == IDENTITY


@pytest.mark.parametrize("value", ["123456789", [1.0] * 8, [float("nan")] + [1.0] * 8, ["a"] * 9])
def test_parse_homography_rejects(value) -> None:
    with pytest.raises(ConfigError, match="parameter 'homography' must be"):
        parse_homography(value)


def test_resolve_device() -> None:
    assert resolve_device("auto", True) == "cuda" and resolve_device("auto", False) == "cpu"
    assert resolve_device("cpu", True) == "cpu"
    with pytest.raises(ConfigError, match="parameter 'device' is 'cuda' but CUDA .* is not available; use 'cpu' or 'auto'"):
        resolve_device("cuda", False)


# --- launch file -----------------------------------------------------------------------------------

def _launch_tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def test_launch_file_reads_only_declared_arguments() -> None:
    """Static check (launch/launch_ros cannot be installed here): every LaunchConfiguration the file
    reads is declared with a description, and the file declares exactly the table in launch_support."""
    tree = _launch_tree()
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    names = {n.func.id for n in calls}
    assert {"DeclareLaunchArgument", "LaunchConfiguration", "OpaqueFunction", "Node", "generate_launch_description"} - names == {"generate_launch_description"}
    declare = [c for c in calls if c.func.id == "DeclareLaunchArgument"]
    assert len(declare) == 1 and {k.arg for k in declare[0].keywords} == {"default_value", "description"}
    read = [c for c in calls if c.func.id == "LaunchConfiguration"]
    assert len(read) == 1 and ast.unparse(read[0].args[0]) == "arg.name"  # reads exactly the declared table
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {"get_package_share_directory", "launch_arguments", "node_settings"} <= imported


def test_launch_arguments_cover_every_tunable() -> None:
    args = launch_arguments("/share/fusion.yaml", "/share/detector.yaml")
    names = [a.name for a in args]
    assert len(names) == len(set(names))
    required = {"namespace", "params_file", "detector_params_file", "detector", "use_detector", "thermal_topic", "visible_topic",
                "fused_topic", "backend", "model_path", "device", "detector_model_path", "detector_device"}
    assert required <= set(names)
    assert {s.name for s in FUSION_PARAMS} <= set(names)
    assert {f"detector_{s.name}" for s in DETECTOR_PARAMS} <= set(names)
    assert all(len(a.description) > 15 for a in args)


def _values(**changes: str) -> dict[str, str]:
    values = {a.name: a.default for a in launch_arguments("/share/fusion.yaml", "/share/detector.yaml")}
    values.update(changes)
    return values


def test_node_settings_defaults_keep_the_params_files() -> None:
    fusion, detector = node_settings(_values(detector="node"))
    assert (fusion.executable, fusion.params_file, fusion.overrides, fusion.namespace) == ("fusion_node", "/share/fusion.yaml", {}, "")
    assert fusion.remappings == [("thermal/image_raw", "thermal/image_raw"), ("visible/image_raw", "visible/image_raw"),
                                 ("thermal/image_raw/compressed", "thermal/image_raw/compressed"),
                                 ("visible/image_raw/compressed", "visible/image_raw/compressed"),
                                 ("fusion/image", "fusion/image"), ("fusion/image/compressed", "fusion/image/compressed"),
                                 ("fusion/alpha", "fusion/alpha"),
                                 ("visible/camera_info", "visible/camera_info"), ("fusion/camera_info", "fusion/camera_info")]
    assert (detector.executable, detector.params_file, detector.overrides) == ("detector_node", "/share/detector.yaml", {})
    assert ("fusion/image", "fusion/image") in detector.remappings
    assert ("fusion/image/compressed", "fusion/image/compressed") in detector.remappings  # input_transport: compressed


def test_node_settings_overrides_and_remaps() -> None:
    nodes = node_settings(_values(namespace="car1", backend="onnxruntime", slop="0.05", queue_size="8", publish_alpha="False",
                                  homography="[1, 0, 3, 0, 1, 4, 0, 0, 1]", detector_score_threshold="0.5",
                                  thermal_topic="/flir/image_raw", fused_topic="fused", use_detector="false"))
    assert len(nodes) == 1
    fusion = nodes[0]
    assert fusion.namespace == "car1"
    assert fusion.overrides == {"backend": "onnxruntime", "slop": 0.05, "queue_size": 8, "publish_alpha": False,
                                "homography": [1, 0, 3, 0, 1, 4, 0, 0, 1]}
    assert ("thermal/image_raw", "/flir/image_raw") in fusion.remappings and ("fusion/image", "fused") in fusion.remappings
    assert ("thermal/image_raw/compressed", "/flir/image_raw/compressed") in fusion.remappings
    detector = node_settings(_values(detector="node", detector_score_threshold="0.5"))[1]
    assert detector.overrides == {"score_threshold": 0.5}


def test_camera_info_topics_follow_their_image_topics() -> None:
    """The CameraInfo topics sit beside their image topics (image_transport's rule) unless named: a driver's
    /cam/color/image_raw comes with /cam/color/camera_info, and that is what fusion_node must read."""
    fusion = node_settings(_values(visible_topic="/cam/color/image_raw", fused_topic="/fused/image", detector="none"))[0]
    assert ("visible/camera_info", "/cam/color/camera_info") in fusion.remappings
    assert ("fusion/camera_info", "/fused/camera_info") in fusion.remappings
    fusion = node_settings(_values(visible_topic="/cam/color/image_raw", visible_camera_info_topic="/cam/info",
                                   fused_camera_info_topic="fused_info", detector="none"))[0]
    assert ("visible/camera_info", "/cam/info") in fusion.remappings and ("fusion/camera_info", "fused_info") in fusion.remappings


@pytest.mark.parametrize("detector", ["node", "inprocess"])
def test_use_sim_time_reaches_every_node(detector: str) -> None:
    nodes = node_settings(_values(use_sim_time="true", detector=detector))
    assert [n.overrides["use_sim_time"] for n in nodes] == [True] * len(nodes) and len(nodes) == (2 if detector == "node" else 1)
    assert all(n.overrides.get("use_sim_time") is False for n in node_settings(_values(use_sim_time="False", detector="node")))
    assert all("use_sim_time" not in n.overrides for n in node_settings(_values(detector="node")))  # '' keeps the files'
    with pytest.raises(ConfigError, match="use_sim_time"):
        node_settings(_values(use_sim_time="yes"))


def test_detector_inprocess_enables_fusion_node_detector() -> None:
    """detector:=inprocess starts fusion_node alone with detector.enabled, the shared detector_* arguments as its
    detector.* parameters (the others, e.g. the subscription's reliability, do not apply) and the detection remaps."""
    nodes = node_settings(_values(detector="inprocess", detector_score_threshold="0.5", detector_classes="[person]",
                                  detector_input_reliability="best_effort", detections_topic="objects", slop="0.03"))
    assert [n.executable for n in nodes] == ["fusion_node"]
    assert nodes[0].overrides == {"slop": 0.03, "detector.enabled": True, "detector.score_threshold": 0.5,
                                  "detector.classes": ["person"]}
    assert nodes[0].params_file == "/share/fusion.yaml"  # its detector.* defaults come from fusion.yaml's detector: block
    assert nodes[0].remappings[-3:] == [("detections", "objects"), ("detections/image", "objects/image"),
                                        ("detections/json", "objects/json")]


def test_calibration_file_layers_over_the_params_file() -> None:
    """calibration_file:=calib.yaml (ivif calibrate's params file) reaches fusion_node after its params file, so its
    homography wins over fusion.yaml's identity and an explicit homography:= override still wins over both."""
    fusion = node_settings(_values(calibration_file=" /rig/calib.yaml ", detector="none"))[0]
    assert (fusion.params_file, fusion.extra_params_files, fusion.overrides) == ("/share/fusion.yaml", ["/rig/calib.yaml"], {})
    assert node_settings(_values(detector="none"))[0].extra_params_files == []
    detector = node_settings(_values(calibration_file="/rig/calib.yaml", detector="node"))[1]
    assert detector.extra_params_files == []  # the detector has no homography


@pytest.mark.parametrize("detector,use_detector,executables", [
    ("node", "true", ["fusion_node", "detector_node"]), ("none", "true", ["fusion_node"]),
    ("inprocess", "false", ["fusion_node"]), ("node", "false", ["fusion_node"]), ("NODE", "true", ["fusion_node", "detector_node"]),
])
def test_detector_modes(detector, use_detector, executables) -> None:
    nodes = node_settings(_values(detector=detector, use_detector=use_detector))
    assert [n.executable for n in nodes] == executables
    assert "detector.enabled" not in nodes[0].overrides  # only inprocess turns the in-process detector on


def test_default_detector_mode() -> None:
    nodes = node_settings(_values())
    assert DEFAULT_DETECTOR in ("inprocess", "node")
    assert [n.executable for n in nodes] == (["fusion_node"] if DEFAULT_DETECTOR == "inprocess" else ["fusion_node", "detector_node"])
    assert nodes[0].overrides.get("detector.enabled", False) == (DEFAULT_DETECTOR == "inprocess")


@pytest.mark.parametrize("name,text,default,message", [
    ("use_detector", "yes", True, "use_detector:='yes' is not a valid bool: expected true or false"),
    ("queue_size", "five", 5, "queue_size:='five' is not a valid int"),
    ("slop", "x", 0.02, "slop:='x' is not a valid float"),
    ("homography", "3", [1.0], "homography:='3' is not a valid list: expected a YAML list"),
])
def test_parse_value_rejects(name, text, default, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_value(name, text, default)


def test_bad_detector_mode_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="^launch argument detector:='both' is not valid; valid values: inprocess, node, none$"):
        node_settings(_values(detector="both"))


# --- executables -------------------------------------------------------------------------------------

def test_fusion_node_exits_2_on_a_bad_parameter() -> None:
    proc = subprocess.run([sys.executable, "-m", "ivif_fusion.fusion_node", "--ros-args", "-p", "device:=gpu"],
                          env=ros_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "invalid configuration, not starting: parameter 'device' is 'gpu'; valid values: cpu, cuda, auto" in proc.stderr


def test_fusion_node_shuts_down_cleanly_on_sigint() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "ivif_fusion.fusion_node", "--ros-args", "-r", "__ns:=/sigint"],
                            env=ros_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + 120
        lines = []
        while time.monotonic() < end:
            line = proc.stdout.readline()
            lines.append(line)
            if "fusing /sigint/thermal/image_raw + /sigint/visible/image_raw -> /sigint/fusion/image" in line or not line:
                break
        assert "fusing /sigint/thermal/image_raw" in lines[-1], "".join(lines)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        rest = proc.stdout.read()
        assert code == 0 and "Traceback" not in rest, "".join(lines) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- bad model files -------------------------------------------------------------------------------------

@pytest.mark.parametrize("node_module,loader", [("fusion_node", "fusion_core.engine.create_engine"),
                                                ("detector_node", "fusion_core.detection.Detector")])
def test_a_bad_model_file_names_model_path(graph, monkeypatch, node_module: str, loader: str) -> None:
    """Whatever the loader says about the file, the node's ConfigError names the parameter to fix."""
    import importlib

    from fusion_core.errors import ModelFileError

    def refuse(*args, **kwargs):
        raise ModelFileError("model file /models/x.onnx could not be read as an ONNX model: truncated")

    module_name, attr = loader.rsplit(".", 1)
    monkeypatch.setattr(importlib.import_module(module_name), attr, refuse)
    node_class = {"fusion_node": "FusionNode", "detector_node": "DetectorNode"}[node_module]
    cls = getattr(importlib.import_module(f"ivif_fusion.{node_module}"), node_class)
    with pytest.raises(ConfigError, match="^parameter 'model_path': model file /models/x.onnx could not be read as an ONNX "
                                          "model: truncated$") as info:
        cls(namespace="badmodel", context=graph.context)
    assert isinstance(info.value.__cause__, ModelFileError)


def test_detector_node_exits_2_naming_model_path(tmp_path) -> None:
    model = tmp_path / "garbage.onnx"
    model.write_bytes(b"\x08\x07not protobuf" * 16)
    proc = subprocess.run([sys.executable, "-m", "ivif_fusion.detector_node", "--ros-args", "-p", f"model_path:={model}"],
                          env=ros_env(), capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert re.search(rf"\[FATAL\].*invalid configuration, not starting: parameter 'model_path': .*{re.escape(str(model))}", out), out
    assert "Traceback" not in out, out
