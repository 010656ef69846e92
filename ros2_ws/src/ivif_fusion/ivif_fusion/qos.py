"""QoS profiles shared by the nodes and the camera stand-in, chosen on purpose for raw images.

Measured between processes on this host (scripts/transport_probe.py, README "Transport"):

* **Reliability: reliable.** Best-effort loses what the transport cannot deliver at once (55 % of
  640×480 frames on LARGE_DATA in the independent review's 5-minute soak; none over the shipped
  profile, which has no stalls to lose them in); reliable repairs it. A reliable
  subscription never matches a best-effort publisher (logged as an incompatible QoS): a best-effort
  camera needs ``input_reliability:=best_effort``.
* **Subscription depth: ``INPUT_DEPTH`` (30), not the pairing ``queue_size``.** After a transport
  stall DDS hands the subscription a burst; a KEEP_LAST history shorter than the burst drops the
  oldest samples silently (no event): in the review's burst test one camera delivering 20 frames at
  once lost 15 at depth 5, none at depth 30. 30 frames = 1 s at 30 Hz; the history holds samples
  only while the executor is behind, so the memory is spent only then.
* **The transport** (the shipped Fast DDS profile, :mod:`ivif_fusion.transport`) is what removes the
  stalls; these depths are the margin for the ones left.

Outputs are reliable, which best-effort and reliable subscribers can both receive.
Losses that no DDS event reports are counted from writer sequence numbers
(:class:`ivif_fusion.delivery.DeliveryMonitor`).
"""

from __future__ import annotations

INPUT_DEPTH = 30  # subscription history per camera input, frames (keep last)
CAMERA_DEPTH = 10  # what the camera stand-in publishes with (keep last); a driver's own depth is its choice


def input_qos(reliability: str, depth: int = INPUT_DEPTH):
    """Sensor-data QoS (keep last ``depth`` ≥ 5, volatile) with ``reliability`` 'reliable' | 'best_effort'.

    ``depth`` is the subscription's history, independent of the pairing queue: see the module docstring.
    """
    from rclpy.qos import QoSProfile, qos_profile_sensor_data

    return QoSProfile(depth=max(depth, qos_profile_sensor_data.depth), history=qos_profile_sensor_data.history,
                      durability=qos_profile_sensor_data.durability, reliability=_reliability(reliability))


def camera_qos(reliability: str, depth: int):
    """What a camera driver publishes with: keep last ``depth``, volatile, ``reliability`` 'reliable' | 'best_effort'."""
    from rclpy.qos import QoSProfile

    return QoSProfile(depth=depth, reliability=_reliability(reliability))


def _reliability(name: str):
    """'reliable' | 'best_effort' -> rclpy's ReliabilityPolicy."""
    from rclpy.qos import ReliabilityPolicy

    return ReliabilityPolicy.RELIABLE if name == "reliable" else ReliabilityPolicy.BEST_EFFORT


def output_qos(depth: int = 5):
    """Reliable, volatile, keep last ``depth``: the default publisher profile."""
    from rclpy.qos import QoSProfile

    return QoSProfile(depth=depth)


def input_event_callbacks(node, topic_label: str, counters, counter_name: str):
    """Subscription event callbacks: DDS-reported lost samples are counted; an incompatible QoS is logged."""
    from rclpy.event_handler import SubscriptionEventCallbacks

    def on_lost(info) -> None:
        counters.add(counter_name, int(info.total_count_change))

    def on_incompatible(info) -> None:
        node.get_logger().error(
            f"{topic_label}: a publisher's QoS is incompatible with this subscription (policy id {info.last_policy_kind}); "
            "with input_reliability 'reliable' a best-effort publisher is never matched: set input_reliability to 'best_effort'"
        )

    return SubscriptionEventCallbacks(message_lost=on_lost, incompatible_qos=on_incompatible, use_default_callbacks=False)
