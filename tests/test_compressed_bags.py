"""Bags whose camera topics carry image_transport's compressed images (sensor_msgs/CompressedImage), as most
recorded datasets do: the decoder's rules, ``ivif replay`` and ``ivif calibrate --bag`` on them.

The bag is made from real MSRS pairs by ``make_bag(compressed=True)``: thermal as 16-bit PNG (lossless counts),
visible as JPEG. Expected outputs come from fusion_core on the very arrays decoded from the bag's bytes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("rosbags", reason="rosbags is not installed (pip install -e .[replay])")

from fusion_core.compressed_image import MSGTYPE, decode_compressed  # noqa: E402
from fusion_core.engine import create_engine  # noqa: E402
from fusion_core.errors import InputError  # noqa: E402
from fusion_core.replay.bagio import iter_messages, open_bag, topics  # noqa: E402
from fusion_core.io import read_thermal, read_visible  # noqa: E402
from fusion_core.replay.codec import decode_frame, typestore  # noqa: E402
from fusion_core.replay.collect import CollectSettings  # noqa: E402
from fusion_core.replay.make_bag import make_bag, read_sidecar  # noqa: E402
from fusion_core.replay.offline import ReplayConfig, replay  # noqa: E402

THERMAL, VISIBLE = "/thermal/image_raw/compressed", "/visible/image_raw/compressed"


def read_frames(bag: Path) -> tuple[dict[str, str], dict[str, list]]:
    """(topic -> message type, topic -> decoded frames in log order) of every topic of ``bag``."""
    frames: dict[str, list] = {}
    with open_bag(bag) as reader:
        kinds = {name: info.msgtype for name, info in topics(reader).items()}
        for topic, _, raw in iter_messages(reader, list(kinds)):
            frames.setdefault(topic, []).append(decode_frame(raw, kinds[topic], topic))
    return kinds, frames


@pytest.fixture(scope="module")
def compressed_bag(msrs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three MSRS pairs at 10 Hz as compressed topics: thermal 16-bit PNG, visible JPEG."""
    root = tmp_path_factory.mktemp("compressed")
    for side in ("ir", "vi"):
        (root / side).mkdir()
        for stem in ("00004N", "00008N", "00055D"):
            (root / side / f"{stem}.png").symlink_to(msrs_dir / side / f"{stem}.png")
    made = make_bag(root / "ir", root / "vi", root / "bag", rate=10.0, thermal_encoding="mono16", seed=1, compressed=True)
    assert made.messages == {THERMAL: 3, VISIBLE: 3}
    return root / "bag"


def test_make_bag_writes_what_image_transport_would(compressed_bag, msrs_dir) -> None:
    kinds, frames = read_frames(compressed_bag)
    assert kinds == {THERMAL: MSGTYPE, VISIBLE: MSGTYPE}
    stems = read_sidecar(compressed_bag)
    for thermal, visible in zip(frames[THERMAL], frames[VISIBLE]):
        source_ir = read_thermal(msrs_dir / "ir" / f"{stems[thermal.stamp_ns]}.png")
        source_vi = read_visible(msrs_dir / "vi" / f"{stems[visible.stamp_ns]}.png")
        assert thermal.encoding == "mono16" and np.array_equal(thermal.image, source_ir.astype(np.uint16) * 257)  # lossless
        assert visible.encoding == "bgr8" and np.abs(visible.image[:, :, ::-1].astype(int) - source_vi).mean() < 3  # JPEG
    with open_bag(compressed_bag) as reader:
        formats = {typestore().deserialize_cdr(raw, MSGTYPE).format for _, _, raw in iter_messages(reader, [THERMAL, VISIBLE])}
    assert formats == {"mono16; png compressed mono16", "rgb8; jpeg compressed bgr8"}


def test_decoder_rules() -> None:
    grey16 = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 7 + 1000)
    image, encoding = decode_compressed(cv2.imencode(".png", grey16)[1], "mono16; png compressed mono16")
    assert encoding == "mono16" and np.array_equal(image, grey16)
    with pytest.raises(InputError, match="truncated JPEG"):
        decode_compressed(cv2.imencode(".jpg", grey16.astype(np.uint8))[1][:-40], "jpeg")
    with pytest.raises(InputError, match="compressedDepth"):
        decode_compressed(b"\x00" * 12, "16UC1; compressedDepth")


def test_replay_fuses_a_compressed_bag(compressed_bag, tmp_path) -> None:
    result = replay(compressed_bag, tmp_path / "out", ReplayConfig(thermal_topic=THERMAL, visible_topic=VISIBLE,
                                                                   collect=CollectSettings(metrics=False, sheet_pairs=0)))
    assert result.pairs == 3 and result.inputs["visible"]["read"] == 3
    engine = create_engine()
    kinds, frames = read_frames(tmp_path / "out" / "bag")
    assert kinds[THERMAL] == kinds[VISIBLE] == MSGTYPE  # the inputs are copied as recorded
    for thermal, visible, fused in zip(frames[THERMAL], frames[VISIBLE], frames["/fusion/image"]):
        assert fused.encoding == "bgr8" and fused.stamp_ns == visible.stamp_ns  # a compressed colour camera decodes to bgr
        assert np.array_equal(fused.image, engine.fuse(thermal.image, visible.image, "bgr").fused)


def test_calibrate_reads_pairs_from_a_compressed_bag(compressed_bag) -> None:
    from fusion_core.calibration.sources import pairs_from_bag

    _, frames = read_frames(compressed_bag)
    pairs = pairs_from_bag(compressed_bag, THERMAL, VISIBLE, max_pairs=2)
    assert len(pairs) == 2
    for (thermal, visible), k in zip(pairs, (0, 2)):  # spread: the first and the last pair
        assert np.array_equal(thermal, frames[THERMAL][k].image)
        assert np.array_equal(visible, frames[VISIBLE][k].image[:, :, ::-1])  # handed to the estimator as RGB


def test_make_bag_cli_compressed(tmp_path, msrs_dir) -> None:
    from fusion_core.cli.main import main

    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "00004N.png").symlink_to(msrs_dir / side / "00004N.png")
    assert main(["make-bag", "--ir", str(tmp_path / "ir"), "--vi", str(tmp_path / "vi"), "--out", str(tmp_path / "bag"),
                 "--compressed"]) == 0
    kinds, frames = read_frames(tmp_path / "bag")
    assert kinds == {THERMAL: MSGTYPE, VISIBLE: MSGTYPE} and frames[THERMAL][0].encoding == "mono8"  # 8-bit thermal: JPEG
