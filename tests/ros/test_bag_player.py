"""bag_player over real rclpy: every message goes out byte for byte, with nothing slow between two messages.

The player decodes each message's header for its publish log with rosbags' typestore, which takes 0.15-1 s to
build. Built lazily by the first decode, that time fell between the recording's first two messages (thermal,
then visible 0.4 ms later in the demo's bag), and the catch-up burst after it cost the demo a pair behind the node's
newest-wins worker. The player must build it before the clock starts: checked at every publish call.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from ros_harness import Probe, wait_for

pytest.importorskip("rosbags", reason="rosbags is not installed (pip install -e .[replay])")

from fusion_core.replay.bagio import iter_messages, open_bag  # noqa: E402
from fusion_core.replay.codec import decode_header, typestore  # noqa: E402
from fusion_core.replay.make_bag import make_bag  # noqa: E402
from test_live_replay import first_pairs  # noqa: E402

pytestmark = pytest.mark.ros


def test_the_typestore_is_built_before_the_first_message_goes_out(graph, msrs_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import rclpy
    from rclpy.publisher import Publisher
    from sensor_msgs.msg import Image

    from ivif_fusion.bag_player import parse_args, play

    first_pairs(msrs_dir, tmp_path, 2)
    make_bag(tmp_path / "ir", tmp_path / "vi", tmp_path / "bag", rate=20.0)
    with open_bag(tmp_path / "bag") as reader:
        recorded = [bytes(raw) for _, _, raw in iter_messages(reader, ["/thermal/image_raw", "/visible/image_raw"])]
    probe = Probe(graph, "player")
    for topic in ("/thermal/image_raw", "/visible/image_raw"):
        probe.record(Image, topic, 10)

    built_at_publish: list[bool] = []  # per camera message the player publishes: had the typestore been built?
    publish = Publisher.publish

    def observed(self, msg):
        if self.topic_name in ("/thermal/image_raw", "/visible/image_raw"):  # not the graph's own (parameter events, ...)
            built_at_publish.append(typestore.cache_info().currsize == 1)
        return publish(self, msg)

    monkeypatch.setattr(Publisher, "publish", observed)
    typestore.cache_clear()  # as in the player's own fresh process
    node = graph.add(rclpy.create_node("bag_player", context=graph.context))
    args = parse_args([str(tmp_path / "bag"), "--wait-subscribers", "1", "--wait-timeout", "10", "--linger", "2",
                       "--publish-log", str(tmp_path / "log.csv")])
    assert play(node, args) == len(recorded) == 4
    assert built_at_publish == [True] * 4
    wait_for(lambda: all(len(probe.messages(t)) == 2 for t in ("/thermal/image_raw", "/visible/image_raw")), 10, "all 4 messages")
    with (tmp_path / "log.csv").open(newline="") as fh:
        logged = [int(row["stamp_ns"]) for row in csv.DictReader(fh)]
    assert logged == [decode_header(raw)[0] for raw in recorded]  # the log's stamps are the recorded ones, in order
    graph.remove(node)
