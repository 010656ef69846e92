"""bag_recorder: subscribe to topics over real DDS and write what arrives to a new rosbag2.

Subscriptions are raw (``raw=True``): the serialized CDR bytes go into the bag untouched, with the
receive time (wall clock, ``time.time_ns()``) as log time, exactly as ``ros2 bag record`` does.
QoS: reliable, volatile, keep-last ``depth`` — it matches the nodes' reliable outputs and loses
nothing while the recorder keeps up.

Topics are given as ``NAME:TYPE`` (types are known in advance, so nothing waits for discovery).
``--status-file`` is rewritten twice a second with the message counts, the publishers matched per
topic and the wall time of each topic's last message, so a supervising process (``ivif replay --live``) can
tell when the graph is connected and when the outputs have stopped. Ctrl-C / SIGTERM / an external
shutdown close the bag cleanly; so does ``--max-duration``.

Usage::

    python -m ivif_fusion.bag_recorder OUT_BAG [--topic /fusion/image:sensor_msgs/msg/Image ...]
        [--storage mcap|sqlite3] [--depth 100] [--status-file FILE] [--max-duration S] [--ros-args ...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from fusion_core.errors import ConfigError, IvifError

from .bag_player import message_class

DEFAULT_TOPICS = (
    "/fusion/image:sensor_msgs/msg/Image",
    "/fusion/alpha:sensor_msgs/msg/Image",
    "/detections/json:std_msgs/msg/String",
    "/detections/image:sensor_msgs/msg/Image",
    "/diagnostics:diagnostic_msgs/msg/DiagnosticArray",
)


def parse_topic(spec: str) -> tuple[str, str]:
    """'/fusion/image:sensor_msgs/msg/Image' -> ('/fusion/image', 'sensor_msgs/msg/Image')."""
    name, sep, msgtype = spec.partition(":")
    if not sep or not name or msgtype.count("/") != 2:
        raise ConfigError(f"topic {spec!r} must be NAME:TYPE, e.g. /fusion/image:sensor_msgs/msg/Image")
    return (name if name.startswith("/") else "/" + name), msgtype


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bag_recorder", description="Record topics (raw CDR) into a new rosbag2.")
    p.add_argument("bag", type=Path, help="output rosbag2 directory (must not exist)")
    p.add_argument("--topic", action="append", default=None, metavar="NAME:TYPE",
                   help="topic to record (repeatable; default: the fusion and detector outputs and /diagnostics)")
    p.add_argument("--storage", default="mcap", choices=("mcap", "sqlite3"), help="rosbag2 storage (default: mcap)")
    p.add_argument("--depth", type=int, default=100, help="subscription history depth (default: 100)")
    p.add_argument("--status-file", type=Path, default=None, help="JSON status, rewritten every 0.5 s")
    p.add_argument("--max-duration", type=float, default=0.0, help="stop after this many seconds (0 = until Ctrl-C)")
    args = p.parse_args(argv)
    args.topics = [parse_topic(t) for t in (args.topic or DEFAULT_TOPICS)]
    if args.depth < 1:
        raise ConfigError(f"--depth must be >= 1, got {args.depth}")
    return args


class Recorder:
    """Raw subscriptions writing into a :class:`fusion_core.replay.bagio.BagWriter` (one executor thread)."""

    def __init__(self, node, args: argparse.Namespace, writer) -> None:
        from rclpy.qos import QoSProfile

        self.node, self.args, self.writer = node, args, writer
        self.last_ns: dict[str, int] = {}
        self.started_ns = time.time_ns()
        self.subs = {}
        for name, msgtype in args.topics:
            writer.add_topic(name, msgtype)
            self.subs[name] = node.create_subscription(message_class(msgtype), name, lambda raw, n=name: self._on(n, raw),
                                                       QoSProfile(depth=args.depth), raw=True)
        if args.status_file is not None:
            node.create_timer(0.5, self.write_status)

    def _on(self, topic: str, raw: bytes) -> None:
        now = time.time_ns()
        self.writer.write(topic, now, raw)
        self.last_ns[topic] = now

    def status(self) -> dict:
        return {"counts": dict(self.writer.counts), "publishers": {t: s.get_publisher_count() for t, s in self.subs.items()},
                "last_message_ns": dict(self.last_ns), "now_ns": time.time_ns(), "started_ns": self.started_ns}

    def write_status(self) -> None:
        path = self.args.status_file
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.status()), encoding="utf-8")
        os.replace(tmp, path)  # readers never see a half-written file


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from fusion_core.replay.bagio import BagWriter
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.utilities import remove_ros_args

    argv = list(sys.argv if argv is None else argv)
    try:
        args = parse_args(remove_ros_args(argv)[1:])
    except IvifError as exc:
        print(f"bag_recorder: error: {exc}", file=sys.stderr)
        return 2
    rclpy.init(args=argv)
    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())  # close the bag on SIGTERM as on Ctrl-C
    node = rclpy.create_node("bag_recorder")
    code = 0
    try:
        with BagWriter(args.bag, args.storage) as writer:
            recorder = Recorder(node, args, writer)
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            deadline = time.monotonic() + args.max_duration if args.max_duration > 0 else None
            try:
                while rclpy.ok() and (deadline is None or time.monotonic() < deadline):
                    executor.spin_once(timeout_sec=0.1)
            except (KeyboardInterrupt, ExternalShutdownException):
                pass
            if args.status_file is not None:
                recorder.write_status()
            node.get_logger().info(f"recorded {sum(writer.counts.values())} messages into {args.bag}: {writer.counts}")
    except IvifError as exc:
        node.get_logger().fatal(str(exc))
        code = 2
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
