"""Turn a live run's recording into the same report as an offline replay, matched frame by frame.

Inputs: the played bag, the recorded bag (``/fusion/image``, ``/fusion/alpha``, optionally
``/detections/json``, ``/diagnostics``), the player's publish log, and an offline replay of the same bag
(``pairs.csv`` says which thermal frame the pairing policy gave each visible frame; its output bag
holds the offline fused images). Every stream is walked forward once with small stamp-keyed buffers
(:class:`StampCursor`), so memory does not grow with the bag.

Per live output (keyed by its stamp = the visible frame's): metrics on the live pixels, end-to-end
latency (player published the later input -> recorder received ``fusion/image``), detector latency,
and equality with the offline output of the same stamp.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .bagio import iter_messages, open_bag, qualify, topics
from .codec import IMAGE_MSGTYPE, Frame, decode_frame, decode_image, typestore
from .collect import PairCollector
from .delivery import pair_delivery
from .offline import ALPHA_TOPIC, FUSED_TOPIC, ReplayConfig, ReplayResult

LIVE_STAGES = ("end_to_end", "detect_after_fusion")
DETECTIONS_TOPIC = "/detections/json"
DIAGNOSTICS_TOPIC = "/diagnostics"
_HORIZON_NS = 2_000_000_000  # a cursor looks this far past a wanted stamp before giving up on it
_MAX_PENDING = 16  # live outputs waiting for their α / detections before they are analysed anyway


class StampCursor:
    """Forward-only lookup of decoded image frames by (topic, stamp) in a bag read in log-time order.

    Requests must come in (roughly) increasing stamp order; frames more than the horizon older than
    the last request are forgotten.
    """

    def __init__(self, messages: Iterator[tuple[str, int, bytes]], msgtypes: dict[str, str] | None = None) -> None:
        self._messages = messages
        self._msgtypes = msgtypes or {}  # topic -> message type; a topic not in it carries sensor_msgs/Image
        self._buffer: dict[str, dict[int, Frame]] = {}
        self._newest: dict[str, int] = {}
        self._done = False

    def get(self, topic: str, stamp_ns: int) -> Frame | None:
        topic = qualify(topic)
        buf = self._buffer.setdefault(topic, {})
        while stamp_ns not in buf and not self._done and self._newest.get(topic, -1) <= stamp_ns + _HORIZON_NS:
            try:
                t, _, raw = next(self._messages)
            except StopIteration:
                self._done = True
                break
            frame = decode_frame(raw, self._msgtypes.get(t, IMAGE_MSGTYPE), t)
            self._buffer.setdefault(t, {})[frame.stamp_ns] = frame
            self._newest[t] = max(self._newest.get(t, frame.stamp_ns), frame.stamp_ns)
        frame = buf.get(stamp_ns)
        for other in self._buffer.values():
            for old in [s for s in other if s < stamp_ns - _HORIZON_NS]:
                del other[old]
        return frame


def _offline_pairing(pairs_csv: Path) -> dict[int, int]:
    """visible stamp -> thermal stamp of every pair the offline replay fused."""
    with pairs_csv.open(newline="", encoding="utf-8") as fh:
        return {int(r["visible_stamp_ns"]): int(r["thermal_stamp_ns"]) for r in csv.DictReader(fh)}


def _publish_times(path: Path) -> dict[tuple[str, int], int]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {(qualify(r["topic"]), int(r["stamp_ns"])): int(r["publish_ns"]) for r in csv.DictReader(fh)}


def _detections(raw: bytes) -> tuple[int, list[Any]]:
    """(stamp ns, detections) of one detector_node JSON message."""
    from ..detection import Detection

    doc = json.loads(typestore().deserialize_cdr(raw, "std_msgs/msg/String").data)
    stamp = int(doc["stamp"]["sec"]) * 1_000_000_000 + int(doc["stamp"]["nanosec"])
    return stamp, [Detection(tuple(d["box_xyxy"]), float(d["score"]), int(d["class_id"]), d["class_name"])
                   for d in doc["detections"]]


def _diagnostic_values(raw: bytes) -> dict[str, dict[str, str]]:
    msg = typestore().deserialize_cdr(raw, "diagnostic_msgs/msg/DiagnosticArray")
    return {str(s.name): {str(kv.key): str(kv.value) for kv in s.values} for s in msg.status}


def analyse_live(bag: Path, out_dir: Path, recorded: Path, publish_log: Path, offline: ReplayResult,
                 config: ReplayConfig, names: dict[int, str], wall_s: float,
                 detector_mode: str | None = None) -> tuple[ReplayResult, dict[str, Any]]:
    """The live run as a :class:`ReplayResult` (report-ready) and the live-vs-offline comparison.

    ``detector_mode``: how the graph detected ('node', 'inprocess' or None; see :mod:`.delivery`), for the
    pair accounting in ``result.extra['delivery']``."""
    start = time.perf_counter()
    pairing = _offline_pairing(Path(offline.out_dir) / "pairs.csv")
    published = _publish_times(publish_log)
    th_topic, vi_topic = offline.inputs["thermal"]["topic"], offline.inputs["visible"]["topic"]
    cmp: dict[str, Any] = {"offline_pairs": offline.pairs, "live_frames": 0, "matched": 0, "identical": 0,
                           "max_abs_fused": 0, "max_abs_alpha": 0, "live_only": 0}
    diagnostics: dict[str, dict[str, str]] = {}
    fused_stamps: set[int] = set()  # one int per recorded output: the only per-frame state kept
    detected_stamps: set[int] = set()
    with open_bag(recorded) as live_reader, open_bag(bag) as in_reader, open_bag(offline.out_bag) as off_reader:
        detect = DETECTIONS_TOPIC in topics(live_reader) and topics(live_reader)[DETECTIONS_TOPIC].count > 0
        collector = PairCollector(out_dir, config.collect, LIVE_STAGES, names, offline.pairs)
        inputs = StampCursor(iter_messages(in_reader, [th_topic, vi_topic]),
                             {name: info.msgtype for name, info in topics(in_reader).items()})
        offline_out = StampCursor(iter_messages(off_reader, [FUSED_TOPIC, ALPHA_TOPIC]))
        pending: dict[int, dict[str, Any]] = {}

        def finish(stamp: int) -> None:
            entry = pending.pop(stamp)
            if "fused" not in entry:
                return
            cmp["live_frames"] += 1
            th_stamp = pairing.get(stamp)
            if th_stamp is None:
                cmp["live_only"] += 1
                return
            thermal, visible = inputs.get(th_topic, th_stamp), inputs.get(vi_topic, stamp)
            if thermal is None or visible is None:
                cmp["live_only"] += 1
                return
            fused, fused_log = entry["fused"]
            alpha = entry["alpha"][0] if "alpha" in entry else None
            _compare(cmp, fused, alpha, offline_out.get(FUSED_TOPIC, stamp), offline_out.get(ALPHA_TOPIC, stamp))
            sent = max(published.get((th_topic, th_stamp), 0), published.get((vi_topic, stamp), 0))
            latency = {"end_to_end": (fused_log - sent) / 1e6 if sent else float("nan"),
                       "detect_after_fusion": (entry["det"][1] - fused_log) / 1e6 if "det" in entry else float("nan")}
            alpha_img = alpha.image if alpha is not None else np.zeros(fused.image.shape[:2], np.uint8)
            collector.add(thermal, visible, fused.image, alpha_img, latency, entry["det"][0] if "det" in entry else None)

        wanted = [FUSED_TOPIC, ALPHA_TOPIC, DIAGNOSTICS_TOPIC] + ([DETECTIONS_TOPIC] if detect else [])
        for topic, log_ns, raw in iter_messages(live_reader, wanted):
            if topic == DIAGNOSTICS_TOPIC:
                diagnostics.update(_diagnostic_values(raw))
                continue
            if topic == DETECTIONS_TOPIC:
                stamp, dets = _detections(raw)
                detected_stamps.add(stamp)
                pending.setdefault(stamp, {})["det"] = (dets, log_ns)
            else:
                frame = decode_image(raw, topic)
                if topic == FUSED_TOPIC:
                    fused_stamps.add(frame.stamp_ns)
                pending.setdefault(frame.stamp_ns, {})["fused" if topic == FUSED_TOPIC else "alpha"] = (frame, log_ns)
                stamp = frame.stamp_ns
            entry = pending[stamp]
            if "fused" in entry and "alpha" in entry and ("det" in entry or not detect):
                finish(stamp)
            while len(pending) > _MAX_PENDING:
                finish(min(pending))
        for stamp in sorted(pending):
            finish(stamp)
    collected = collector.close()
    cmp["matched"] = collected.pairs
    cmp["offline_only"] = offline.pairs - collected.pairs
    result = _live_result(offline, recorded, collected, diagnostics, published, wall_s + time.perf_counter() - start)
    counts = {"fused": len(fused_stamps), "detections": len(detected_stamps),
              "fused_and_detected": len(fused_stamps & detected_stamps)}
    result.extra["delivery"] = pair_delivery(offline.pairs, offline.pairing["dropped"], _node_values(diagnostics, "fusion"),
                                             _node_values(diagnostics, "detector"), detector_mode, counts)
    return result, cmp


def _node_values(diagnostics: dict[str, dict[str, str]], component: str) -> dict[str, str]:
    """The last diagnostic values of the status named ``"<node>: <component>"`` ({} when none)."""
    return next((v for k, v in diagnostics.items() if k.endswith(f": {component}")), {})


def _compare(cmp: dict[str, Any], fused: Frame, alpha: Frame | None, off_fused: Frame | None, off_alpha: Frame | None) -> None:
    if off_fused is None:
        return
    same = fused.image.shape == off_fused.image.shape
    d_fused = int(np.abs(fused.image.astype(np.int16) - off_fused.image.astype(np.int16)).max()) if same else 255
    d_alpha = 0
    if alpha is not None and off_alpha is not None:
        d_alpha = int(np.abs(alpha.image.astype(np.int16) - off_alpha.image.astype(np.int16)).max())
    cmp["max_abs_fused"] = max(cmp["max_abs_fused"], d_fused)
    cmp["max_abs_alpha"] = max(cmp["max_abs_alpha"], d_alpha)
    cmp["identical"] += int(d_fused == 0 and d_alpha == 0 and alpha is not None)


def _live_result(offline: ReplayResult, recorded: Path, collected: Any, diagnostics: dict[str, dict[str, str]],
                 published: dict[tuple[str, int], int], wall_s: float) -> ReplayResult:
    """Frame accounting from the fusion node's last /diagnostics (what it received, paired, dropped and why)."""
    from ..pairing import DROP_REASONS

    node = _node_values(diagnostics, "fusion")
    num = lambda key: int(float(node.get(key, "0")))  # noqa: E731
    inputs: dict[str, dict[str, Any]] = {}
    dropped = []
    for i, cam in enumerate(("thermal", "visible")):
        acc = dict(offline.inputs[cam])
        sent = sum(1 for (t, _) in published if t == acc["topic"])
        acc["read"] = num(f"received_{cam}") if node else sent
        acc["bad"] = {"bad encoding/size": num(f"bad_{cam}")} if node else {}
        acc["bad_examples"] = {}
        acc["published"] = sent
        inputs[cam] = acc
        if node:  # frames still queued in the node when the run ended were never paired either
            dropped.append({**{r: num(f"unpaired_{cam}_{r}") for r in DROP_REASONS}, "pending at end": num(f"pending_{cam}")})
        else:
            dropped.append(dict(offline.pairing["dropped"][i]))
    notes = []
    if node:
        lost = num("lost_seq_thermal") + num("lost_seq_visible")
        notes.append(f"Published by the player: thermal {inputs['thermal']['published']}, visible {inputs['visible']['published']}; "
                     f"received by fusion_node: {inputs['thermal']['read']}, {inputs['visible']['read']}; "
                     f"lost in transport (gaps in the writers' sequence numbers): {lost}.")
        notes.append(f"fusion_node paired {num('pairs')}, fused {num('fused')}; dropped by its worker queue (newest wins) "
                     f"{num('dropped_worker')}; bad pairs {num('bad_pairs')}; errors {num('errors')}. "
                     f"Node's own latency p50 {node.get('latency_p50_ms', '?')} ms (input received -> published).")
    else:
        notes.append("No /diagnostics from fusion_node were recorded; pairing counts are the offline replay's.")
    return ReplayResult(
        mode="live", bag=offline.bag, out_dir=str(recorded.parent), out_bag=str(recorded), backend=offline.backend,
        device=offline.device, slop=offline.slop, queue_size=offline.queue_size, pairs=collected.pairs,
        pairing={"emitted": num("pairs") if node else offline.pairs, "received": [inputs[c]["read"] for c in inputs], "dropped": dropped},
        inputs=inputs, fusion_errors={"count": num("bad_pairs") if node else 0, "examples": []},
        recorded_drops=offline.recorded_drops, wall_s=wall_s, collected=collected,
        extra={"diagnostics": diagnostics, "frame_notes": notes,  # the bag's stamps, and what they say, as offline
               **{k: offline.extra[k] for k in ("stamp_offset_ms", "stamp_offset_advice") if k in offline.extra}},
    )
