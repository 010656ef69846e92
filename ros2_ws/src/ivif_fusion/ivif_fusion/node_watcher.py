"""The benchmark side of a fusion_node in another process: its outputs and its /diagnostics, watched
from this process on an executor thread of its own (used by ivif_ros_bench and ivif_ros_soak)."""

from __future__ import annotations

import subprocess
import threading


class NodeWatcher:
    """A node in ``namespace`` that receives ``fusion/image`` (``on_fused(msg)``, overridden by users) and
    keeps the newest ``/diagnostics`` values of every status of a node in ``/<namespace>/``
    (:meth:`diagnostics`: fusion_node's by default). Subclasses add their subscriptions in
    :meth:`subscribe`, before the executor starts. ``close()`` before exit."""

    def __init__(self, node_name: str, namespace: str, fused_depth: int = 10) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from sensor_msgs.msg import Image

        from .qos import output_qos

        rclpy.init()
        self.node = Node(node_name, namespace=namespace)
        self._lock = threading.Lock()
        self._statuses: dict[str, dict[str, str]] = {}  # status name -> newest values
        self._prefix = f"/{namespace}/"
        self.node.create_subscription(Image, "fusion/image", self.on_fused, output_qos(fused_depth))
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.subscribe()
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def subscribe(self) -> None:
        """Extra subscriptions of a subclass on ``self.node`` (called before spinning starts)."""

    def on_fused(self, msg) -> None:
        """Called on the executor thread for every fused image."""

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith(self._prefix):
                with self._lock:
                    self._statuses[status.name] = {kv.key: kv.value for kv in status.values}

    def diagnostics(self, status: str = "fusion_node: fusion") -> dict[str, str]:
        """The newest /diagnostics values of ``/<namespace>/<status>`` (empty until its first report)."""
        with self._lock:
            return dict(self._statuses.get(self._prefix + status, {}))

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=5.0)  # the spin thread must be gone before the context goes (else an abort at exit)
        self.node.destroy_node()
        rclpy.try_shutdown()


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM (the nodes stop cleanly on it), then SIGKILL after ``timeout`` s; no-op when it already ended."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
