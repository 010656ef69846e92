"""ivif_ros_e2e: camera → fused image → detections, end to end between processes, every pair accounted for.

Processes: ``ivif_camera_publisher`` (real MSRS pairs, stamp = publish time) → ``fusion_node`` →
(``--detector inprocess``: fusion_node's own detector, ``detector.enabled``; ``node``: a separate
``detector_node`` on ``fusion/image``; ``none``: no detector, the fused image alone as a baseline) →
this process, which subscribes ``fusion/image``, the detections (``detections`` when vision_msgs is
installed, else ``detections/json``) and ``/diagnostics``. Built from :mod:`ivif_fusion.soak`'s
pieces (environment, camera ledger, the per-camera accounting, rows, RSS, CPU).

Accounting, stage by stage (each ``unaccounted`` must be 0):

* per camera: published = paired + bad + unpaired by reason + pending + lost before the node (soak);
* pairs = fused + dropped_worker + bad_pairs + errors;
* fused = detected + reasons: in-process ``detector_errors`` + ``dropped_detector``; separate node
  ``lost_dds`` (on its input) + ``dropped_worker`` + ``bad_frames`` + ``errors`` of detector_node,
  whose ``processed`` is the detected count;
* detected = detection messages received here (+ ``not_received_here``).

Latency: camera publish (the input stamp) → detections received here, p50/p99 over the run (same
host clock), beside the fused image's, and detections received − its fused image received (what the
detector adds; the separate node's extra hop shows here). detector_node runs with
``publish_image:=false``, like the in-process default, so both set-ups publish the same. Every detection's stamp must be the stamp of a fused image
received here (``stamps_unmatched``). Every detection's latency goes into the JSON (``latency_trace``), with
where the slowest 1 % fell (``latency_tail``: one burst, steady jitter, or start-up) and the p50/p99 of every
``--bin`` window (``latency_windows``, printed as a p99 per window). CPU per process while the
camera publishes (% of one core, from /proc/<pid>/stat), RSS every 10 s. Prints a table, ``--json OUT``.

    python -m ivif_fusion.e2e --rate 30 --seconds 120 --detector inprocess --json e2e_inprocess_30.json
    python -m ivif_fusion.e2e --rate 30 --seconds 120 --detector node --json e2e_node_30.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .detection_msgs import load_vision_msgs
from .image_conversion import stamp_ns
from .node_watcher import stop_process
from .soak import (Sink, account, add_run_arguments, log_tag, monitor, node_command, percentiles, print_table, run_environment,
                   start, start_camera, wait_up, write_json)

DETECTORS = ("inprocess", "node", "none")


class DetectionSink(Sink):
    """The soak's sink plus the detections: (receive time ns, stamp ns) of each, and stamp -> receive time ns
    of the fused images."""

    def __init__(self, namespace: str) -> None:
        self.detections: list[tuple[int, int]] = []
        self.fused_received: dict[int, int] = {}
        super().__init__(namespace)

    def subscribe(self) -> None:
        from std_msgs.msg import String

        from .qos import output_qos

        self.vision = load_vision_msgs()
        if self.vision is not None:
            self.node.create_subscription(self.vision.Detection2DArray, "detections",
                                          lambda msg: self._on_detections(stamp_ns(msg.header.stamp)), output_qos(50))
        else:  # detections/json: the same stamps, in the JSON document (ivif_fusion.detection_msgs)
            self.node.create_subscription(String, "detections/json", self._on_json, output_qos(50))

    def _on_json(self, msg) -> None:
        stamp = json.loads(msg.data)["stamp"]
        self._on_detections(int(stamp["sec"]) * 1_000_000_000 + int(stamp["nanosec"]))

    def _on_detections(self, stamp: int) -> None:
        now = time.time_ns()
        with self._lock:
            self.detections.append((now, stamp))

    def on_fused(self, msg) -> None:
        now = time.time_ns()
        super().on_fused(msg)
        with self._lock:
            self.fused_received[stamp_ns(msg.header.stamp)] = now

    def detection_view(self) -> tuple[list[tuple[int, int]], dict[int, int]]:
        with self._lock:
            return list(self.detections), dict(self.fused_received)


def account_detections(mode: str, fusion: dict[str, str], detector: dict[str, str], received: list[tuple[int, int]],
                       fused_stamps: set[int] | dict[int, int]) -> dict[str, object]:
    """fused = detected + counted reasons + unaccounted; detected = received here + not_received_here; stamps."""
    n = lambda d, key: int(float(d.get(key, 0)))  # noqa: E731
    fused = n(fusion, "fused")
    if mode == "inprocess":
        detected = n(fusion, "detected")
        reasons = {k: n(fusion, k) for k in ("detector_errors", "dropped_detector")}
    else:
        detected = n(detector, "processed")
        reasons = {f"detector_node_{k}": n(detector, k) for k in ("lost_dds", "dropped_worker", "bad_frames", "errors")}
    stamps = [stamp for _, stamp in received]
    return {"fused": fused, "detected": detected, **reasons, "unaccounted": fused - detected - sum(reasons.values()),
            "received_here": len(received), "not_received_here": detected - len(received),
            "stamps_unmatched": sum(stamp not in fused_stamps for stamp in stamps),
            "stamps_duplicated": len(stamps) - len(set(stamps))}


def latency_trace(received: list[tuple[int, int]]) -> list[list[float]]:
    """[seconds since the first detection's stamp, camera → detection ms] per detection received, in stamp order."""
    if not received:
        return []
    ordered = sorted((stamp, now - stamp) for now, stamp in received)
    first = ordered[0][0]
    return [[round((stamp - first) / 1e9, 3), round(lag / 1e6, 2)] for stamp, lag in ordered]


def latency_windows(trace: list[list[float]], window_s: float) -> list[dict[str, float]]:
    """Camera → detection p50/p99 per ``window_s`` of a :func:`latency_trace` (the rows' ``--bin``), so a long run
    shows whether its p99 is every window's or a few windows' (empty windows are left out)."""
    windows: dict[int, list[float]] = {}
    for t, lag in trace:
        windows.setdefault(int(t // window_s), []).append(lag)
    rows = []
    for k, lags in sorted(windows.items()):
        p50, p99 = percentiles(lags)
        rows.append({"start_s": k * window_s, "detections": len(lags), "p50_ms": p50, "p99_ms": p99})
    return rows


def latency_tail(trace: list[list[float]], window_s: float = 1.0) -> dict[str, object]:
    """Where in the run (a :func:`latency_trace`) the slowest 1 % of detections (above the p99) came from: their
    times (s since the first stamp), how many distinct ``window_s`` windows hold them and how many fall in the first
    5 s. A tail in a few windows is a burst (the host, a stall); one spread over many windows is steady jitter; one
    at the start is the graph settling."""
    if not trace:
        return {}
    p99 = percentiles([lag for _, lag in trace])[1]
    times = [t for t, lag in trace if lag > p99]
    return {"threshold_ms": p99, "frames": len(times), "times_s": times,
            "windows": len({int(t // window_s) for t in times}), "window_s": window_s,
            "in_first_5_s": sum(t < 5.0 for t in times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivif_ros_e2e", description=__doc__.split("\n\n")[0])
    add_run_arguments(parser)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the camera publishes")
    parser.add_argument("--detector", default="inprocess", choices=DETECTORS,
                        help="inprocess: fusion_node's detector; node: a separate detector_node; none: fusion only")
    parser.add_argument("--detector-param", action="append", default=[], metavar="NAME:=VALUE",
                        help="detector setting (repeatable), e.g. threads:=1; 'detector.' is prefixed for inprocess")
    args = parser.parse_args(argv)
    prefixed = [p for p in args.detector_param if p.startswith("detector.")]
    if prefixed:  # it would reach fusion_node as detector.detector.*, which ROS ignores
        parser.error(f"--detector-param {prefixed[0]}: give the detector's own name ({prefixed[0][len('detector.'):]}); "
                     "'detector.' is added for the in-process detector")

    env, changes = run_environment(args)
    namespace = f"e2e{os.getpid()}"
    tag = log_tag(args.logs, "e2e")
    counts_path = Path(f"{tag}_counts.json")
    fusion_params = [f"backend:={args.backend}", "device:=cpu"] + args.node_param
    if args.detector == "inprocess":
        fusion_params += ["detector.enabled:=true"] + [f"detector.{p}" for p in args.detector_param]
    sink = DetectionSink(namespace)
    procs = {"fusion_node": start(node_command("fusion_node", namespace, fusion_params), env, Path(f"{tag}_fusion_node.log"))}
    if args.detector == "node":
        procs["detector_node"] = start(node_command("detector_node", namespace, ["publish_image:=false"] + args.detector_param),
                                       env, Path(f"{tag}_detector_node.log"))
    detections_topic = "detections" if sink.vision is not None else "detections/json"
    camera = None
    result: dict[str, object] = {"settings": {**vars(args), "json": str(args.json), "logs": str(args.logs),
                                              "transport_env": changes, "minutes": args.seconds / 60.0},
                                 "load_start": os.getloadavg()}
    try:
        def ready() -> bool:
            count = lambda topic: sink.node.count_publishers(sink.node.resolve_topic_name(topic))  # noqa: E731
            up = bool(sink.diagnostics()) and count("fusion/image") > 0
            if args.detector == "node":
                up = up and bool(sink.diagnostics("detector_node: detector"))
            return up and (args.detector == "none" or count(detections_topic) > 0)

        wait_up(ready, procs, tag)
        camera = start_camera(args, namespace, args.seconds, counts_path, env, tag)
        t_publish = time.monotonic()
        pids = {"camera": camera.pid, **{name: p.pid for name, p in procs.items()}, "bench": "self"}
        rows, rss, cpu = monitor(camera, counts_path, sink, pids, args.bin)
        fusion_diag, outputs = sink.view()
        detector_diag = sink.diagnostics("detector_node: detector")
        ledger = json.loads(counts_path.read_text())
        received, fused_received = sink.detection_view()
        ages = sink.ages_since(0)
        latencies = [(now - stamp) / 1e6 for now, stamp in received]
        after_fused = [(now - fused_received[stamp]) / 1e6 for now, stamp in received if stamp in fused_received]
        duration = ledger["published"]["visible"] / args.rate if args.rate > 0 else float("nan")
        result.update(account(ledger["published"], fusion_diag))
        result.update({
            "outputs_received": outputs, "age_p50_ms": percentiles(ages)[0], "age_p99_ms": percentiles(ages)[1],
            "fused_rate_hz": outputs / duration,
            "node_diagnostics": fusion_diag, "detector_diagnostics": detector_diag,
            "camera": {k: ledger[k] for k in ("deadline_misses", "publish_ms_max", "publish_ms_over_10")},
            "rows": rows, "rss_mb": rss, "cpu_percent": cpu, "wall_s": time.monotonic() - t_publish,
            "load_end": os.getloadavg()})
        if args.detector != "none":
            result["detections"] = account_detections(args.detector, fusion_diag, detector_diag, received, fused_received)
            trace = latency_trace(received)
            result.update({"detections_rate_hz": len(received) / duration, "detections_topic": detections_topic,
                           "latency_p50_ms": percentiles(latencies)[0], "latency_p99_ms": percentiles(latencies)[1],
                           "after_fused_p50_ms": percentiles(after_fused)[0], "after_fused_p99_ms": percentiles(after_fused)[1],
                           "latency_tail": latency_tail(trace), "latency_windows": latency_windows(trace, args.bin),
                           "latency_trace": trace})
    finally:
        if camera is not None:
            stop_process(camera)
        for proc in procs.values():
            stop_process(proc)
        sink.close()
    print_table(result)
    print_detections(result)
    write_json(result, args.json)
    return 0


def print_detections(result: dict[str, object]) -> None:
    s = result["settings"]
    published = result["cameras"]["visible"]["published"]
    print(f"e2e, detector {s['detector']}: {published} pairs published at {s['rate']} Hz; fused received here "
          f"{result['fused_rate_hz']:.1f} Hz, camera -> fused p50 {result['age_p50_ms']:.1f} ms p99 {result['age_p99_ms']:.1f} ms")
    d = result.get("detections")
    if d is not None:
        reasons = ", ".join(f"{k} {v}" for k, v in d.items() if k not in ("fused", "detected", "unaccounted", "received_here",
                                                                          "not_received_here", "stamps_unmatched",
                                                                          "stamps_duplicated"))
        print(f"  detections: fused {d['fused']} = detected {d['detected']} + {reasons} (+ {d['unaccounted']} unaccounted); "
              f"received here {d['received_here']} (not received {d['not_received_here']}), stamps unmatched "
              f"{d['stamps_unmatched']}, duplicated {d['stamps_duplicated']}")
        print(f"  camera -> detections received: {result['detections_rate_hz']:.1f} Hz, p50 {result['latency_p50_ms']:.1f} ms "
              f"p99 {result['latency_p99_ms']:.1f} ms; after its fused image p50 {result['after_fused_p50_ms']:.1f} ms "
              f"p99 {result['after_fused_p99_ms']:.1f} ms")
        tail = result.get("latency_tail") or {}
        if tail:
            print(f"  slowest 1 % (> {tail['threshold_ms']:.1f} ms): {tail['frames']} detections in {tail['windows']} "
                  f"{tail['window_s']:g} s window(s), {tail['in_first_5_s']} in the first 5 s")
        windows = result.get("latency_windows") or []
        if len(windows) > 1:
            print(f"  p99 per {s['bin']:g} s: " + ", ".join(f"{w['p99_ms']:.1f}" for w in windows) + " ms")
    unaccounted = [c["unaccounted"] for c in result["cameras"].values()] + [result["pairs"]["pairs_unaccounted"]]
    unaccounted += [d["unaccounted"], d["not_received_here"]] if d is not None else []
    print(f"  unaccounted anywhere: {sum(abs(u) for u in unaccounted)}; CPU % of one core: "
          + ", ".join(f"{k} {v:.0f}" for k, v in result["cpu_percent"].items()))


if __name__ == "__main__":
    sys.exit(main())
