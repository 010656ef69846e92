"""Live replay over real rclpy/Fast DDS: bag_player -> fusion_node -> detector_node -> bag_recorder, as processes,
matched frame by frame with the offline replay of the same bag."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="rosbags is not installed (pip install -e .[replay])")

from fusion_core.engine import EngineConfig  # noqa: E402
from fusion_core.replay.bagio import iter_messages, open_bag, topics  # noqa: E402
from fusion_core.replay.codec import decode_image  # noqa: E402
from fusion_core.replay.collect import CollectSettings  # noqa: E402
from fusion_core.replay.live import LiveConfig, rclpy_available  # noqa: E402
from fusion_core.replay.make_bag import make_bag, read_sidecar  # noqa: E402
from fusion_core.replay.offline import ReplayConfig  # noqa: E402
from fusion_core.replay.runner import run_replay  # noqa: E402

pytestmark = pytest.mark.ros


def test_live_replay_matches_offline_frame_by_frame(msrs_dir: Path, tmp_path: Path) -> None:
    ok, why = rclpy_available()
    if not ok:
        pytest.skip(why)
    stems = sorted(p.stem for p in (msrs_dir / "ir").glob("*.png"))[:3]
    for sub in ("ir", "vi"):
        (tmp_path / sub).mkdir()
        for stem in stems:
            shutil.copy(msrs_dir / sub / f"{stem}.png", tmp_path / sub)
    bag = tmp_path / "bag"
    make_bag(tmp_path / "ir", tmp_path / "vi", bag, rate=10.0, jitter_ms=2.0, seed=5)
    config = ReplayConfig(detect=True, collect=CollectSettings(baselines=("average",), sheet_pairs=1))
    # a worker queue that holds every pair: on a busy CPU the default (newest wins) would drop frames by design
    live = LiveConfig(rate_factor=0.5, detector=True, fusion_params={"worker_queue_size": 10},
                      detector_params={"worker_queue_size": 10})
    result, report = run_replay(bag, tmp_path / "out", config, EngineConfig(), live)

    cmp = result.extra["comparison"]
    assert (cmp["offline_pairs"], cmp["live_frames"], cmp["matched"], cmp["identical"]) == (3, 3, 3, 3)
    assert (cmp["max_abs_fused"], cmp["max_abs_alpha"], cmp["offline_only"], cmp["live_only"]) == (0, 0, 0, 0)
    for cam in ("thermal", "visible"):
        assert result.inputs[cam]["published"] == result.inputs[cam]["read"] == 3  # the node received every frame

    names = read_sidecar(bag)
    with open_bag(bag) as reader:
        visible_stamps = [decode_image(raw).stamp_ns for _, _, raw in iter_messages(reader, ["/visible/image_raw"])]
    with open_bag(result.out_bag) as reader:
        counts = {t: i.count for t, i in topics(reader).items()}
        fused = [decode_image(raw) for _, _, raw in iter_messages(reader, ["/fusion/image"])]
    assert counts["/fusion/image"] == counts["/fusion/alpha"] == counts["/detections/json"] == counts["/detections/image"] == 3
    assert counts["/diagnostics"] > 0
    assert [f.stamp_ns for f in fused] == visible_stamps  # the node stamps outputs with the visible header
    assert {f.frame_id for f in fused} == {"visible_camera"} and {f.encoding for f in fused} == {"rgb8"}
    assert all(names[s] in stems for s in visible_stamps)
    assert not any(np.array_equal(fused[0].image, f.image) for f in fused[1:])  # three different frames

    with (tmp_path / "out" / "publish_log.csv").open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 6
    c = result.collected
    assert c.latency["end_to_end"]["n"] == 3 and 0 < c.latency["end_to_end"]["p50"] < 120_000
    assert c.latency["detect_after_fusion"]["n"] == 3 and c.detections["pairs"] == 3
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "# Replay report (live)" in md and "| pixel-identical (fused and α) | 3 |" in md
    assert "received by fusion_node: 3, 3" in md and report.name == "report.html"
    assert (tmp_path / "out" / "offline" / "report.html").is_file()
