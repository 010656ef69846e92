"""Offline replay: read a bag frame by frame, pair like the node, fuse, write a new bag, collect a report.

Messages are taken in log-time order (the order a live node would have received them), decoded, and
offered to :class:`fusion_core.pairing.ApproximateTimePairer` with their header stamps — the policy and
defaults of ``fusion_node`` (``slop`` 0.02 s, ``queue_size`` 5). Each pair is fused with a
:class:`FusionEngine` and written as ``/fusion/image`` (the visible's encoding) and ``/fusion/alpha``
(mono8, α·255) with the visible frame's stamp and frame_id, as the node publishes them; their log
time is that of the message that completed the pair. At the end of the bag the pairer is flushed: a
pair still waiting for the proof that no later frame could beat it (the policy's last pair, which a
live node hands out on the next frame) is fused too, with the last message's log time. The input
messages are copied through unchanged.

At any moment the replay holds the messages waiting in the pairing queues (≤ ``queue_size`` per
input), one pair being fused, and rosbags' current read and write chunks: memory does not grow
with the bag.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..image_encodings import INPUT_ENCODINGS, INPUT_ROLES, ORDER_ENCODING, layout_of
from ..io import to_rgb
from .accounting import TopicAccount, recorded_drops
from .bagio import BagWriter, bag_storage, find_topic, iter_messages, open_bag, qualify
from .codec import IMAGE_MSGTYPE, INPUT_MSGTYPES, Frame, decode_frame, encode_image
from .collect import CollectSettings, PairCollector
from .make_bag import THERMAL_TOPIC, VISIBLE_TOPIC, read_sidecar

FUSED_TOPIC = "/fusion/image"
ALPHA_TOPIC = "/fusion/alpha"
OFFLINE_STAGES = ("decode", "pre", "network", "post", "fuse", "encode", "detect", "total")


@dataclass(frozen=True)
class ReplayConfig:
    """Settings of one replay. ``slop`` (s), ``queue_size`` and ``inter_message_lower_bound`` (s per input,
    thermal then visible; 0 = none, None = estimated from the stamps; bounds change when a pair is handed
    out, not which, while they hold) are the pairing policy's (node defaults); ``thermal_stamp_offset`` (s) is added
    to every thermal stamp before pairing, as fusion_node's parameter of that name;
    ``storage`` of the output bag (None: like the input); ``detect``: run the YOLOX detector on each
    fused image (detection summary in the report); ``write_bag``: False skips the output bag; ``warmup``:
    untimed fusions of the first pair before it is fused for real (the first calls of a backend are
    slow; the engine is reset afterwards, so thermal AGC state is unaffected)."""

    thermal_topic: str = THERMAL_TOPIC
    visible_topic: str = VISIBLE_TOPIC
    slop: float = 0.02
    queue_size: int = 5
    inter_message_lower_bound: tuple[float | None, float | None] = (None, None)
    thermal_stamp_offset: float = 0.0
    storage: str | None = None
    write_bag: bool = True
    detect: bool = False
    warmup: int = 1
    collect: CollectSettings = field(default_factory=CollectSettings)

    def __post_init__(self) -> None:
        if qualify(self.thermal_topic) == qualify(self.visible_topic):
            raise ConfigError(f"thermal and visible topics must differ, both are {qualify(self.thermal_topic)!r}")
        if self.warmup < 0:
            raise ConfigError(f"warmup must be >= 0 fusions, got {self.warmup}")


@dataclass
class ReplayResult:
    """Plain-data outcome of a replay (``summary.json``); ``collected`` feeds the report."""

    mode: str
    bag: str
    out_dir: str
    out_bag: str | None
    backend: str
    device: str
    slop: float
    queue_size: int
    pairs: int
    pairing: dict[str, Any]
    inputs: dict[str, dict[str, Any]]
    fusion_errors: dict[str, Any]
    recorded_drops: dict[str, Any] | None
    wall_s: float
    collected: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "collected"}
        if self.collected is not None:
            c = self.collected
            out["collected"] = {"pairs": c.pairs, "scored": c.scored, "metric_means": c.metric_means,
                                "metric_counts": c.metric_counts, "latency": c.latency, "detections": c.detections}
        return out


def write_summary(result: ReplayResult, out_dir: str | Path) -> Path:
    """``summary.json`` beside the report (NaN written as null)."""
    path = Path(out_dir) / "summary.json"
    path.write_text(json.dumps(_clean(result.to_json()), indent=2) + "\n", encoding="utf-8")
    return path


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def replay(bag: str | Path, out_dir: str | Path, config: ReplayConfig | None = None, engine: Any = None,
           detector: Any = None) -> ReplayResult:
    """Replay ``bag`` into ``out_dir`` (output bag ``out_dir/bag``, ``pairs.csv``); see the module docstring.

    ``engine``: a :class:`FusionEngine` (default: ``create_engine()``); ``detector``: a
    :class:`fusion_core.detection.Detector` used when ``config.detect`` (default: the shipped YOLOX-nano).
    """
    from ..pairing import ApproximateTimePairer, StampOffsetEstimate, few_pairs

    config = config or ReplayConfig()
    bag, out_dir = Path(bag), Path(out_dir)
    pairer: ApproximateTimePairer[tuple[Frame, float, int]] = ApproximateTimePairer(
        config.queue_size, config.slop, inter_message_lower_bound=config.inter_message_lower_bound)
    stamp_offset = StampOffsetEstimate(config.thermal_stamp_offset)
    if engine is None:
        from ..engine import create_engine

        engine = create_engine()
    if config.detect and detector is None:
        from ..detection import Detector

        detector = Detector()
    settings = config.collect
    collect = replace(settings, thermal=engine.config.thermal, registration=engine.config.registration)
    start = time.perf_counter()
    with open_bag(bag) as reader:
        th_info = find_topic(reader, config.thermal_topic, bag, INPUT_MSGTYPES)
        vi_info = find_topic(reader, config.visible_topic, bag, INPUT_MSGTYPES)
        msgtypes = {th_info.name: th_info.msgtype, vi_info.name: vi_info.msgtype}
        index = {th_info.name: 0, vi_info.name: 1}
        accounts = {th_info.name: TopicAccount(th_info.name), vi_info.name: TopicAccount(vi_info.name)}
        collector = PairCollector(out_dir, collect, OFFLINE_STAGES, read_sidecar(bag), min(th_info.count, vi_info.count))
        errors: dict[str, Any] = {"count": 0, "examples": []}
        out_bag = out_dir / "bag" if config.write_bag else None
        writer = BagWriter(out_bag, config.storage or bag_storage(bag)) if out_bag is not None else None
        last_log_ns = 0

        def fuse(pair: tuple[tuple[Frame, float, int], tuple[Frame, float, int]], log_ns: int) -> None:
            if collector.pairs == 0 and config.warmup:
                _warm_up(engine, pair[0][0], pair[1][0], config.warmup)
            _fuse_pair(pair[0], pair[1], log_ns, engine, detector if config.detect else None, writer, collector, errors)

        try:
            if writer is not None:
                writer.__enter__()
                for topic in (th_info.name, vi_info.name, FUSED_TOPIC, ALPHA_TOPIC):
                    writer.add_topic(topic, msgtypes.get(topic, IMAGE_MSGTYPE))
            for topic, log_ns, raw in iter_messages(reader, [th_info.name, vi_info.name]):
                if writer is not None:
                    writer.write(topic, log_ns, raw)
                t0 = time.perf_counter()
                try:
                    frame = decode_frame(raw, msgtypes[topic], f"{topic} message at log time {log_ns} ns")
                    layout_of(frame.encoding, INPUT_ENCODINGS[index[topic]], INPUT_ROLES[index[topic]])  # as the node
                except InputError as exc:
                    accounts[topic].saw(None)
                    accounts[topic].bad_frame("undecodable" if "decodable" in str(exc) else "bad image", str(exc))
                    continue
                accounts[topic].saw(frame.stamp_ns)
                decode_ms = (time.perf_counter() - t0) * 1000.0
                stamp = stamp_offset.corrected(index[topic], frame.stamp_ns)
                stamp_offset.add(index[topic], stamp)
                for pair in pairer.add(index[topic], stamp, (frame, decode_ms, log_ns)):
                    fuse(pair, log_ns)
                last_log_ns = log_ns
            for pair in pairer.flush():  # the end of the bag proves the last pair
                fuse(pair, last_log_ns)
        finally:
            if writer is not None:
                writer.__exit__(None, None, None)
    collected = collector.close()
    failed = few_pairs(collected.pairs, accounts[th_info.name].read, accounts[vi_info.name].read)
    advice = stamp_offset.advice(config.slop, "--thermal-stamp-offset") if failed else None  # say whether stamps are why
    return ReplayResult(
        mode="offline", bag=str(bag), out_dir=str(out_dir), out_bag=str(out_bag) if out_bag else None,
        backend=engine.backend, device=str(engine.device), slop=config.slop, queue_size=config.queue_size,
        pairs=collected.pairs, pairing=pairer.stats.as_dict(),
        inputs={"thermal": accounts[th_info.name].as_dict(), "visible": accounts[vi_info.name].as_dict()},
        fusion_errors=errors, recorded_drops=recorded_drops(bag), wall_s=time.perf_counter() - start, collected=collected,
        extra={"stamp_offset_ms": None if stamp_offset.offset_ns is None else stamp_offset.offset_ns / 1e6,
               **({"stamp_offset_advice": advice} if advice else {})},
    )


def _warm_up(engine: Any, thermal: Frame, visible: Frame, times: int) -> None:
    try:
        for _ in range(times):
            engine.fuse(thermal.image, visible.image, visible.order)
    except InputError:
        pass  # the real call reports it
    engine.reset()


def _fuse_pair(th_item: tuple[Frame, float, int], vi_item: tuple[Frame, float, int], log_ns: int, engine: Any,
               detector: Any, writer: BagWriter | None, collector: PairCollector, errors: dict[str, Any]) -> None:
    """Fuse, encode, write and record one pair; an InputError from the engine is counted, not raised."""
    (thermal, th_ms, _), (visible, vi_ms, _) = th_item, vi_item
    try:
        result = engine.fuse(thermal.image, visible.image, visible.order)
    except InputError as exc:
        errors["count"] += 1
        if len(errors["examples"]) < 5:
            errors["examples"].append(f"pair at visible stamp {visible.stamp_ns}: {exc}")
        return
    t0 = time.perf_counter()
    fused_raw = encode_image(result.fused, ORDER_ENCODING[visible.order], visible.stamp_ns, visible.frame_id)
    alpha_raw = encode_image(result.alpha, "mono8", visible.stamp_ns, visible.frame_id)
    encode_ms = (time.perf_counter() - t0) * 1000.0
    if writer is not None:
        writer.write(FUSED_TOPIC, log_ns, fused_raw)
        writer.write(ALPHA_TOPIC, log_ns, alpha_raw)
    detections, detect_ms = None, 0.0
    if detector is not None:
        t1 = time.perf_counter()
        detections = detector.detect(to_rgb(result.fused, visible.order), "rgb" if result.fused.ndim == 3 else "mono")
        detect_ms = (time.perf_counter() - t1) * 1000.0
    t = result.timings
    latency = {"decode": th_ms + vi_ms, "pre": t["pre"], "network": t["network"], "post": t["post"], "fuse": t["total"],
               "encode": encode_ms, "detect": detect_ms if detector is not None else float("nan")}
    latency["total"] = th_ms + vi_ms + t["total"] + encode_ms + (detect_ms if detector is not None else 0.0)
    collector.add(thermal, visible, result.fused, result.alpha, latency, detections)
