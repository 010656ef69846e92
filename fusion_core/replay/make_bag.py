"""Turn image pairs into a rosbag2 that looks like a recording of two free-running cameras.

Topics ``/thermal/image_raw`` (frame_id ``thermal_camera``) and ``/visible/image_raw`` (frame_id
``visible_camera``), sensor_msgs/Image, stamps and drops from :mod:`.schedule`; with ``compressed``, as
most recorded datasets hold them, ``/thermal/image_raw/compressed`` (16-bit thermal as lossless PNG, 8-bit
as JPEG) and ``/visible/image_raw/compressed`` (JPEG), sensor_msgs/CompressedImage as image_transport's
compressed plugin writes them. Frames are read and
written one at a time (a pair is loaded when its first message is due and forgotten after its last),
so folder size does not matter.

Beside the storage file the bag directory gets ``ivif_frames.csv``: per source pair its file stem, the
two stamps (empty when that frame was dropped). ROS tools ignore it; replay uses it to name pairs in
the report and to find label files.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from .bagio import STORAGES, BagWriter
from .codec import COMPRESSED_MSGTYPE, IMAGE_MSGTYPE, encode_compressed_image, encode_image
from .schedule import DEFAULT_START_NS, Schedule, make_schedule

THERMAL_TOPIC = "/thermal/image_raw"
VISIBLE_TOPIC = "/visible/image_raw"
FRAME_IDS = {"thermal": "thermal_camera", "visible": "visible_camera"}
THERMAL_ENCODINGS = ("mono8", "mono16", "32FC1")  # 32FC1: a float (e.g. radiometric) camera; raw bags only
SIDECAR = "ivif_frames.csv"

# index -> (stem, thermal uint8/uint16 (H, W), visible uint8 RGB (H, W, 3) or grey (H, W))
PairLoader = Callable[[int], tuple[str, np.ndarray, np.ndarray]]


@dataclass
class MakeBagSummary:
    """What :func:`make_bag` wrote."""

    path: Path
    storage: str
    pairs: int
    messages: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0


def thermal_for_encoding(thermal: np.ndarray, encoding: str, where: str) -> np.ndarray:
    """8-bit thermal as mono8, as mono16 scaled by 257 (0..255 -> 0..65535) or as 32FC1 divided by 255 (0..1), so
    the ``fixed`` normalisation gives the same [0, 1] values; 16-bit sources only as mono16."""
    if encoding not in THERMAL_ENCODINGS:
        raise ConfigError(f"thermal encoding {encoding!r} is not one of {', '.join(THERMAL_ENCODINGS)}")
    if encoding == "32FC1" and thermal.dtype == np.uint8:
        return thermal.astype(np.float32) / np.float32(255.0)
    if encoding == "mono16":
        return thermal.astype(np.uint16) * np.uint16(257) if thermal.dtype == np.uint8 else thermal
    if thermal.dtype != np.uint8:
        raise InputError(f"{where} is {thermal.dtype}; store it with thermal encoding 'mono16'")
    return thermal


def write_pairs_bag(load: PairLoader, n: int, out: str | Path, rate: float = 10.0, jitter_ms: float = 2.0,
                    thermal_encoding: str = "mono8", storage: str = "mcap", drop_prob: float = 0.0, seed: int = 0,
                    start_ns: int = DEFAULT_START_NS, compressed: bool = False) -> MakeBagSummary:
    """Write ``n`` pairs produced by ``load(i)`` as a two-camera bag at ``out`` (see the module docstring)."""
    if thermal_encoding not in THERMAL_ENCODINGS:
        raise ConfigError(f"thermal encoding {thermal_encoding!r} is not one of {', '.join(THERMAL_ENCODINGS)}")
    if compressed and thermal_encoding == "32FC1":
        raise ConfigError("image_transport's compressed plugin has no float format; write a 32FC1 thermal camera raw")
    if storage not in STORAGES:
        raise ConfigError(f"storage {storage!r} is not one of {', '.join(STORAGES)}")
    schedule = make_schedule(n, rate, jitter_ms, drop_prob, seed, start_ns)
    if Path(out).exists():
        raise InputError(f"output bag {out} exists already; remove it or choose another path")
    try:
        return _write_schedule(load, n, out, schedule, thermal_encoding, storage, compressed)
    except BaseException:
        # a half-written bag is a valid bag with fewer pairs, which replay would take for a short recording;
        # ``out`` did not exist before, so whatever is there now is this run's
        shutil.rmtree(out, ignore_errors=True)
        raise


def _write_schedule(load: PairLoader, n: int, out: str | Path, schedule: Schedule, thermal_encoding: str, storage: str,
                    compressed: bool) -> MakeBagSummary:
    remaining = [2] * n  # messages of pair i still to write or drop; the pair is forgotten at 0
    for _, i in schedule.dropped:
        remaining[i] -= 1
    stamps: list[dict[str, int]] = [{} for _ in range(n)]
    stems: list[str] = [""] * n
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    topics = {"thermal": THERMAL_TOPIC, "visible": VISIBLE_TOPIC}
    encode = encode_image
    if compressed:
        topics = {camera: f"{topic}/compressed" for camera, topic in topics.items()}
        encode = encode_compressed_image
    with BagWriter(out, storage) as bag:
        for topic in topics.values():
            bag.add_topic(topic, COMPRESSED_MSGTYPE if compressed else IMAGE_MSGTYPE)
        for cap in schedule.captures:
            if cap.index not in cache:
                stem, thermal, visible = load(cap.index)
                stems[cap.index] = stem
                cache[cap.index] = (thermal_for_encoding(thermal, thermal_encoding, f"thermal image {stem!r}"), visible)
            thermal, visible = cache[cap.index]
            if cap.camera == "thermal":
                raw = encode(thermal, thermal_encoding, cap.stamp_ns, FRAME_IDS["thermal"])
            else:
                raw = encode(visible, "rgb8" if visible.ndim == 3 else "mono8", cap.stamp_ns, FRAME_IDS["visible"])
            bag.write(topics[cap.camera], cap.log_ns, raw)
            stamps[cap.index][cap.camera] = cap.stamp_ns
            remaining[cap.index] -= 1
            if remaining[cap.index] == 0:
                del cache[cap.index]
        counts = dict(bag.counts)
    for i in range(n):  # pairs whose both frames were dropped were never loaded: name them now
        if not stems[i]:
            stems[i] = load(i)[0]
    _write_sidecar(Path(out) / SIDECAR, stems, stamps)
    logs = [c.log_ns for c in schedule.captures]
    dropped = {topics[cam]: sum(1 for c, _ in schedule.dropped if c == cam) for cam in topics}
    return MakeBagSummary(Path(out), storage, n, counts, dropped, (max(logs) - min(logs)) / 1e9 if logs else 0.0)


def make_bag(ir_dir: str | Path, vi_dir: str | Path, out: str | Path, rate: float = 10.0, jitter_ms: float = 2.0,
             thermal_encoding: str = "mono8", storage: str = "mcap", drop_prob: float = 0.0, seed: int = 0,
             start_ns: int = DEFAULT_START_NS, limit: int | None = None, compressed: bool = False) -> MakeBagSummary:
    """Bag of the IR/visible pairs in two folders (matched by file stem, sorted by stem; ``limit``: the
    first N pairs only). Rate in Hz, jitter in ms (σ), drop probability per frame and camera."""
    from ..io import pair_folders, read_thermal, read_visible

    pairs = pair_folders(ir_dir, vi_dir)
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"limit must be >= 1 pair, got {limit}")
        pairs = pairs[:limit]

    def load(i: int) -> tuple[str, np.ndarray, np.ndarray]:
        return pairs[i].stem, read_thermal(pairs[i].ir), read_visible(pairs[i].vi)

    return write_pairs_bag(load, len(pairs), out, rate, jitter_ms, thermal_encoding, storage, drop_prob, seed, start_ns,
                           compressed)


def _write_sidecar(path: Path, stems: list[str], stamps: list[dict[str, int]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "stem", "thermal_stamp_ns", "visible_stamp_ns"])
        for i, (stem, st) in enumerate(zip(stems, stamps)):
            w.writerow([i, stem, st.get("thermal", ""), st.get("visible", "")])


def read_sidecar(bag: str | Path) -> dict[int, str]:
    """Stamp (ns, of either camera) -> source stem, from a bag made by :func:`make_bag`; {} otherwise."""
    path = Path(bag) / SIDECAR
    if not path.is_file():
        return {}
    names: dict[int, str] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for key in ("thermal_stamp_ns", "visible_stamp_ns"):
                if row[key]:
                    names[int(row[key])] = row["stem"]
    return names
