"""Shared helpers of the ROS integration tests: a private DDS domain, an rclpy graph spinning in a thread.

The ROS package is imported from its source folder (``ros2_ws/src/ivif_fusion`` is put on
``sys.path`` here), so no colcon build or extra install is needed to run these tests; subprocesses
get the same folder on ``PYTHONPATH`` through :func:`ros_env`.
"""

from __future__ import annotations

import os
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
