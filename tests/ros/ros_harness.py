"""Shared helpers of the ROS integration tests: a private DDS domain, an rclpy graph spinning in a thread.

The ROS package is imported from its source folder (``ros2_ws/src/ivif_fusion`` is put on
``sys.path`` here), so no colcon build or extra install is needed to run these tests; subprocesses
get the same folder on ``PYTHONPATH`` through :func:`ros_env`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
ROS_PKG = REPO / "ros2_ws" / "src" / "ivif_fusion"
if str(ROS_PKG) not in sys.path:
    sys.path.insert(0, str(ROS_PKG))

# A private domain per session (0 and the low ids are what other ROS users on a host pick first).
DOMAIN_ID = 100 + os.getpid() % 100



def ros_env() -> dict[str, str]:
    """Environment for a subprocess that joins this session's DDS domain and imports the package."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(DOMAIN_ID)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONPATH"] = os.pathsep.join([str(ROS_PKG), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


class RosGraph:
    """An rclpy context on the private domain with a MultiThreadedExecutor spinning in a thread."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import MultiThreadedExecutor

        self.context = Context()
        rclpy.init(context=self.context, domain_id=DOMAIN_ID)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.nodes: list = []
        self._thread = threading.Thread(target=self.executor.spin, name="ros_test_executor", daemon=True)
        self._thread.start()

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def remove(self, node) -> None:
        self.executor.remove_node(node)
        self.nodes.remove(node)
        node.destroy_node()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        for node in reversed(self.nodes):
            node.destroy_node()
        self.nodes.clear()
        import rclpy

        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until true; fail the test naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


class Probe:
    """A test node in ``namespace``: publishers for a node's inputs, subscriptions recording its outputs."""

    def __init__(self, graph: RosGraph, namespace: str, name: str = "probe") -> None:
        from rclpy.node import Node

        self.node = graph.add(Node(name, namespace=namespace, context=graph.context))
        self._lock = threading.Lock()
        self._received: dict[str, list[Any]] = defaultdict(list)
        self._keep: list[Any] = []

    def publisher(self, msg_type, topic: str, qos=10):
        pub = self.node.create_publisher(msg_type, topic, qos)
        self._keep.append(pub)
        return pub

    def record(self, msg_type, topic: str, qos=10) -> None:
        def store(msg, topic=topic) -> None:
            with self._lock:
                self._received[topic].append(msg)

        self._keep.append(self.node.create_subscription(msg_type, topic, store, qos))

    def messages(self, topic: str) -> list[Any]:
        with self._lock:
            return list(self._received[topic])


def wait_matched(pub, subscribers: int = 1, timeout: float = 10.0) -> None:
    """Wait until DDS discovery has matched ``pub`` with ``subscribers`` subscriptions."""
    wait_for(lambda: pub.get_subscription_count() >= subscribers, timeout, f"a subscriber on {pub.topic_name}")


def diagnostic_values(msg, component: str) -> dict[str, str]:
    """Key/values of the status whose name ends with ``component`` in a DiagnosticArray ('' if absent)."""
    for status in msg.status:
        if status.name.endswith(component):
            return {kv.key: kv.value for kv in status.values}
    return {}


# What a node's output must never contain when it stops (test_lifecycle, test_diagnostics).
FORBIDDEN = ("Traceback", "[ERROR]", "[FATAL]", "terminate called", "Aborted", "core dumped", "Failed to publish")


class NodeProcess:
    """One node executable as a subprocess in ``namespace``; its merged stdout/stderr is collected by a
    reader thread. ``params``: ``name:=value`` strings."""

    def __init__(self, module: str, namespace: str, params: tuple[str, ...] = ("diagnostics_period:=0.5",),
                 process_group: int | None = None) -> None:
        cmd = [sys.executable, "-m", f"ivif_fusion.{module}", "--ros-args", "-r", f"__ns:=/{namespace}"]
        for param in params:
            cmd += ["-p", param]
        env = dict(ros_env(), PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
        self.name = module
        # process_group 0: a new group led by this process (in the test's session, so a second process can join it)
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     process_group=process_group or 0)
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.append(line)

    def output(self) -> str:
        return "".join(self._lines)

    def wait_output(self, text: str, timeout: float = 120) -> None:
        wait_for(lambda: text in self.output() or self.proc.poll() is not None, timeout, f"{self.name} to print {text!r}")
        assert text in self.output(), self.output()

    def __enter__(self) -> "NodeProcess":
        return self

    def __exit__(self, *exc) -> None:
        """Never leave a node behind, whatever the test did (a leaked node would run on in CI)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop_cleanly(self, timeout: float = 30.0) -> str:
        """Ctrl-C as a terminal sends it (SIGINT to the node's process group); asserts exit code 0 and no
        traceback/ERROR/abort in the output, which is returned."""
        os.killpg(self.proc.pid, signal.SIGINT)
        code, output = self.finish(timeout)
        found = [word for word in FORBIDDEN if word in output]
        assert code == 0 and not found, f"{self.name}: exit code {code}, printed {found}:\n{output}"
        return output

    def finish(self, timeout: float) -> tuple[int | None, str]:
        """Exit code (None if it had to be killed) and the whole output."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self._reader.join(5)
        return code, self.output()
