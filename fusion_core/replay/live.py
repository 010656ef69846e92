"""Live replay over real DDS: bag player -> fusion node (-> detector node) -> recorder, as subprocesses.

Detection runs in detector_node on ``fusion/image`` (``detector_mode='node'``) or inside fusion_node
(``'inprocess'``: fusion_node gets ``detector.enabled:=true`` and ``detector.publish_json:=true`` and
publishes ``detections/json`` itself, stamped with the pair's visible stamp; no detector_node starts).
The recorder records ``/detections/json`` either way, so the analysis does not care which.

fusion_core never imports rclpy: this module only starts ``python -m ivif_fusion.<module>`` processes
with the ROS package (``ros2_ws/src/ivif_fusion``) on ``PYTHONPATH``, watches the recorder's status
file, and stops everything with SIGINT (SIGKILL after a grace period). Each run gets its own
``ROS_DOMAIN_ID`` (unless one is given) and discovery is limited to this host, so concurrent runs
and other graphs on the network do not cross-talk. Process output goes to ``<out>/logs/*.log``.

Sequence: recorder and nodes start; once the recorder has matched the node outputs the player starts
(and itself waits for the fusion node's subscriptions); after the player has finished and the
recorded outputs have been quiet for ``settle_s`` seconds, the recorder and nodes are stopped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, IvifError
from .delivery import DETECTOR_MODES

REPO = Path(__file__).resolve().parents[2]
ROS_PACKAGE = REPO / "ros2_ws" / "src" / "ivif_fusion"
IMAGE = "sensor_msgs/msg/Image"
# The Fast DDS profile the launch file gives the nodes (ivif_fusion.transport): shared memory large
# enough for raw images, so frames between the player, the nodes and the recorder neither stall nor get lost.
DEFAULT_FASTDDS_PROFILE = REPO / "config" / "fastdds_images.xml"
RECORDED = {"fusion": [("/fusion/image", IMAGE), ("/fusion/alpha", IMAGE), ("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray")],
            "detector": [("/detections/json", "std_msgs/msg/String"), ("/detections/image", IMAGE)],
            "inprocess": [("/detections/json", "std_msgs/msg/String")]}  # fusion_node's detections/image is off by default


@dataclass(frozen=True)
class LiveConfig:
    """``rate_factor``: playback speed (0.5 = half speed); ``detector``: also detect, ``detector_mode``
    'node' (a detector_node) or 'inprocess' (fusion_node's own detector, see the module docstring);
    ``fusion_params`` / ``detector_params``: ROS parameters (name -> value) for the nodes (in-process,
    ``detector_params`` go to fusion_node with the ``detector.`` prefix);
    ``domain_id``: ROS_DOMAIN_ID (None: derived from the process id, 1..99, below the ROS tests' 100..199); ``startup_timeout``:
    seconds for the nodes to come up (importing torch and loading a model takes a while);
    ``settle_s``: quiet seconds after the player ends before stopping; ``fastdds_profile``: Fast DDS XML
    profile (FASTDDS_DEFAULT_PROFILES_FILE) of every process, which also removes FASTDDS_BUILTIN_TRANSPORTS
    (it would replace the profile's transports; None: leave the environment's); ``fastdds_transports``:
    FASTDDS_BUILTIN_TRANSPORTS for every process (None: none with a profile, else the environment's)."""

    rate_factor: float = 1.0
    detector: bool = False
    detector_mode: str = "node"
    fusion_params: dict[str, Any] = field(default_factory=dict)
    detector_params: dict[str, Any] = field(default_factory=dict)
    domain_id: int | None = None
    startup_timeout: float = 120.0
    settle_s: float = 5.0
    fastdds_profile: str | None = str(DEFAULT_FASTDDS_PROFILE)
    fastdds_transports: str | None = None

    def __post_init__(self) -> None:
        if self.fastdds_profile is not None and not Path(self.fastdds_profile).is_file():
            raise ConfigError(f"Fast DDS profile {self.fastdds_profile} does not exist (give an XML file, or none)")
        if self.detector_mode not in DETECTOR_MODES:
            raise ConfigError(f"detector mode {self.detector_mode!r} is not one of {', '.join(DETECTOR_MODES)}")
        if not self.rate_factor > 0:
            raise ConfigError(f"rate factor must be > 0, got {self.rate_factor}")
        if self.domain_id is not None and not 0 <= self.domain_id <= 232:
            raise ConfigError(f"ROS domain id must lie in 0..232, got {self.domain_id}")


@dataclass
class LiveRun:
    """Where a live run left its outputs."""

    recorded_bag: Path
    publish_log: Path
    status: dict[str, Any]
    logs: Path
    wall_s: float


def rclpy_available() -> tuple[bool, str]:
    """(True, '') when rclpy and the ROS package can be found, else (False, why) — without importing rclpy."""
    if importlib.util.find_spec("rclpy") is None:
        return False, "rclpy is not installed in this Python (install the ROS 2 wheels: scripts/setup.sh)"
    if not (ROS_PACKAGE / "ivif_fusion" / "fusion_node.py").is_file():
        return False, f"the ROS package's fusion node is missing ({ROS_PACKAGE / 'ivif_fusion' / 'fusion_node.py'})"
    return True, ""


def _ros_args(params: dict[str, Any]) -> list[str]:
    if not params:
        return []
    out = ["--ros-args"]
    for name, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out += ["-p", f"{name}:={text}"]
    return out


class _Graph:
    """The child processes of one run; ``close`` stops whatever is still running."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.procs = env, logs, {}

    def start(self, name: str, module: str, args: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w", encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", f"ivif_fusion.{module}", *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=str(REPO))
        log.close()
        self.procs[name] = proc
        return proc

    def check_alive(self, *names: str) -> None:
        for name in names:
            code = self.procs[name].poll()
            if code is not None:
                raise IvifError(f"{name} exited early with code {code}; its log ({self.logs / (name + '.log')}) ends:\n"
                                + self.tail(name))

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, name: str, grace: float = 15.0) -> int | None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)

    def close(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name, grace=10.0)


def _read_status(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _wait(predicate, timeout: float, what: str, graph: _Graph, alive: tuple[str, ...]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        graph.check_alive(*alive)
        if time.monotonic() > deadline:
            raise IvifError(f"timed out after {timeout:.0f} s waiting for {what}; logs in {graph.logs}")
        time.sleep(0.1)


def _detector_recorded(config: LiveConfig) -> str:
    return "detector" if config.detector_mode == "node" else "inprocess"


def input_remaps(fusion_params: dict[str, Any], thermal_topic: str, visible_topic: str) -> list[str]:
    """fusion_node's ``-r`` arguments onto the bag's camera topics: a compressed input (``<name>_transport:
    compressed``) is the node's ``<name>/image_raw/compressed``."""
    remap: list[str] = []
    for name, topic in (("thermal", thermal_topic), ("visible", visible_topic)):
        suffix = "/compressed" if fusion_params.get(f"{name}_transport") == "compressed" else ""
        remap += ["-r", f"{name}/image_raw{suffix}:={topic}"]
    return remap


def graph_fusion_params(config: LiveConfig) -> dict[str, Any]:
    """fusion_node's parameters in this graph: ``fusion_params``, plus the in-process detector's when
    detection runs inside fusion_node (``detector_params`` under the ``detector.`` prefix)."""
    params = dict(config.fusion_params)
    if config.detector and config.detector_mode == "inprocess":
        params.update({"detector.enabled": True, "detector.publish_json": True,
                       **{f"detector.{k}": v for k, v in config.detector_params.items()}})
    return params


def run_live_graph(bag: str | Path, out_dir: str | Path, thermal_topic: str, visible_topic: str,
                   config: LiveConfig, bag_duration_s: float) -> LiveRun:
    """Run player -> nodes -> recorder on ``bag``; the recorded outputs go to ``out_dir/live_bag``."""
    ok, why = rclpy_available()
    if not ok:
        raise IvifError(f"live replay needs ROS 2: {why}")
    # The processes run in the repository (cwd=REPO): every path handed to them must not depend on ours.
    bag, out_dir = Path(bag).resolve(), Path(out_dir).resolve()
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    recorded, status_file, publish_log = out_dir / "live_bag", out_dir / "recorder_status.json", out_dir / "publish_log.csv"
    for path in (status_file, publish_log):
        path.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROS_PACKAGE), str(REPO), env.get("PYTHONPATH", "")) if p)
    env["ROS_DOMAIN_ID"] = str(config.domain_id if config.domain_id is not None else 1 + os.getpid() % 99)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    if config.fastdds_profile is not None:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(Path(config.fastdds_profile).resolve())
        env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    if config.fastdds_transports:
        env["FASTDDS_BUILTIN_TRANSPORTS"] = config.fastdds_transports
    topics = RECORDED["fusion"] + (RECORDED[_detector_recorded(config)] if config.detector else [])
    remap = input_remaps(graph_fusion_params(config), thermal_topic, visible_topic)
    start = time.monotonic()
    graph = _Graph(env, logs)
    try:
        graph.start("recorder", "bag_recorder", [str(recorded), "--status-file", str(status_file),
                                                 *(a for name, t in topics for a in ("--topic", f"{name}:{t}"))])
        fusion_args = _ros_args(graph_fusion_params(config)) or ["--ros-args"]
        graph.start("fusion_node", "fusion_node", [*fusion_args, *remap])
        nodes = ("recorder", "fusion_node")
        if config.detector and config.detector_mode == "node":
            graph.start("detector_node", "detector_node", _ros_args({"publish_json": True, **config.detector_params}))
            nodes += ("detector_node",)
        needed = [t for t, _ in topics if t in ("/fusion/image", "/fusion/alpha", "/detections/json")]
        _wait(lambda: all(_read_status(status_file).get("publishers", {}).get(t, 0) > 0 for t in needed),
              config.startup_timeout, "the nodes to come up (recorder matched to " + ", ".join(needed) + ")", graph, nodes)
        player = graph.start("player", "bag_player", [str(bag), "--topics", thermal_topic, visible_topic, "--rate-factor",
                                                      str(config.rate_factor), "--publish-log", str(publish_log)])
        try:
            player.wait(timeout=bag_duration_s / config.rate_factor + 60.0 + config.startup_timeout)
        except subprocess.TimeoutExpired:
            raise IvifError(f"the bag player did not finish; log: {logs / 'player.log'}") from None
        if player.returncode != 0:
            raise IvifError(f"the bag player failed with code {player.returncode}:\n{graph.tail('player')}")
        _wait_quiet(status_file, config, graph, nodes)
        graph.stop("recorder")
        status = _read_status(status_file)
    finally:
        graph.close()
    if not (recorded / "metadata.yaml").is_file():
        raise IvifError(f"the recorder left no complete bag at {recorded}; log:\n{graph.tail('recorder')}")
    return LiveRun(recorded, publish_log, status, logs, time.monotonic() - start)


def _wait_quiet(status_file: Path, config: LiveConfig, graph: _Graph, nodes: tuple[str, ...]) -> None:
    """Until no fused image (nor detection) has arrived for ``settle_s`` s, and detections caught up with images."""
    def quiet() -> bool:
        s = _read_status(status_file)
        counts = s.get("counts", {})
        last = s.get("last_message_ns", {})
        newest = max([last.get(t, 0) for t in ("/fusion/image", "/detections/json")] + [s.get("started_ns", 0)])
        idle_s = (s.get("now_ns", 0) - newest) / 1e9
        caught_up = not config.detector or counts.get("/detections/json", 0) >= counts.get("/fusion/image", 0)
        return idle_s >= config.settle_s and (caught_up or idle_s >= 4 * config.settle_s)

    _wait(quiet, config.startup_timeout + 600.0, "the outputs to settle", graph, nodes)
