"""What the launch does when a node exits: a non-zero exit (exit 2 at start-up, a crash, a kill) fails the
whole launch naming the node and the cause; a clean exit during the launch's shutdown is normal.

``launch``/``launch_ros`` cannot be installed here, so this checks three things apart:
1. ``launch_support.exit_verdict`` (the decision) over a table of exit codes;
2. the exit codes the real node executables give it (bad parameter -> 2, SIGINT -> 0, see also
   test_lifecycle.py), fed through the decision;
3. the launch file's glue, executed with minimal stand-ins for the launch API it calls
   (``DeclareLaunchArgument``, ``OpaqueFunction``, ``LaunchConfiguration.perform``,
   ``SetEnvironmentVariable``, ``Shutdown``, ``launch_ros.actions.Node(on_exit=...)``), whose
   signatures follow ros2/launch 02595baf (ExecuteLocal's ``on_exit`` callable receives
   ``(ProcessExited, LaunchContext)``; ``LaunchService.run_async`` returns 1 when an event handler
   raises) and ros2/launch_ros f9ab9371 (``ros2 launch`` exits with ``LaunchService.run()``'s value).
What is not run here: ``ros2 launch`` itself on a ROS install.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import signal
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fusion_core.errors import ConfigError
from ros_harness import REPO, ros_env

pytestmark = pytest.mark.ros

from ivif_fusion.launch_support import EXIT_INVALID_CONFIG, NodeExitError, exit_verdict  # noqa: E402

VERDICTS = [
    # node, exit code, launch shutting down, action, message (regex)
    ("fusion_node", 0, True, "ignore", "^fusion_node stopped cleanly$"),
    ("fusion_node", 0, False, "shutdown", "^fusion_node exited \\(code 0\\) while the launch was running; stopping the launch"),
    ("fusion_node", 2, False, "fail", "^fusion_node stopped at start-up: invalid configuration \\(exit code 2\\); "
                                      "its FATAL line above names the parameter to fix$"),
    ("detector_node", 2, False, "fail", "^detector_node stopped at start-up: invalid configuration"),
    ("fusion_node", 2, True, "fail", "^fusion_node stopped at start-up: invalid configuration"),
    ("detector_node", 1, False, "fail", "^detector_node failed with exit code 1; see its output above$"),
    ("fusion_node", -11, False, "fail", "^fusion_node was killed by SIGSEGV \\(exit code -11\\)$"),
    ("fusion_node", -6, True, "fail", "^fusion_node was killed by SIGABRT \\(exit code -6\\) while the launch was shutting down$"),
    ("detector_node", -9, True, "fail", "^detector_node was killed by SIGKILL \\(exit code -9\\) while the launch was shutting "
                                        "down: it did not stop within launch's sigterm_timeout \\+ sigkill_timeout$"),
    ("fusion_node", -200, False, "fail", "^fusion_node was killed by signal 200 \\(exit code -200\\)$"),
]


@pytest.mark.parametrize("node,code,shutting_down,action,message", VERDICTS,
                         ids=[f"{n}-{c}-{'shutdown' if s else 'running'}" for n, c, s, _, _ in VERDICTS])
def test_exit_verdict(node: str, code: int, shutting_down: bool, action: str, message: str) -> None:
    verdict = exit_verdict(node, code, shutting_down)
    assert verdict.action == action
    assert re.search(message, verdict.message), verdict.message


@pytest.mark.parametrize("module,param", [("fusion_node", "device:=gpu"), ("detector_node", "input_size:=100")])
def test_a_bad_parameter_fails_the_launch(module: str, param: str) -> None:
    """The real executable's exit code for a bad parameter is the one exit_verdict reads as 'invalid configuration'."""
    proc = subprocess.run([sys.executable, "-m", f"ivif_fusion.{module}", "--ros-args", "-p", param],
                          env=ros_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_INVALID_CONFIG, proc.stdout + proc.stderr
    assert "[FATAL]" in proc.stderr and "invalid configuration, not starting: " in proc.stderr
    verdict = exit_verdict(module, proc.returncode, launch_shutting_down=False)
    assert verdict.action == "fail" and verdict.message.startswith(f"{module} stopped at start-up: invalid configuration")


# --- the launch file's glue, with stand-ins for the launch API ---------------------------------------------

@dataclass
class Action:
    """Stand-in for any launch action: keeps its arguments."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context) -> str:
        return context.launch_configurations[self.name]


class Shutdown(Action):
    pass


class NodeAction(Action):
    pass


class SetEnv(Action):
    pass


class UnsetEnv(Action):
    pass


@dataclass
class Context:
    """Stand-in for launch.LaunchContext: the two attributes the launch file reads."""

    launch_configurations: dict
    is_shutdown: bool = False


@dataclass
class ProcessExited:
    """Stand-in for launch.events.process.ProcessExited (returncode is what the handler reads)."""

    returncode: int


@pytest.fixture
def share(tmp_path) -> Path:
    """A stand-in for the installed share/ivif_fusion: the launch file checks that its Fast DDS profile exists."""
    (tmp_path / "ivif_fusion" / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "fastdds_images.xml", tmp_path / "ivif_fusion" / "config")
    return tmp_path


@pytest.fixture
def launch_file(monkeypatch, share):
    """launch/fusion.launch.py imported with stand-in modules for launch, launch_ros and ament_index_python."""
    modules = {
        "launch": types.SimpleNamespace(LaunchDescription=lambda entities: list(entities)),
        "launch.actions": types.SimpleNamespace(DeclareLaunchArgument=Action, OpaqueFunction=Action,
                                                SetEnvironmentVariable=SetEnv, UnsetEnvironmentVariable=UnsetEnv,
                                                Shutdown=Shutdown),
        "launch.substitutions": types.SimpleNamespace(LaunchConfiguration=LaunchConfiguration),
        "launch_ros": types.SimpleNamespace(), "launch_ros.actions": types.SimpleNamespace(Node=NodeAction),
        "ament_index_python": types.SimpleNamespace(),
        "ament_index_python.packages": types.SimpleNamespace(get_package_share_directory=lambda package: str(share / package)),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("fusion_launch_under_test", REPO / "launch" / "fusion.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launch_actions(launch_file, **changes: str) -> list[Action]:
    entities = launch_file.generate_launch_description()
    declared = {e.args[0]: e.kwargs["default_value"] for e in entities if "default_value" in e.kwargs}
    declared.update(changes)
    opaque = [e for e in entities if "function" in e.kwargs]
    assert len(opaque) == 1
    return opaque[0].kwargs["function"](Context(declared))


def start_nodes(launch_file, **changes: str) -> list[NodeAction]:
    return [a for a in launch_actions(launch_file, **changes) if isinstance(a, NodeAction)]


def test_launch_file_gives_the_nodes_the_image_transport(launch_file, share, tmp_path) -> None:
    """Default: the installed profile, FASTDDS_BUILTIN_TRANSPORTS removed (it would replace the profile's transports)."""
    profile = share / "ivif_fusion" / "config" / "fastdds_images.xml"
    actions = launch_actions(launch_file)
    env = [(type(a).__name__, a.args) for a in actions if isinstance(a, (SetEnv, UnsetEnv))]
    assert env == [("SetEnv", ("FASTDDS_DEFAULT_PROFILES_FILE", str(profile.resolve()))),
                   ("UnsetEnv", ("FASTDDS_BUILTIN_TRANSPORTS",))]
    assert actions.index(next(a for a in actions if isinstance(a, NodeAction))) == 2  # set before the nodes start
    kept = launch_actions(launch_file, fastdds_profile="", fastdds_builtin_transports="LARGE_DATA")
    assert [(type(a).__name__, a.args) for a in kept if isinstance(a, (SetEnv, UnsetEnv))] == [
        ("SetEnv", ("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA"))]
    assert not [a for a in launch_actions(launch_file, fastdds_profile="") if isinstance(a, (SetEnv, UnsetEnv))]
    with pytest.raises(ConfigError, match="Fast DDS profile .*missing.xml does not exist"):
        launch_actions(launch_file, fastdds_profile=str(tmp_path / "missing.xml"))


def test_launch_file_fails_when_a_node_fails(launch_file) -> None:
    nodes = start_nodes(launch_file, detector="node")
    assert [n.kwargs["name"] for n in nodes] == ["fusion_node", "detector_node"]
    for node in nodes:
        on_exit = node.kwargs["on_exit"]
        with pytest.raises(NodeExitError, match=f"^{node.kwargs['name']} stopped at start-up: invalid configuration"):
            on_exit(ProcessExited(EXIT_INVALID_CONFIG), Context({}, is_shutdown=False))
        with pytest.raises(NodeExitError, match=f"^{node.kwargs['name']} was killed by SIGABRT"):
            on_exit(ProcessExited(-int(signal.SIGABRT)), Context({}, is_shutdown=True))
        assert on_exit(ProcessExited(0), Context({}, is_shutdown=True)) is None  # Ctrl-C: the normal end
        stop = on_exit(ProcessExited(0), Context({}, is_shutdown=False))
        assert len(stop) == 1 and isinstance(stop[0], Shutdown)
        assert stop[0].kwargs["reason"].startswith(f"{node.kwargs['name']} exited (code 0) while the launch was running")


def test_launch_file_without_detector_still_fails_on_fusion_node(launch_file, share) -> None:
    """The review's case: use_detector:=false and fusion_node exiting 2 used to end the launch with 0."""
    nodes = start_nodes(launch_file, use_detector="false", device="gpu")
    assert [n.kwargs["name"] for n in nodes] == ["fusion_node"]
    assert nodes[0].kwargs["parameters"] == [str(share / "ivif_fusion" / "config" / "fusion.yaml"), {"device": "gpu"}]
    calibrated = start_nodes(launch_file, detector="none", calibration_file="/rig/calib.yaml")[0]
    assert calibrated.kwargs["parameters"] == [str(share / "ivif_fusion" / "config" / "fusion.yaml"), "/rig/calib.yaml", {}]
    with pytest.raises(NodeExitError, match="^fusion_node stopped at start-up"):
        nodes[0].kwargs["on_exit"](ProcessExited(2), Context({}, is_shutdown=False))


def test_launch_file_default_detects_in_process(launch_file) -> None:
    """The default graph is fusion_node alone with its in-process detector (docs/ros/e2e_*.json: fewer dropped
    pairs and lower latency than a separate detector_node at 10 and 30 Hz on the 2-core CPU)."""
    nodes = start_nodes(launch_file)
    assert [n.kwargs["name"] for n in nodes] == ["fusion_node"]
    assert nodes[0].kwargs["parameters"][-1] == {"detector.enabled": True}
    assert ("detections", "detections") in nodes[0].kwargs["remappings"]
