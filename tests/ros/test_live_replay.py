"""Live replay over real rclpy/Fast DDS: bag_player -> fusion_node -> detector_node -> bag_recorder (or fusion_node with
its in-process detector -> bag_recorder), as processes, matched frame by frame with the offline replay of the same bag,
with every pair accounted for."""

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
from fusion_core.replay.live import ROS_PACKAGE, LiveConfig, rclpy_available  # noqa: E402
from fusion_core.replay.make_bag import make_bag, read_sidecar  # noqa: E402
from fusion_core.replay.offline import ReplayConfig  # noqa: E402
from fusion_core.replay.runner import run_replay  # noqa: E402

pytestmark = pytest.mark.ros


def _has_inprocess_detector() -> bool:
    return "detector.enabled" in (ROS_PACKAGE / "ivif_fusion" / "params.py").read_text(encoding="utf-8")


def first_pairs(msrs_dir: Path, folder: Path, n: int = 3) -> list[str]:
    """Copy the first ``n`` MSRS pairs (by stem) into ``folder``/ir and ``folder``/vi; returns their stems."""
    stems = sorted(p.stem for p in (msrs_dir / "ir").glob("*.png"))[:n]
    for sub in ("ir", "vi"):
        (folder / sub).mkdir()
        for stem in stems:
            shutil.copy(msrs_dir / sub / f"{stem}.png", folder / sub)
    return stems


@pytest.mark.parametrize("mode", ["node", "inprocess"])
def test_live_replay_matches_offline_frame_by_frame(msrs_dir: Path, tmp_path: Path, mode: str, monkeypatch) -> None:
    ok, why = rclpy_available()
    if not ok:
        pytest.skip(why)
    if mode == "inprocess" and not _has_inprocess_detector():
        pytest.skip("fusion_node has no in-process detector (parameter detector.enabled) in this checkout")
    stems = first_pairs(msrs_dir, tmp_path)
    bag = tmp_path / "bag"
    make_bag(tmp_path / "ir", tmp_path / "vi", bag, rate=10.0, jitter_ms=2.0, seed=5)
    config = ReplayConfig(detect=True, collect=CollectSettings(baselines=("average",), sheet_pairs=1))
    # a worker queue that holds every pair: on a busy CPU the default (newest wins) would drop frames by design
    live = LiveConfig(rate_factor=0.5, detector=True, detector_mode=mode, fusion_params={"worker_queue_size": 10},
                      detector_params={"worker_queue_size": 10} if mode == "node" else {})
    if mode == "inprocess":  # relative paths from another directory: the graph's processes run in the repository
        monkeypatch.chdir(tmp_path)
        result, report = run_replay(Path("bag"), Path("out"), config, EngineConfig(), live)
    else:
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
    assert counts["/fusion/image"] == counts["/fusion/alpha"] == counts["/detections/json"] == 3
    assert counts.get("/detections/image") == (3 if mode == "node" else None)  # in-process: the annotated image is opt-in
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
    # every pair fused and detected; the stage table says where each would have been lost
    d = result.extra["delivery"]
    assert (d["pairs"], d["fused"], d["detected"], d["fused_and_detected"], d["detector"]) == (3, 3, 3, 3, mode)
    detect_stages = (["received by detector_node", "detected by detector_node"] if mode == "node"
                     else ["detected in fusion_node"])
    assert [(s["stage"], s["count"], s["lost"]) for s in d["stages"]] == [
        (name, 3, 0) for name in ("paired by fusion_node", "fused by fusion_node", "fused image recorded", *detect_stages,
                                  "detections recorded")]
    assert "**3 of 3 pairs fused and detected (100.0 %)**" in md


def test_live_replay_of_a_compressed_bag(msrs_dir: Path, tmp_path: Path) -> None:
    """A bag holding only image_transport's compressed topics (as most datasets do): the player publishes them as
    recorded, fusion_node subscribes its compressed transport, and the live outputs equal the offline replay's."""
    ok, why = rclpy_available()
    if not ok:
        pytest.skip(why)
    first_pairs(msrs_dir, tmp_path)
    bag = tmp_path / "bag"
    make_bag(tmp_path / "ir", tmp_path / "vi", bag, rate=10.0, jitter_ms=2.0, seed=5, thermal_encoding="mono16", compressed=True)
    config = ReplayConfig(thermal_topic="/thermal/image_raw/compressed", visible_topic="/visible/image_raw/compressed",
                          collect=CollectSettings(metrics=False, sheet_pairs=0))
    live = LiveConfig(rate_factor=0.5, fusion_params={"worker_queue_size": 10})
    result, _ = run_replay(bag, tmp_path / "out", config, EngineConfig(), live)

    cmp = result.extra["comparison"]
    assert (cmp["offline_pairs"], cmp["live_frames"], cmp["matched"], cmp["identical"]) == (3, 3, 3, 3)
    assert (cmp["max_abs_fused"], cmp["max_abs_alpha"], cmp["offline_only"], cmp["live_only"]) == (0, 0, 0, 0)
    for cam in ("thermal", "visible"):
        assert result.inputs[cam]["published"] == result.inputs[cam]["read"] == 3
    with open_bag(result.out_bag) as reader:
        fused = [decode_image(raw) for _, _, raw in iter_messages(reader, ["/fusion/image"])]
    assert len(fused) == 3 and {f.encoding for f in fused} == {"bgr8"}  # a compressed colour camera decodes to bgr
