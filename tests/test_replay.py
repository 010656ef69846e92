"""make-bag -> replay round trips, the bag codec, capture timing, frame accounting, streaming memory,
the report and the demo's offline path. No ROS needed (the live replay is in tests/ros)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("rosbags", reason="rosbags is not installed (pip install -e .[replay])")

from fusion_core.engine import EngineConfig, FusionEngine, create_engine  # noqa: E402
from fusion_core.errors import ConfigError, InputError  # noqa: E402
from fusion_core.io import read_thermal, read_visible  # noqa: E402
from fusion_core.replay.bagio import BagWriter, iter_messages, open_bag, topics  # noqa: E402
from fusion_core.replay.codec import IMAGE_MSGTYPE, decode_image, encode_image, typestore  # noqa: E402
from fusion_core.replay.collect import CollectSettings  # noqa: E402
from fusion_core.replay.make_bag import make_bag, read_sidecar, write_pairs_bag  # noqa: E402
from fusion_core.replay.offline import ReplayConfig, replay  # noqa: E402
from fusion_core.replay.schedule import make_schedule  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
NO_METRICS = CollectSettings(metrics=False, sheet_pairs=0)


def _read_bag(path: Path) -> dict[str, list[tuple[int, object]]]:
    """topic -> [(log ns, Frame)] of every image message, in log order."""
    out: dict[str, list] = {}
    with open_bag(path) as reader:
        for topic, log_ns, raw in iter_messages(reader, list(topics(reader))):
            out.setdefault(topic, []).append((log_ns, decode_image(raw, topic)))
    return out


class AverageRunner:
    """A real NetworkRunner (the backend contract) whose network is a plain average: cheap, for I/O tests."""

    name = "average"
    device = torch.device("cpu")

    def __call__(self, ir: torch.Tensor, vi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (ir + vi) * 0.5, torch.full_like(ir, 0.5)


def _noise_pairs(h: int, w: int):
    def load(i: int):
        rng = np.random.default_rng(i)
        return f"{i:05d}", rng.integers(0, 256, (h, w), dtype=np.uint8), rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return load


@pytest.fixture(scope="module")
def three_pairs(msrs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ir/ and vi/ holding the first 3 MSRS pairs (by stem)."""
    root = tmp_path_factory.mktemp("pairs")
    stems = sorted(p.stem for p in (msrs_dir / "ir").glob("*.png"))[:3]
    for sub in ("ir", "vi"):
        (root / sub).mkdir()
        for stem in stems:
            shutil.copy(msrs_dir / sub / f"{stem}.png", root / sub / f"{stem}.png")
    return root


