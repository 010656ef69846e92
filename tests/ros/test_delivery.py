"""DeliveryMonitor: frames published but never delivered, from writer sequence numbers (pure Python),
and one check over real rclpy + Fast DDS that MessageInfo carries what the monitor needs."""

from __future__ import annotations

import time

import pytest
from ros_harness import Probe, wait_for, wait_matched

from ivif_fusion.delivery import DeliveryMonitor, StallMeter

A = {"implementation_identifier": "rmw_fastrtps_cpp", "data": b"\x01" * 16}
B = {"implementation_identifier": "rmw_fastrtps_cpp", "data": b"\x02" * 16}


def feed(monitor: DeliveryMonitor, events) -> list[int]:
    return [monitor.on_message(gid, seq) for gid, seq in events]


@pytest.mark.parametrize("events, changes, expect", [
    # in order, nothing missing
    ([(A, 1), (A, 2), (A, 3)], [0, 0, 0], {"received": 3, "gaps": 0, "before_first": 0}),
    # two frames skipped, then the stream goes on
    ([(A, 1), (A, 4), (A, 5)], [0, 2, 0], {"received": 3, "gaps": 2}),
    # joined late: 1..9 published before the first delivery are not losses
    ([(A, 10), (A, 11)], [0, 0], {"received": 2, "gaps": 0, "before_first": 9}),
    # a late sample fills its gap again
    ([(A, 1), (A, 3), (A, 2), (A, 4)], [0, 1, -1, 0], {"received": 4, "gaps": 0, "reordered": 1}),
    # the same sample twice is a duplicate, not a frame
    ([(A, 1), (A, 2), (A, 2)], [0, 0, 0], {"received": 2, "duplicates": 1}),
    # two writers on one topic, interleaved, each with its own numbering; B lost one
    ([(A, 1), (B, 1), (A, 2), (B, 3), (A, 3)], [0, 0, 0, 1, 0], {"received": 5, "gaps": 1, "writers": 2}),
    # a restarted camera process is a new writer (new GUID), its numbers start at 1 again
    ([(A, 1), (A, 2), (A, 3), (B, 1), (B, 2)], [0, 0, 0, 0, 0], {"received": 5, "gaps": 0, "writers": 2}),
])
def test_counts(events, changes, expect) -> None:
    monitor = DeliveryMonitor(reorder_window=8)
    assert feed(monitor, events) == changes
    snap = monitor.snapshot()
    for key, value in expect.items():
        assert snap[key] == value, (key, snap)


def test_without_gid_a_jump_back_is_a_restart() -> None:
    monitor = DeliveryMonitor(reorder_window=4)
    feed(monitor, [(None, s) for s in range(1, 21)] + [(None, 1), (None, 3)])
    snap = monitor.snapshot()
    assert (snap["restarts"], snap["received"], snap["gaps"], snap["ambiguous"]) == (1, 22, 1, False)


def test_without_gid_two_writers_are_flagged_ambiguous() -> None:
    monitor = DeliveryMonitor(reorder_window=4)
    feed(monitor, [(None, 1), (None, 1), (None, 2), (None, 2)])
    assert monitor.snapshot()["ambiguous"] is True


def test_late_sample_beyond_the_window_stays_lost() -> None:
    monitor = DeliveryMonitor(reorder_window=4)
    assert feed(monitor, [(A, 1), (A, 3), (A, 20), (A, 2)]) == [0, 1, 16, 0]
    snap = monitor.snapshot()
    assert (snap["gaps"], snap["too_late"], snap["duplicates"]) == (17, 1, 0)  # too late to fill its gap


def test_missing_sequence_numbers_are_counted_apart() -> None:
    monitor = DeliveryMonitor()
    assert feed(monitor, [(A, None), (A, 0), (A, 1)]) == [0, 0, 0]
    assert monitor.snapshot()["without_sequence"] == 2


def test_writers_beyond_the_limit_are_retired_into_the_totals() -> None:
    monitor = DeliveryMonitor(max_writers=2)
    gids = [bytes([i]) * 16 for i in range(1, 5)]
    for gid in gids:
        feed(monitor, [(gid, 5), (gid, 7)])  # each: 4 before the first, one gap
    snap = monitor.snapshot()
    assert (snap["writers"], snap["received"], snap["gaps"], snap["before_first"]) == (2, 8, 4, 16)


@pytest.mark.parametrize("reorder_window, max_writers", [(0, 4), (4, 0)])
def test_invalid_settings(reorder_window, max_writers) -> None:
    with pytest.raises(ValueError, match="reorder_window and max_writers must be >= 1"):
        DeliveryMonitor(reorder_window, max_writers)


def test_stall_meter() -> None:
    meter = StallMeter(threshold_s=0.2)
    for t in (0.0, 0.1, 0.2, 0.7, 0.8, 1.3):
        meter.arrived(t)
    s = meter.summary()
    assert s["stalls"] == 2 and s["stall_s_total"] == pytest.approx(1.0)
    assert s["max_gap_ms"] == pytest.approx(500.0)
    assert StallMeter().summary()["stalls"] == 0


@pytest.mark.ros
def test_message_info_carries_writer_sequence_and_gid(graph) -> None:
    """rmw_fastrtps_cpp fills publication_sequence_number (1, 2, … per writer) and publisher_gid."""
    from std_msgs.msg import String

    probe = Probe(graph, "delivery_check")
    pubs = [probe.publisher(String, "chatter"), probe.publisher(String, "chatter")]
    infos: list[dict] = []
    probe._keep.append(probe.node.create_subscription(String, "chatter", lambda m, info: infos.append(info), 50))
    for pub in pubs:
        wait_matched(pub)
    time.sleep(0.3)
    monitor = DeliveryMonitor()
    for k in range(3):
        for pub in pubs:
            pub.publish(String(data=str(k)))
    wait_for(lambda: len(infos) == 6, 10.0, "6 samples from two writers")
    for info in infos:
        monitor.on_message(info["publisher_gid"], info["publication_sequence_number"])
    by_writer: dict[bytes, list[int]] = {}
    for info in infos:
        by_writer.setdefault(DeliveryMonitor.key(info["publisher_gid"]), []).append(info["publication_sequence_number"])
    assert sorted(by_writer.values()) == [[1, 2, 3], [1, 2, 3]]
    snap = monitor.snapshot()
    assert (snap["writers"], snap["received"], snap["gaps"], snap["before_first"]) == (2, 6, 0, 0)
