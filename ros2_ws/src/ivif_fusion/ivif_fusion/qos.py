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

These are defaults. Every publisher and subscription of the nodes is made through :func:`publisher` /
:func:`subscription`, which accept ROS 2's standard QoS override parameters for history, depth and
reliability (``qos_overrides.<resolved topic>.<publisher|subscription>.<policy>``, read once at start-up,
as image_pipeline's and rosbag2's nodes do): a robot whose network or viewer needs another profile changes
it in a params file instead of in code. A value ROS cannot use stops the node with a FATAL line naming
the override (exit code 2); an override that names no topic of the node is warned about
(:func:`ivif_fusion.params.warn_undeclared_qos_overrides`).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

from fusion_core.errors import ConfigError

from .params import QOS_OVERRIDES

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


def describe(qos) -> str:
    """'reliable, keep last 30' for a start-up log: the profile an entity got, overrides applied."""
    history = f"keep last {qos.depth}" if qos.history.name.lower() == "keep_last" else qos.history.name.lower()
    return f"{qos.reliability.name.lower()}, {history}"


def output_qos(depth: int = 5):
    """Reliable, volatile, keep last ``depth``: the default publisher profile."""
    from rclpy.qos import QoSProfile

    return QoSProfile(depth=depth)


def latched_qos():
    """Reliable, transient local, the newest message only: a state that changes rarely (the thermal footprint),
    which a subscriber that comes later must still get at once."""
    from rclpy.qos import DurabilityPolicy, QoSProfile

    return QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)


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


def publisher(node, msg_type, topic: str, qos):
    """``node.create_publisher`` whose history, depth and reliability ROS's QoS override parameters can change."""
    with _override_errors(node, topic, "publisher"):
        return node.create_publisher(msg_type, topic, copy.copy(qos), qos_overriding_options=_overriding_options())


def subscription(node, msg_type, topic: str, callback, qos, **kwargs):
    """``node.create_subscription`` (``kwargs``: event_callbacks, ...) with ROS's QoS override parameters, as
    :func:`publisher`. The profile is copied: rclpy writes the overrides into the profile it is given, and the
    nodes share one profile between their two camera inputs."""
    with _override_errors(node, topic, "subscription"):
        return node.create_subscription(msg_type, topic, callback, copy.copy(qos),
                                        qos_overriding_options=_overriding_options(), **kwargs)


def _overriding_options():
    from rclpy.qos_overriding_options import QoSOverridingOptions

    return QoSOverridingOptions.with_default_policies(callback=_check_overridden)


def _check_overridden(qos):
    """What rclpy accepts but DDS cannot use: a keep-last history of no samples."""
    from rcl_interfaces.msg import SetParametersResult
    from rclpy.qos import HistoryPolicy

    if qos.history == HistoryPolicy.KEEP_LAST and qos.depth < 1:
        return SetParametersResult(successful=False, reason=f"depth {qos.depth} with keep_last history; use >= 1")
    return SetParametersResult(successful=True)


@contextmanager
def _override_errors(node, topic: str, kind: str):
    """A QoS override ROS refuses (an unknown policy value, a wrong type, depth 0) -> ConfigError naming it.

    rclpy raises RuntimeError / ParameterException / InvalidQosOverridesError from inside
    create_publisher/create_subscription; they are translated only when the user gave an override for this
    very entity, so an unrelated failure is not mislabelled as a configuration error."""
    prefix = f"{QOS_OVERRIDES}{node.resolve_topic_name(topic)}.{kind}."
    try:
        yield
    except Exception as exc:
        given = sorted(n for n in getattr(node, "_parameter_overrides", {}) if n.startswith(prefix))
        if not given:
            raise
        raise ConfigError(f"QoS override {', '.join(given)}: {exc}") from None