@pytest.fixture(scope="module")
def fuse_cli_out(three_pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `ivif fuse` writes for the three pairs."""
    from fusion_core.cli.main import main

    out = tmp_path_factory.mktemp("fuse")
    assert main(["fuse", "--ir", str(three_pairs / "ir"), "--vi", str(three_pairs / "vi"), "--out", str(out)]) == 0
    return out


# --- round trips ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("storage,suffix", [("mcap", ".mcap"), ("sqlite3", ".db3")])
def test_make_bag_replay_round_trip(storage, suffix, three_pairs, fuse_cli_out, tmp_path):
    made = make_bag(three_pairs / "ir", three_pairs / "vi", tmp_path / "in", rate=10.0, jitter_ms=2.0, storage=storage, seed=3)
    assert made.messages == {"/thermal/image_raw": 3, "/visible/image_raw": 3}
    assert [p.suffix for p in (tmp_path / "in").iterdir() if p.suffix in (".mcap", ".db3")] == [suffix]

    result = replay(tmp_path / "in", tmp_path / "out", ReplayConfig(storage=storage, collect=NO_METRICS))
    assert result.pairs == 3 and result.pairing["emitted"] == 3
    msgs = _read_bag(tmp_path / "out" / "bag")
    assert {t: len(v) for t, v in msgs.items()} == {"/thermal/image_raw": 3, "/visible/image_raw": 3,
                                                    "/fusion/image": 3, "/fusion/alpha": 3}
    assert [p.suffix for p in (tmp_path / "out" / "bag").iterdir() if p.suffix in (".mcap", ".db3")] == [suffix]

    stems = read_sidecar(tmp_path / "in")
    visible = msgs["/visible/image_raw"]
    input_logs = sorted(log for topic in ("/thermal/image_raw", "/visible/image_raw") for log, _ in msgs[topic])
    for (log_v, vis), (log_t, th), (log_f, fused), (log_a, alpha) in zip(
            visible, msgs["/thermal/image_raw"], msgs["/fusion/image"], msgs["/fusion/alpha"]):
        # stamps and frame ids: inputs as recorded, outputs carry the visible frame's header
        assert (th.frame_id, vis.frame_id, fused.frame_id, alpha.frame_id) == (
            "thermal_camera", "visible_camera", "visible_camera", "visible_camera")
        assert fused.stamp_ns == alpha.stamp_ns == vis.stamp_ns
        assert abs(th.stamp_ns - vis.stamp_ns) <= 20_000_000
        assert log_v > vis.stamp_ns and log_t > th.stamp_ns  # received after exposure
        # written when the pair was proven best: at the next frame of the other camera (10 Hz), or, for the
        # last pair, at the end of the bag (the last message's log time)
        assert log_f == log_a and log_f in input_logs and max(log_v, log_t) <= log_f <= max(log_v, log_t) + 110_000_000
        assert (th.encoding, vis.encoding, fused.encoding, alpha.encoding) == ("mono8", "rgb8", "rgb8", "mono8")
        # pixels: the bag holds the files' pixels, the outputs equal what `ivif fuse` writes
        stem = stems[vis.stamp_ns]
        assert stems[th.stamp_ns] == stem
        np.testing.assert_array_equal(th.image, read_thermal(three_pairs / "ir" / f"{stem}.png"))
        np.testing.assert_array_equal(vis.image, read_visible(three_pairs / "vi" / f"{stem}.png"))
        np.testing.assert_array_equal(fused.image, read_visible(fuse_cli_out / "fused" / f"{stem}.png"))
        np.testing.assert_array_equal(alpha.image, read_thermal(fuse_cli_out / "alpha" / f"{stem}.png"))
    assert msgs["/fusion/image"][-1][0] == input_logs[-1]  # nothing comes after the last pair: flushed at the end


@pytest.mark.parametrize("encoding,dtype,stored", [
    ("mono16", np.uint16, lambda ir8: ir8.astype(np.uint16) * 257),
    ("32FC1", np.float32, lambda ir8: ir8.astype(np.float32) / np.float32(255.0)),  # a float camera, live and replayed
])
def test_wide_thermal_bag_fuses_like_mono8(encoding, dtype, stored, three_pairs, tmp_path):
    make_bag(three_pairs / "ir", three_pairs / "vi", tmp_path / "in", thermal_encoding=encoding, limit=1)
    msgs = _read_bag(tmp_path / "in")
    thermal = msgs["/thermal/image_raw"][0][1]
    stem = read_sidecar(tmp_path / "in")[thermal.stamp_ns]
    source = read_thermal(three_pairs / "ir" / f"{stem}.png")
    assert thermal.encoding == encoding and thermal.image.dtype == dtype
    np.testing.assert_array_equal(thermal.image, stored(source))
    replay(tmp_path / "in", tmp_path / "out", ReplayConfig(collect=NO_METRICS))
    fused = _read_bag(tmp_path / "out" / "bag")["/fusion/image"][0][1].image
    expected = create_engine().fuse(source, read_visible(three_pairs / "vi" / f"{stem}.png"), "rgb").fused
    assert np.abs(fused.astype(int) - expected.astype(int)).max() <= 1  # the same [0, 1] values up to float rounding


def test_a_float_thermal_camera_cannot_be_written_compressed(tmp_path):
    with pytest.raises(ConfigError, match="compressed plugin has no float format"):
        write_pairs_bag(_noise_pairs(8, 8), 2, tmp_path / "in", thermal_encoding="32FC1", compressed=True)
    assert not (tmp_path / "in").exists()


def test_a_frame_the_input_cannot_take_is_a_counted_bad_frame(tmp_path):
    """Replay applies the live node's per-input encodings: a colour frame on the thermal topic and a 16-bit frame
    on the visible topic are bad frames, counted and named, as fusion_node counts them."""
    rng = np.random.default_rng(3)
    with BagWriter(tmp_path / "in") as bag:
        for topic in ("/thermal/image_raw", "/visible/image_raw"):
            bag.add_topic(topic, IMAGE_MSGTYPE)
        for k in range(4):
            stamp = 1_000_000_000 + k * 100_000_000
            good = k % 2 == 0  # pairs 0 and 2 are good; 1 has a colour thermal frame, 3 a 16-bit visible frame
            thermal = rng.integers(0, 255, (8, 8), dtype=np.uint8)
            visible = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            bag.write("/thermal/image_raw", stamp + 1000,
                      encode_image(thermal, "mono8", stamp, "ir") if good or k == 3 else
                      encode_image(visible, "rgb8", stamp, "ir"))
            bag.write("/visible/image_raw", stamp + 2000,
                      encode_image(visible, "rgb8", stamp, "cam") if k != 3 else
                      encode_image(thermal.astype(np.uint16), "mono16", stamp, "cam"))
    r = replay(tmp_path / "in", tmp_path / "out", ReplayConfig(collect=NO_METRICS), FusionEngine(AverageRunner(), EngineConfig()))
    assert r.pairs == 2
    thermal, visible = r.inputs["thermal"], r.inputs["visible"]
    assert (thermal["read"], thermal["bad"], visible["read"], visible["bad"]) == (4, {"bad image": 1}, 4, {"bad image": 1})
    assert "thermal encoding 'rgb8' is not supported; use one of mono8, 8UC1, mono16, 16UC1, 32FC1" in thermal["bad_examples"]["bad image"]
    assert "visible encoding 'mono16' is not supported; use one of rgb8, bgr8, 8UC3" in visible["bad_examples"]["bad image"]
    stamps = [m.stamp_ns for _, m in _read_bag(tmp_path / "out" / "bag")["/fusion/image"]]
    assert stamps == [1_000_000_000, 1_200_000_000]


# --- codec ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding,shape,dtype", [
    ("mono8", (5, 7), np.uint8), ("mono16", (5, 7), np.uint16), ("rgb8", (5, 7, 3), np.uint8),
    ("bgr8", (5, 7, 3), np.uint8), ("rgba8", (5, 7, 4), np.uint8), ("16UC1", (5, 7), np.uint16),
    ("8UC3", (5, 7, 3), np.uint8), ("32FC1", (5, 7), np.float32),
])
def test_codec_round_trip(encoding, shape, dtype):
    rng = np.random.default_rng(0)
    image = (rng.random(shape, dtype=np.float32) * 300 - 20 if np.dtype(dtype).kind == "f"
             else rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype))
    frame = decode_image(encode_image(image, encoding, 1_717_243_200_123_456_789, "cam"))
    assert (frame.encoding, frame.stamp_ns, frame.frame_id) == (encoding, 1_717_243_200_123_456_789, "cam")
    assert frame.image.dtype == dtype and frame.image.flags.writeable
    np.testing.assert_array_equal(frame.image, image)


def _raw_image(encoding: str, height: int, width: int, step: int, data: bytes, bigendian: int = 0) -> bytes:
    t = typestore().types
    msg = t[IMAGE_MSGTYPE](header=t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=1, nanosec=5),
                                                            frame_id="f"),
                           height=height, width=width, encoding=encoding, is_bigendian=bigendian, step=step,
                           data=np.frombuffer(data, dtype=np.uint8))
    return bytes(typestore().serialize_cdr(msg, IMAGE_MSGTYPE))


def test_codec_honours_step_and_big_endian():
    padded = decode_image(_raw_image("rgb8", 2, 2, 8, bytes(range(16))))  # 6 bytes of pixels + 2 of padding per row
    np.testing.assert_array_equal(padded.image, [[[0, 1, 2], [3, 4, 5]], [[8, 9, 10], [11, 12, 13]]])
    big = decode_image(_raw_image("mono16", 1, 2, 4, bytes([1, 2, 3, 4]), bigendian=1))
    np.testing.assert_array_equal(big.image, [[0x0102, 0x0304]])
    assert big.stamp_ns == 1_000_000_005


@pytest.mark.parametrize("raw,message", [
    (lambda: _raw_image("nv21", 1, 1, 2, b"\0\0"), "encoding 'nv21' is not supported"),
    (lambda: _raw_image("yuv422", 1, 1, 2, b"\0\0"), "yuv422 width 1 is odd"),  # 4:2:2 packs pixel pairs
    (lambda: _raw_image("rgb8", 2, 2, 5, bytes(10)), "step 5 is smaller than width*channels*bytes = 6"),
    (lambda: _raw_image("mono8", 2, 4, 4, bytes(6)), "data holds 6 bytes"),
    (lambda: b"\0\1\0\0garbage", "not a decodable sensor_msgs/Image"),
])
def test_codec_rejects_bad_messages(raw, message):
    with pytest.raises(InputError, match=re.escape(message)):
        decode_image(raw(), "/cam")


def test_encode_checks_layout():
    with pytest.raises(InputError, match="'rgb8' needs a uint8 \\(H, W, 3\\)"):
        encode_image(np.zeros((2, 2), np.uint8), "rgb8", 0, "f")
    with pytest.raises(ConfigError, match="not one of mono8"):
        encode_image(np.zeros((2, 2), np.uint8), "jpeg", 0, "f")


# --- timing model and accounting -----------------------------------------------------------------------------

def test_schedule_jitter_phase_and_drops():
    s = make_schedule(400, rate=20.0, jitter_ms=3.0, drop_prob=0.1, seed=7)
    assert s == make_schedule(400, rate=20.0, jitter_ms=3.0, drop_prob=0.1, seed=7)  # reproducible
    assert [c.log_ns for c in s.captures] == sorted(c.log_ns for c in s.captures)
    assert abs(s.phase_ns) <= 0.05 * 50e6
    for cam in ("thermal", "visible"):
        caps = [c for c in s.captures if c.camera == cam]
        lost = [i for c, i in s.dropped if c == cam]
        assert len(caps) + len(lost) == 400 and 20 <= len(lost) <= 60  # ~10 % of 400
        offsets = np.array([c.stamp_ns - 1_717_243_200_000_000_000 - c.index * 50_000_000 for c in caps]) / 1e6
        offsets -= s.phase_ns / 1e6 if cam == "visible" else 0.0
        assert 2.5 < offsets.std() < 3.5 and np.abs(offsets).max() <= 9.0 + 1e-6  # sigma 3 ms, clipped at 3 sigma
        assert all(2e6 <= c.log_ns - c.stamp_ns <= 4e6 if cam == "thermal" else 4e6 <= c.log_ns - c.stamp_ns <= 6e6
                   for c in caps)
        assert np.all(np.diff([c.stamp_ns for c in sorted(caps, key=lambda c: c.index)]) > 0)


@pytest.mark.parametrize("kwargs,message", [
    ({"rate": 0.0}, "rate must be > 0 Hz"),
    ({"rate": 10.0, "jitter_ms": -1.0}, "jitter must be >= 0 ms"),
    ({"rate": 10.0, "drop_prob": 1.0}, "drop probability must lie in \\[0, 1\\)"),
])
def test_schedule_rejects_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_schedule(3, **kwargs)


def test_drops_are_accounted_frame_by_frame(tmp_path):
    n = 60
    write_pairs_bag(_noise_pairs(24, 32), n, tmp_path / "in", jitter_ms=0.0, drop_prob=0.2, seed=11)
    drops = make_schedule(n, 10.0, 0.0, 0.2, 11).dropped
    lost = {cam: {i for c, i in drops if c == cam} for cam in ("thermal", "visible")}
    both = [i for i in range(n) if i not in lost["thermal"] and i not in lost["visible"]]
    engine = FusionEngine(AverageRunner(), EngineConfig())
    r = replay(tmp_path / "in", tmp_path / "out", ReplayConfig(collect=NO_METRICS), engine)
    assert r.pairs == len(both)  # phase <= 5 ms < slop, neighbours 100 ms away: exactly the complete pairs
    for i, cam in enumerate(("thermal", "visible")):
        acc = r.inputs[cam]
        assert acc["read"] == n - len(lost[cam])
        assert acc["read"] == r.pairs + sum(r.pairing["dropped"][i].values())  # every frame accounted for
        present = [j for j in range(n) if j not in lost[cam]]
        inner = sum(1 for j in lost[cam] if present[0] < j < present[-1])
        assert acc["missing_estimate"] == inner  # the stamp-gap estimate finds every frame lost mid-stream
        assert sorted(r.recorded_drops[cam]) == [f"{j:05d}" for j in sorted(lost[cam])]


def test_replay_rejects_wrong_topics_and_existing_output(tmp_path):
    write_pairs_bag(_noise_pairs(8, 8), 2, tmp_path / "in")
    with pytest.raises(InputError, match="has no topic '/ir/raw'; its topics: /thermal/image_raw"):
        replay(tmp_path / "in", tmp_path / "o1", ReplayConfig(thermal_topic="ir/raw", collect=NO_METRICS))
    with pytest.raises(ConfigError, match="thermal and visible topics must differ"):
        ReplayConfig(thermal_topic="/a", visible_topic="a")
    with pytest.raises(InputError, match="exists already"):
        write_pairs_bag(_noise_pairs(8, 8), 2, tmp_path / "in")
    with pytest.raises(InputError, match="does not exist"):
        replay(tmp_path / "nope", tmp_path / "o2")


# --- streaming -----------------------------------------------------------------------------------------------

def test_make_bag_and_replay_stream_in_flat_memory(tmp_path):
    """120 pairs of 320x240 make a ~37 MB bag (and a ~74 MB output bag); holding the frames would cost at least
    that. Peak Python/numpy allocation growth (measured ~7 MB: rosbags' 1 MiB chunks, a few frames) stays under
    12 MB for writing, reading and rewriting it."""
    engine = FusionEngine(AverageRunner(), EngineConfig())
    bound = 12e6
    typestore()  # one-time set-up (message classes, rosbags imports) is not per-frame memory
    write_pairs_bag(_noise_pairs(8, 8), 1, tmp_path / "warm")
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        write_pairs_bag(_noise_pairs(240, 320), 120, tmp_path / "in")
        write_peak = tracemalloc.get_traced_memory()[1] - base
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = replay(tmp_path / "in", tmp_path / "out", ReplayConfig(collect=CollectSettings(metrics=False, sheet_pairs=2)),
                        engine)
        replay_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    bag_bytes = sum(p.stat().st_size for p in (tmp_path / "in").iterdir())
    assert result.pairs == 120
    assert bag_bytes > 3 * bound
    print(f"peak growth: make-bag {write_peak / 1e6:.1f} MB, replay {replay_peak / 1e6:.1f} MB, bag {bag_bytes / 1e6:.0f} MB")
    assert write_peak < bound, f"make-bag peak {write_peak / 1e6:.1f} MB"
    assert replay_peak < bound, f"replay peak {replay_peak / 1e6:.1f} MB"


# --- report and demo -----------------------------------------------------------------------------------------

def test_demo_offline_on_three_pairs(tmp_path, capsys):
    from fusion_core.cli.main import main

    out = tmp_path / "demo_out"
    assert main(["demo", "--offline", "--pairs", "3", "--out", str(out), "--drop", "0"]) == 0
    printed = capsys.readouterr().out
    assert f"open {(out / 'report.html').resolve()}" in printed
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "# Replay report (offline)" in md and "3 pairs fused" in md
    for row in ("| fused (this model) |", "| average |", "| max |", "| Laplacian pyramid |", "| IR only |", "| visible only |"):
        assert row in md
    assert "| total |" in md and "## Detections" in md and "mAP@0.5 against the IR boxes" in md
    assert "## Calibrated unregistered pair" in md and (out / "calibration" / "calib.yaml").is_file()
    html = (out / "report.html").read_text(encoding="utf-8")
    for image in ("alpha_hist.png", "contact_sheet.png", "metrics_over_time.png", "latency.png"):
        assert (out / image).stat().st_size > 1000 and f"src='{image}'" in html
    assert "http://" not in html and "https://" not in html  # self-contained
    rows = (out / "pairs.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 4 and rows[1].split(",")[1] == "00004N"  # stems from the bag's sidecar
    # rerunning replaces the demo's own folder; a foreign folder is refused
    assert main(["demo", "--offline", "--pairs", "1", "--out", str(out), "--no-metrics", "--no-calibration"]) == 0
    assert not (out / "calibration").exists() and "Calibrated unregistered pair" not in (out / "report.md").read_text()
    (tmp_path / "mine").mkdir()
    assert main(["demo", "--offline", "--pairs", "1", "--out", str(tmp_path / "mine")]) == 2
    assert "was not made by ivif demo" in capsys.readouterr().err


def test_make_bag_cli_and_replay_cli(three_pairs, tmp_path, capsys):
    from fusion_core.cli.main import main

    bag = tmp_path / "bag"
    assert main(["make-bag", "--ir", str(three_pairs / "ir"), "--vi", str(three_pairs / "vi"), "--out", str(bag),
                 "--storage", "sqlite3", "--limit", "2", "--jitter", "1"]) == 0
    assert "2 pairs" in capsys.readouterr().out
    assert main(["replay", str(bag), "--out", str(tmp_path / "r"), "--no-metrics", "--sheet", "1"]) == 0
    printed = capsys.readouterr().out
    assert "offline replay of" in printed and "2 pairs" in printed and "report:" in printed
    assert main(["replay", str(bag), "--out", str(tmp_path / "r2"), "--visible-topic", "/cam/rgb"]) == 2
    assert "has no topic '/cam/rgb'" in capsys.readouterr().err


PROFILE = str(REPO_ROOT / "config" / "fastdds_images.xml")


@pytest.mark.parametrize("argv, env, expected", [
    ([], None, (PROFILE, None)),  # the launch file's default: the image profile, no builtin override
    ([], "SHM", (PROFILE, None)),  # the profile's transports win over an inherited FASTDDS_BUILTIN_TRANSPORTS
    (["--fastdds-transports", "DEFAULT"], "SHM", (PROFILE, "DEFAULT")),  # an explicit option overrides them
    (["--fastdds-profile", ""], "SHM", (None, "SHM")),  # no profile: the environment's value
    (["--fastdds-profile", "", "--fastdds-transports", "LARGE_DATA"], None, (None, "LARGE_DATA")),
])
def test_live_replay_transport_defaults_to_the_image_profile(argv, env, expected, monkeypatch):
    import argparse

    from fusion_core.cli.replay import add_parser, configs_from_args

    if env is None:
        monkeypatch.delenv("FASTDDS_BUILTIN_TRANSPORTS", raising=False)
    else:
        monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", env)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    _, live = configs_from_args(parser.parse_args(["replay", "bag", "--out", "o", "--live", *argv]))
    assert (live.fastdds_profile, live.fastdds_transports) == expected
    _, offline = configs_from_args(parser.parse_args(["replay", "bag", "--out", "o"]))
    assert offline is None


def test_live_config_refuses_a_missing_profile(tmp_path):
    from fusion_core.replay.live import LiveConfig

    with pytest.raises(ConfigError, match="Fast DDS profile .*nope.xml does not exist"):
        LiveConfig(fastdds_profile=str(tmp_path / "nope.xml"))


def test_replay_modules_import_no_ros():
    code = ("import sys, fusion_core.replay.runner, fusion_core.replay.live, fusion_core.replay.live_analysis, "
            "fusion_core.cli.demo, fusion_core.cli.replay, fusion_core.cli.make_bag;"
            "bad = [n for n in ('rclpy', 'sensor_msgs', 'rosbags', 'matplotlib') if n in sys.modules]; print(bad); sys.exit(bool(bad))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- pairs through the live graph: counts and drop reasons ------------------------------------------------------

def _node_run(mode):
    """A constructed live run of 22 offline pairs: the nodes' last diagnostics (strings, as recorded) and what the
    recorder received."""
    offline_unpaired = [{"no_partner": 1}, {"no_partner": 1}]  # the bag's own drops, also unpaired offline
    fusion = {"pairs": "21", "fused": "20", "dropped_worker": "1", "bad_pairs": "0", "errors": "0",
              "lost_seq_thermal": "1", "lost_seq_visible": "0", "unpaired_thermal_no_partner": "1",
              "unpaired_visible_no_partner": "2", "pending_thermal": "0", "pending_visible": "0"}
    detector = {}
    if mode == "node":
        detector = {"received": "19", "lost_dds": "0", "processed": "18", "dropped_worker": "1", "bad_frames": "0",
                    "errors": "0"}
    elif mode == "inprocess":
        fusion.update({"detected": "18", "dropped_detector": "1", "detector_errors": "1"})
    return offline_unpaired, fusion, detector


@pytest.mark.parametrize("mode, expected", [
    ("node", [("paired by fusion_node", 21, 1, {"thermal frames lost in transport to fusion_node": 1}),
              ("fused by fusion_node", 20, 1, {"fusion worker queue full (newest wins)": 1}),
              ("fused image recorded", 20, 0, {}),
              ("received by detector_node", 19, 1, {"not counted by a node (in flight at stop, or lost in transport)": 1}),
              ("detected by detector_node", 18, 1, {"detector worker queue full (newest wins)": 1}),
              ("detections recorded", 18, 0, {})]),
    ("inprocess", [("paired by fusion_node", 21, 1, {"thermal frames lost in transport to fusion_node": 1}),
                   ("fused by fusion_node", 20, 1, {"fusion worker queue full (newest wins)": 1}),
                   ("fused image recorded", 20, 0, {}),
                   ("detected in fusion_node", 18, 2, {"detector busy (own thread, newest wins)": 1, "detector error": 1}),
                   ("detections recorded", 18, 0, {})]),
    (None, [("paired by fusion_node", 21, 1, {"thermal frames lost in transport to fusion_node": 1}),
            ("fused by fusion_node", 20, 1, {"fusion worker queue full (newest wins)": 1}),
            ("fused image recorded", 20, 0, {})]),
])
def test_pair_delivery_stages_and_reasons(mode, expected):
    from fusion_core.replay.delivery import pair_delivery

    offline_unpaired, fusion, detector = _node_run(mode)
    recorded = {"fused": 20, "detections": 18 if mode else 0, "fused_and_detected": 18 if mode else 0}
    d = pair_delivery(22, offline_unpaired, fusion, detector, mode, recorded)
    assert [(s["stage"], s["count"], s["lost"], s["reasons"]) for s in d["stages"]] == expected
    both = 18 if mode else 20
    assert (d["pairs"], d["fused"], d["fused_and_detected"], d["fraction"]) == (22, 20, both, pytest.approx(both / 22))
    for s in d["stages"]:  # the reasons of a stage add up to its loss
        assert sum(s["reasons"].values()) == s["lost"]


def test_pair_delivery_pairing_reasons_beyond_offline():
    from fusion_core.replay.delivery import pair_delivery

    # no transport loss: 2 pairs missing, explained by visible frames superseded and pending beyond the offline replay
    fusion = {"pairs": "18", "fused": "18", "unpaired_visible_superseded": "1", "unpaired_thermal_no_partner": "3",
              "pending_visible": "1", "bad_thermal": "0"}
    d = pair_delivery(20, [{"no_partner": 3}, {}], fusion, {}, None, {"fused": 18, "detections": 0, "fused_and_detected": 0})
    assert d["stages"][0]["reasons"] == {"visible frames unpaired: superseded": 1, "visible frames unpaired: pending at end": 1}
    assert d["node_counters"] is True
    silent = pair_delivery(20, [{}, {}], {}, {}, None, {"fused": 18, "detections": 0, "fused_and_detected": 0})
    assert silent["node_counters"] is False and silent["stages"][0]["reasons"] == {
        "not counted by a node (in flight at stop, or lost in transport)": 20}
    with pytest.raises(ValueError, match="detector mode 'sidecar' is not one of node, inprocess or None"):
        pair_delivery(1, [], {}, {}, "sidecar", {"fused": 0, "detections": 0, "fused_and_detected": 0})


def test_report_and_summary_show_fused_detected_and_drop_reasons(tmp_path, capsys):
    from fusion_core.cli.replay import print_summary
    from fusion_core.replay.collect import Collected
    from fusion_core.replay.delivery import pair_delivery
    from fusion_core.replay.offline import ReplayResult
    from fusion_core.replay.report import build_blocks, to_markdown

    offline_unpaired, fusion, detector = _node_run("node")
    delivery = pair_delivery(22, offline_unpaired, fusion, detector, "node",
                             {"fused": 20, "detections": 18, "fused_and_detected": 18})
    acc = {"topic": "/t", "read": 22, "bad": {}, "bad_examples": {}, "gaps": 0, "missing_estimate": 0, "median_step_ms": 100.0}
    collected = Collected(pairs=20, scored=0, metric_means={}, metric_counts={}, series_pair=[], series={},
                          latency={"end_to_end": {"p50": 80.0, "p90": 90.0, "p99": 99.0, "mean": 85.0, "max": 99.0, "n": 20}},
                          alpha_hist=[0] * 8, tiles=[], detections={"pairs": 18, "total": 30, "per_class": {"person": 30},
                                                                      "mean_per_pair": 30 / 18})
    result = ReplayResult(mode="live", bag="b", out_dir=str(tmp_path), out_bag=None, backend="onnxruntime", device="cpu",
                          slop=0.02, queue_size=5, pairs=20,
                          pairing={"emitted": 21, "received": [22, 22], "dropped": [{"no_partner": 1}, {"no_partner": 2}]},
                          inputs={"thermal": dict(acc), "visible": dict(acc)}, fusion_errors={"count": 0, "examples": []},
                          recorded_drops=None, wall_s=3.0, collected=collected, extra={"delivery": delivery})
    md = to_markdown(build_blocks(result, None, {"alpha": "alpha_hist.png"}))
    assert "## Pairs through the graph" in md
    assert "**18 of 22 pairs fused and detected (81.8 %)**" in md and "Detection: detector_node on `fusion/image`" in md
    for row in ("| paired by fusion_node | 21 | 1 | 1 thermal frames lost in transport to fusion_node |",
                "| fused by fusion_node | 20 | 1 | 1 fusion worker queue full (newest wins) |",
                "| fused image recorded | 20 | 0 | – |",
                "| detected by detector_node | 18 | 1 | 1 detector worker queue full (newest wins) |",
                "| fused and detected (recorded, same stamp) | 18 |  |  |"):
        assert row in md
    print_summary(result, tmp_path / "report.html")
    line = next(x for x in capsys.readouterr().out.splitlines() if "pairs fused and detected" in x)
    assert line.startswith("18 of 22 pairs fused and detected (81.8 %); recorded: 20 fused, 18 with detections; ")
    assert "fused by fusion_node 20 (lost 1: 1 fusion worker queue full (newest wins))" in line
    assert "were not recorded" not in md
    result.extra["delivery"] = pair_delivery(22, offline_unpaired, {}, {}, None, {"fused": 20, "detections": 0,
                                                                                  "fused_and_detected": 0})
    md = to_markdown(build_blocks(result, None, {"alpha": "alpha_hist.png"}))
    assert "**20 of 22 pairs fused (90.9 %)**" in md and "**fusion_node's /diagnostics were not recorded**" in md


def test_demo_plays_at_real_time_and_live_detector_modes(monkeypatch):
    import argparse

    from fusion_core.cli import demo
    from fusion_core.cli.replay import add_parser, configs_from_args
    from fusion_core.replay.live import LiveConfig, graph_fusion_params

    assert demo.DEMO_RATE_FACTOR == 1.0 and demo.DEMO_DETECTOR == "inprocess"  # as the launch file's default
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    demo.add_parser(sub)
    add_parser(sub)
    args = parser.parse_args(["demo"])
    assert args.rate_factor == 1.0 and args.detect is True and args.detector == "inprocess"
    assert parser.parse_args(["demo", "--detector", "node"]).detector == "node"
    monkeypatch.delenv("FASTDDS_BUILTIN_TRANSPORTS", raising=False)
    _, live = configs_from_args(parser.parse_args(["replay", "bag", "--out", "o", "--live"]))
    assert (live.detector, live.detector_mode) == (False, "node") and graph_fusion_params(live) == {}
    config, live = configs_from_args(parser.parse_args(["replay", "bag", "--out", "o", "--live", "--detector", "inprocess"]))
    assert config.detect and (live.detector, live.detector_mode) == (True, "inprocess")
    live = LiveConfig(detector=True, detector_mode="inprocess", fusion_params={"slop": 0.02},
                      detector_params={"score_threshold": 0.4})
    assert graph_fusion_params(live) == {"slop": 0.02, "detector.enabled": True, "detector.publish_json": True,
                                         "detector.score_threshold": 0.4}
    assert graph_fusion_params(LiveConfig(detector=True, fusion_params={"slop": 0.02})) == {"slop": 0.02}  # node mode
    with pytest.raises(ConfigError, match="detector mode 'gpu' is not one of node, inprocess"):
        LiveConfig(detector_mode="gpu")


def test_replay_names_and_corrects_a_thermal_stamp_offset(tmp_path, capsys):
    """The thermal camera of a bag stamps 45 ms late (beyond the 20 ms slop): no pair forms, and the replay says so
    with the correction; with --thermal-stamp-offset -0.045 every pair fuses, with the visible stamps."""
    from fusion_core.cli.main import main

    write_pairs_bag(_noise_pairs(24, 32), 20, tmp_path / "in", jitter_ms=0.0)  # 10 Hz, a phase of <= 5 ms between cameras
    with BagWriter(tmp_path / "late") as out, open_bag(tmp_path / "in") as reader:
        for topic in ("/thermal/image_raw", "/visible/image_raw"):
            out.add_topic(topic, IMAGE_MSGTYPE)
        for topic, log_ns, raw in iter_messages(reader, ["/thermal/image_raw", "/visible/image_raw"]):
            frame = decode_image(raw)
            stamp = frame.stamp_ns + (45_000_000 if topic == "/thermal/image_raw" else 0)
            out.write(topic, log_ns, encode_image(frame.image, frame.encoding, stamp, frame.frame_id))
    r = replay(tmp_path / "late", tmp_path / "out", ReplayConfig(collect=NO_METRICS), FusionEngine(AverageRunner(), EngineConfig()))
    assert r.pairs == 0 and r.extra["stamp_offset_ms"] is not None and abs(r.extra["stamp_offset_ms"] - 45.0) < 6.0
    assert "set --thermal-stamp-offset to -0.04" in r.extra["stamp_offset_advice"]
    assert main(["replay", str(tmp_path / "late"), "--out", str(tmp_path / "cli"), "--no-metrics", "--sheet", "0"]) in (0, 1)
    assert "warning: thermal stamps are 4" in capsys.readouterr().out
    fixed = replay(tmp_path / "late", tmp_path / "fixed", ReplayConfig(collect=NO_METRICS, thermal_stamp_offset=-0.045),
                   FusionEngine(AverageRunner(), EngineConfig()))
    assert fixed.pairs == 20 and "stamp_offset_advice" not in fixed.extra and abs(fixed.extra["stamp_offset_ms"]) < 6.0
    with open_bag(tmp_path / "in") as reader:
        visible = sorted(decode_image(raw).stamp_ns for _, _, raw in iter_messages(reader, ["/visible/image_raw"]))
    assert [m.stamp_ns for _, m in _read_bag(tmp_path / "fixed" / "bag")["/fusion/image"]] == visible


def test_live_result_keeps_the_bags_stamp_offset_advice(tmp_path):
    """A live replay is scored against the offline replay of the same bag; the stamps' advice is the bag's, so the live
    result carries it (printed and in the report, as offline)."""
    from types import SimpleNamespace

    from fusion_core.replay.live_analysis import _live_result
    from fusion_core.replay.offline import ReplayResult

    inputs = {cam: {"topic": f"/{cam}/image_raw", "read": 20, "bad": {}, "bad_examples": {}} for cam in ("thermal", "visible")}
    offline = ReplayResult(mode="offline", bag="b", out_dir="o", out_bag=None, backend="x", device="cpu", slop=0.02,
                           queue_size=5, pairs=0, pairing={"dropped": [{}, {}]}, inputs=inputs,
                           fusion_errors={"count": 0, "examples": []}, recorded_drops=None, wall_s=1.0,
                           extra={"stamp_offset_ms": 45.0, "stamp_offset_advice": "thermal stamps are 45.0 ms after"})
    live = _live_result(offline, tmp_path / "rec", SimpleNamespace(pairs=0), {}, {}, 1.0)
    assert (live.extra["stamp_offset_ms"], live.extra["stamp_offset_advice"]) == (45.0, "thermal stamps are 45.0 ms after")
