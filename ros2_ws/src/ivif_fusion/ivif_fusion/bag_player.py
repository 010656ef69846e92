"""bag_player: publish a rosbag2's messages at their recorded timing, over real DDS.

The bag's CDR bytes are published as they are (``Publisher.publish(bytes)``): what a node receives is
byte for byte what was recorded, with the recorded header stamps. Message ``k`` goes out at
``start + (log_k - log_0) / rate_factor`` on the wall clock (``rate_factor`` 2 = twice as fast).
Publishers are reliable, volatile, keep-last ``depth`` (a sensor-data subscriber, best effort,
matches them too). Before the first message the player waits until every topic has
``wait_subscribers`` subscriptions (or ``wait_timeout`` passes), so nothing is sent into the void.

``--publish-log CSV`` writes ``topic,stamp_ns,publish_ns`` per message (``publish_ns``: wall clock,
``time.time_ns()``, right after the publish call) so a replay tool can measure end-to-end latency.

Usage::

    python -m ivif_fusion.bag_player BAG [--topics /thermal/image_raw /visible/image_raw]
        [--rate-factor 1.0] [--wait-subscribers 1] [--wait-timeout 30] [--publish-log FILE]
        [--ros-args ...]
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
import time
from pathlib import Path

from fusion_core.errors import ConfigError, IvifError

DEFAULT_TOPICS = ("/thermal/image_raw", "/visible/image_raw")


def message_class(msgtype: str):
    """'sensor_msgs/msg/Image' -> the rclpy message class (ConfigError when it is not installed)."""
    try:
        package, kind, name = msgtype.split("/")
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ValueError, ImportError, AttributeError) as exc:
        raise ConfigError(f"message type {msgtype!r} is not available in this ROS installation: {exc}") from exc


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bag_player", description="Publish a rosbag2's messages at their recorded timing.")
    p.add_argument("bag", type=Path, help="rosbag2 directory (mcap or sqlite3)")
    p.add_argument("--topics", nargs="+", default=list(DEFAULT_TOPICS), help="topics to publish (default: both cameras)")
    p.add_argument("--rate-factor", type=float, default=1.0, help="playback speed; 0.5 = half speed (default: 1)")
    p.add_argument("--depth", type=int, default=10, help="publisher history depth (default: 10)")
    p.add_argument("--wait-subscribers", type=int, default=1, help="subscriptions each topic needs before playing")
    p.add_argument("--wait-timeout", type=float, default=30.0, help="seconds to wait for them (default: 30)")
    p.add_argument("--linger", type=float, default=5.0, help="seconds to wait for subscribers to acknowledge the last messages")
    p.add_argument("--publish-log", type=Path, default=None, help="CSV of topic, stamp_ns, publish_ns per message")
    args = p.parse_args(argv)
    if not args.rate_factor > 0:
        raise ConfigError(f"--rate-factor must be > 0, got {args.rate_factor}")
    if args.depth < 1:
        raise ConfigError(f"--depth must be >= 1, got {args.depth}")
    return args


def play(node, args: argparse.Namespace) -> int:
    """Publish the bag; returns the number of messages sent."""
    from fusion_core.replay.bagio import find_topic, iter_messages, open_bag
    from fusion_core.replay.codec import decode_header, typestore
    from rclpy.duration import Duration
    from rclpy.qos import QoSProfile

    with open_bag(args.bag) as reader:
        infos = [find_topic(reader, t, args.bag) for t in args.topics]
        pubs = {i.name: node.create_publisher(message_class(i.msgtype), i.name, QoSProfile(depth=args.depth)) for i in infos}
        types = {i.name: i.msgtype for i in infos}
        typestore()  # built now, not by the first decode_header of the publish log: that took 0.15-1 s between the
        # first two messages, and the catch-up burst after it cost the demo a pair behind the newest-wins worker
        _wait_for_subscribers(node, pubs, args.wait_subscribers, args.wait_timeout)
        log_file = args.publish_log.open("w", newline="", encoding="utf-8") if args.publish_log else None
        writer = csv.writer(log_file) if log_file else None
        if writer:
            writer.writerow(["topic", "stamp_ns", "publish_ns"])
        sent = 0
        start_wall = first_log = None
        try:
            for topic, log_ns, raw in iter_messages(reader, list(pubs)):
                if first_log is None:
                    first_log, start_wall = log_ns, time.monotonic()
                delay = start_wall + (log_ns - first_log) / 1e9 / args.rate_factor - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pubs[topic].publish(bytes(raw))
                published = time.time_ns()
                sent += 1
                if writer:
                    try:
                        stamp = decode_header(raw, types[topic])[0]
                    except Exception:  # a message without a header still gets published; no stamp logged
                        stamp = -1
                    writer.writerow([topic, stamp, published])
            for pub in pubs.values():  # reliable samples still in flight would die with the publisher
                pub.wait_for_all_acked(Duration(seconds=args.linger))
        finally:
            if log_file:
                log_file.close()
    node.get_logger().info(f"published {sent} messages from {args.bag} at {args.rate_factor}x")
    return sent


def _wait_for_subscribers(node, pubs: dict, need: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while need > 0 and time.monotonic() < deadline:
        if all(p.get_subscription_count() >= need for p in pubs.values()):
            time.sleep(0.3)  # let the reliable handshake finish so the first samples are delivered
            return
        time.sleep(0.05)
    if need > 0:
        counts = ", ".join(f"{t}: {p.get_subscription_count()}" for t, p in pubs.items())
        node.get_logger().warning(f"playing although not every topic has {need} subscription(s) after {timeout} s ({counts})")


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rclpy.utilities import remove_ros_args

    argv = list(sys.argv if argv is None else argv)
    try:
        args = parse_args(remove_ros_args(argv)[1:])
    except IvifError as exc:
        print(f"bag_player: error: {exc}", file=sys.stderr)
        return 2
    rclpy.init(args=argv)
    node = rclpy.create_node("bag_player")
    try:
        play(node, args)
        return 0
    except IvifError as exc:
        node.get_logger().fatal(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
