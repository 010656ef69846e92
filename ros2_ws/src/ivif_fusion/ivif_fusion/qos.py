"""QoS profiles shared by the nodes, and what the transport does to large images.

Inputs use the sensor-data profile (keep-last, volatile) with a configurable reliability:
``best_effort`` matches any publisher but, for 640×480 images on default Fast DDS (UDP+SHM), loses
most fragmented samples (measured 4 of 6 at 7 Hz; 1 of 6 with ``FASTDDS_BUILTIN_TRANSPORTS=SHM`` or
``LARGE_DATA``); ``reliable`` loses none in the end but only matches reliable publishers, and on
default UDP a lost fragment waits for a repair: end-to-end p99 ≈ 3 s and pairs dropped well below
the engine's rate (ivif_ros_bench). With ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` (UDP only for
discovery, SHM/TCP for data) reliable inputs ran at 0.85× the bare engine's rate without a drop,
p99 within a few ms of p50 — so the launch file sets LARGE_DATA and the nodes default to reliable.
Outputs are reliable, which best-effort and reliable subscribers can both receive.
"""

from __future__ import annotations


def input_qos(reliability: str, depth: int):
    """Sensor-data QoS (keep last ``depth``, volatile) with ``reliability`` 'reliable' | 'best_effort'."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    profile = QoSProfile(depth=max(depth, qos_profile_sensor_data.depth), history=qos_profile_sensor_data.history,
                         durability=qos_profile_sensor_data.durability)
    profile.reliability = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return profile


def camera_qos(reliability: str, depth: int):
    """What a camera driver publishes with: keep last ``depth``, volatile, ``reliability`` 'reliable' | 'best_effort'."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    profile = QoSProfile(depth=depth)
    profile.reliability = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return profile


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
