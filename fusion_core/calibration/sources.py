"""Where calibration pairs come from: two image files, two folders (paired by stem), or a rosbag2.

At most ``max_pairs`` pairs are used, spread evenly over what is available (pairs from one moment of
a recording add little; pairs from different moments add different structure).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import pair_folders, read_thermal, read_visible, to_rgb

Pair = tuple[np.ndarray, np.ndarray]  # (thermal (H, W) uint8/uint16, visible (H, W[, 3]) uint8)


def spread(count: int, keep: int) -> list[int]:
    """``keep`` indices spread evenly over ``range(count)`` (all of them when ``count <= keep``)."""
    if count <= keep:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, keep)})


def pairs_from_files(ir: str | Path, vi: str | Path, max_pairs: int) -> list[Pair]:
    """Two image files (one pair) or two folders (pairs matched by file stem)."""
    ir, vi = Path(ir), Path(vi)
    if ir.is_file() and vi.is_file():
        return [(read_thermal(ir), read_visible(vi))]
    if ir.is_dir() and vi.is_dir():
        found = pair_folders(ir, vi, strict=False)
        return [(read_thermal(found[i].ir), read_visible(found[i].vi)) for i in spread(len(found), max_pairs)]
    raise InputError(f"--ir {ir} and --vi {vi} must both be image files or both be folders")


def pairs_from_bag(bag: str | Path, thermal_topic: str, visible_topic: str, max_pairs: int, slop: float = 0.02,
                   thermal_stamp_offset: float = 0.0) -> list[Pair]:
    """Up to ``max_pairs`` (thermal, visible) image pairs of a rosbag2, paired by header stamp within ``slop`` s
    (the fusion node's ApproximateTime policy), spread over the recording. Streams the bag twice: once
    to count pairs, once to decode the chosen ones, so memory holds only those."""
    from ..image_encodings import INPUT_ENCODINGS, INPUT_ROLES, layout_of
    from ..pairing import ApproximateTimePairer, StampOffsetEstimate
    from ..replay.bagio import find_topic, iter_messages, open_bag
    from ..replay.codec import INPUT_MSGTYPES, decode_frame, decode_header

    pairer: ApproximateTimePairer[int] = ApproximateTimePairer(5, slop)
    offsets = StampOffsetEstimate(thermal_stamp_offset)
    stamps: list[tuple[int, int]] = []
    with open_bag(bag) as reader:  # first pass: the topics, and every pair's stamps
        infos = [find_topic(reader, t, bag, INPUT_MSGTYPES) for t in (thermal_topic, visible_topic)]
        th, vi = (info.name for info in infos)
        msgtypes = {info.name: info.msgtype for info in infos}
        for topic, _, raw in iter_messages(reader, [th, vi]):
            side = 0 if topic == th else 1
            stamp = offsets.corrected(side, decode_header(raw, msgtypes[topic])[0])  # both passes pair corrected stamps
            offsets.add(side, stamp)
            stamps += pairer.add(side, stamp, stamp)
        stamps += pairer.flush()
    if not stamps:
        advice = offsets.advice(slop, "--thermal-stamp-offset")
        raise InputError(f"bag {bag}: no {thermal_topic} / {visible_topic} messages within {slop} s of each other"
                         + (f"; {advice}" if advice else ""))
    chosen = [stamps[i] for i in spread(len(stamps), max_pairs)]
    wanted_t, wanted_v = {t for t, _ in chosen}, {v for _, v in chosen}
    frames: dict[tuple[int, int], np.ndarray] = {}
    with open_bag(bag) as reader:  # second pass: decode the chosen frames only
        for topic, log_ns, raw in iter_messages(reader, [th, vi]):
            side = 0 if topic == th else 1
            stamp = offsets.corrected(side, decode_header(raw, msgtypes[topic])[0])
            if stamp in (wanted_t if side == 0 else wanted_v):
                frame = decode_frame(raw, msgtypes[topic], f"{topic} message at log time {log_ns} ns")
                layout_of(frame.encoding, INPUT_ENCODINGS[side], f"bag {bag}: {INPUT_ROLES[side]}")
                image = frame.image if side == 0 else to_rgb(frame.image, frame.order)
                frames[(side, stamp)] = image
    return [(frames[(0, t)], frames[(1, v)]) for t, v in chosen]
