"""ivif_ros_soak: minutes of camera pairs through fusion_node, every frame accounted for.

Three processes, as on a robot: ``ivif_camera_publisher`` (real MSRS pairs, stamps = publish time,
its own ledger of published frames), ``fusion_node`` (started with the transport set-up under test)
and this process, which subscribes ``fusion/image`` and ``/diagnostics``. At the end, per camera:

    published = counted by the node (pairs + bad + unpaired by reason + pending + lost before the node)
                + unaccounted

Lost before the node: ``lost_seq_<input>`` when the node reports it (frames missing by writer
sequence number, :class:`ivif_fusion.delivery.DeliveryMonitor`), else ``lost_dds_<input>`` (Fast
DDS's sample-lost event) — not both: a frame DDS reports lost never reaches the callback, so its
number is a sequence gap too. Frames lost with no event at all are "unaccounted" until the node
reports ``lost_seq``. Pairs split into fused + dropped_worker + bad_pairs + errors (+ one in flight).
Per-minute rows (``--bin``) show a drop-off late in a run; output age = visible stamp → received
here (same host clock); RSS of the three processes every 10 s. Prints a table, ``--json OUT``.

    ivif_ros_soak --rate 10 --minutes 5 --json soak.json                  # shipped transport profile
    ivif_ros_soak --transport-profile '' --fastdds-transports LARGE_DATA  # the old setting, to compare
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .camera_publisher import CAMERAS, rss_mb
from .node_watcher import NodeWatcher, stop_process
from .transport import BUILTIN_ENV, apply, transport_env

PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])


def percentiles(values: list[float]) -> tuple[float, float]:
    return (float(np.percentile(values, 50)), float(np.percentile(values, 99))) if values else (float("nan"), float("nan"))


class Sink(NodeWatcher):
    """fusion/image + /diagnostics subscriber in this process (its own executor thread)."""

    def __init__(self, namespace: str) -> None:
        self.outputs: list[tuple[float, float]] = []  # (monotonic s at receipt, age ms)
        super().__init__("ivif_ros_soak", namespace, fused_depth=50)

    def on_fused(self, msg) -> None:
        age_ms = (time.time_ns() - (msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)) / 1e6
        with self._lock:
            self.outputs.append((time.monotonic(), age_ms))

    def view(self) -> tuple[dict[str, str], int]:
        with self._lock:
            return dict(self._diagnostics), len(self.outputs)

    def ages_since(self, index: int) -> list[float]:
        """Output ages (ms) of the outputs received after the first ``index``."""
        with self._lock:
            return [age for _, age in self.outputs[index:]]


def node_counted(diag: dict[str, str], cam: str) -> dict[str, int]:
    """Where the node says ``cam``'s frames went: paired, bad, unpaired_<reason>, pending, and lost before it.

    Frames lost before the node: ``lost_seq_<cam>`` (writer sequence gaps) when the node reports it —
    it includes what Fast DDS's sample-lost event counts (``lost_dds``), so only one of them is used.
    """
    n = lambda key: int(float(diag.get(key, 0)))  # noqa: E731
    lost = {"lost_seq": n(f"lost_seq_{cam}")} if f"lost_seq_{cam}" in diag else {"lost_dds": n(f"lost_dds_{cam}")}
    out = {"paired": n("pairs"), "bad": n(f"bad_{cam}"), "pending": n(f"pending_{cam}"), **lost}
    out.update({k: n(k) for k in diag if k.startswith(f"unpaired_{cam}_")})
    return out


def account(published: dict[str, int], diag: dict[str, str]) -> dict[str, object]:
    """The accounting identity per camera, and the pairs' fate."""
    n = lambda key: int(float(diag.get(key, 0)))  # noqa: E731
    cams = {}
    for cam in CAMERAS:
        counted = node_counted(diag, cam)
        cams[cam] = {"published": published[cam], "received_by_node": n(f"received_{cam}"), **counted,
                     "unaccounted": published[cam] - sum(counted.values()),
                     "never_reached_node": published[cam] - n(f"received_{cam}")}
    pairs = {k: n(k) for k in ("pairs", "fused", "dropped_worker", "bad_pairs", "errors")}
    pairs["pairs_unaccounted"] = pairs["pairs"] - pairs["fused"] - pairs["dropped_worker"] - pairs["bad_pairs"] - pairs["errors"]
    return {"cameras": cams, "pairs": pairs}


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivif_ros_soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="camera pairs per second")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--size", default="640x480", help="WxH of both cameras")
    parser.add_argument("--thermal-encoding", default="mono8", choices=("mono8", "mono16"))
    parser.add_argument("--transport-profile", default=None,
                        help="Fast DDS XML profile for all three processes (default: the shipped config/fastdds_images.xml; "
                             "'' = none)")
    parser.add_argument("--fastdds-transports", default="", help="FASTDDS_BUILTIN_TRANSPORTS for all three ('' = unset)")
    parser.add_argument("--camera-reliability", default="reliable", choices=("reliable", "best_effort"))
    parser.add_argument("--backend", default="onnxruntime", help="fusion_node backend")
    parser.add_argument("--node-param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra fusion_node parameter (repeatable), e.g. queue_size:=10")
    parser.add_argument("--bin", type=float, default=60.0, help="seconds per row of the table (default: a minute)")
    parser.add_argument("--logs", type=Path, default=Path("/tmp"), help="folder for the two processes' logs")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    changes = transport_env(args.transport_profile)
    if args.fastdds_transports:
        changes[BUILTIN_ENV] = args.fastdds_transports
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env = apply(dict(os.environ), changes)
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_PARENT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    os.environ.clear()
    os.environ.update(env)  # this process's participant too (created in Sink)
    namespace = f"soak{os.getpid()}"
    tag = args.logs / f"ivif_soak_{os.getpid()}"
    counts_path = Path(f"{tag}_counts.json")
    node_cmd = [sys.executable, "-m", "ivif_fusion.fusion_node", "--ros-args", "-r", f"__ns:=/{namespace}",
                "-p", f"backend:={args.backend}", "-p", "device:=cpu"]
    for param in args.node_param:
        node_cmd += ["-p", param]
    sink = Sink(namespace)
    node = start(node_cmd, env, Path(f"{tag}_node.log"))
    camera = None
    rows: list[dict[str, object]] = []
    rss: list[list[float]] = []
    result: dict[str, object] = {"settings": {**vars(args), "json": str(args.json), "logs": str(args.logs),
                                              "transport_env": changes}, "load_start": os.getloadavg()}
    try:
        end = time.monotonic() + 90.0
        while not (sink.view()[0] and sink.node.count_publishers(sink.node.resolve_topic_name("fusion/image"))):
            if time.monotonic() > end or node.poll() is not None:
                raise SystemExit(f"fusion_node did not come up; see {tag}_node.log")
            time.sleep(0.2)
        camera = start([sys.executable, "-m", "ivif_fusion.camera_publisher", "--namespace", f"/{namespace}",
                        "--rate", str(args.rate), "--seconds", str(args.minutes * 60.0), "--size", args.size,
                        "--thermal-encoding", args.thermal_encoding, "--reliability", args.camera_reliability,
                        "--counts", str(counts_path)], env, Path(f"{tag}_camera.log"))
        while not counts_path.is_file() and camera.poll() is None:
            time.sleep(0.1)
        t0 = time.monotonic()
        prev = {"published": dict.fromkeys(CAMERAS, 0), "diag": {}, "outputs": 0}
        next_rss, next_row = t0, t0 + args.bin
        while True:
            done = camera.poll() is not None
            now = time.monotonic()
            if now >= next_rss:
                rss.append([round(now - t0, 1), rss_mb(camera.pid), rss_mb(node.pid), rss_mb()])
                next_rss += 10.0
            if now >= next_row or done:
                if done:
                    time.sleep(3.0)  # outputs and the last diagnostics of the final pairs
                rows.append(row(len(rows), prev, counts_path, sink))
                next_row += args.bin
            if done:
                break
            time.sleep(0.2)
        while len(rows) > 1 and not any(rows[-1][f"published_{c}"] for c in CAMERAS):  # after the last publish:
            last = rows.pop()  # fold the stragglers into the last row that published
            rows[-1].update({k: rows[-1][k] + v for k, v in last.items() if k != "row" and not k.startswith("age")})
        final_diag, outputs = sink.view()
        ledger = json.loads(counts_path.read_text())
        ages = sink.ages_since(0)
        result.update(account(ledger["published"], final_diag))
        result.update({"outputs_received": outputs, "age_p50_ms": percentiles(ages)[0], "age_p99_ms": percentiles(ages)[1],
                       "node_diagnostics": final_diag, "camera": {k: ledger[k] for k in ("deadline_misses", "publish_ms_max",
                                                                                          "publish_ms_over_10")},
                       "rows": rows, "rss_mb": rss, "load_end": os.getloadavg()})
    finally:
        if camera is not None:
            stop_process(camera)
        stop_process(node)
        sink.close()
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"results -> {args.json}")
    return 0


def row(index: int, prev: dict, counts_path: Path, sink: Sink) -> dict[str, object]:
    """One table row: what happened since the previous row (updates ``prev``)."""
    published = json.loads(counts_path.read_text())["published"]
    diag, outputs = sink.view()
    n = lambda d, key: int(float(d.get(key, 0)))  # noqa: E731
    drops = lambda d: sum(n(d, k) for k in d if k.startswith(("unpaired_", "bad_", "lost_", "dropped_worker")))  # noqa: E731
    ages = sink.ages_since(prev["outputs"])
    r = {"row": index, **{f"published_{c}": published[c] - prev["published"][c] for c in CAMERAS},
         **{f"received_{c}": n(diag, f"received_{c}") - n(prev["diag"], f"received_{c}") for c in CAMERAS},
         "fused": n(diag, "fused") - n(prev["diag"], "fused"), "outputs": outputs - prev["outputs"],
         "dropped": drops(diag) - drops(prev["diag"]), "age_p50_ms": percentiles(ages)[0], "age_p99_ms": percentiles(ages)[1]}
    prev.update(published=published, diag=diag, outputs=outputs)
    return r


def print_table(result: dict[str, object]) -> None:
    s = result["settings"]
    print(f"\nsoak: {s['rate']} Hz x {s['minutes']} min, {s['size']} rgb8 + {s['thermal_encoding']}, backend {s['backend']}, "
          f"transport {result['settings']['transport_env'] or 'Fast DDS defaults'}; load {result['load_start'][0]:.2f} -> "
          f"{result['load_end'][0]:.2f}")
    print(f"{'row':>4} | {'pub T':>6} {'pub V':>6} | {'rx T':>6} {'rx V':>6} | {'fused':>6} {'out':>6} {'drop':>5} | "
          f"{'age p50':>8} {'age p99':>8}")
    for r in result["rows"]:
        print(f"{r['row']:>4} | {r['published_thermal']:>6} {r['published_visible']:>6} | {r['received_thermal']:>6} "
              f"{r['received_visible']:>6} | {r['fused']:>6} {r['outputs']:>6} {r['dropped']:>5} | {r['age_p50_ms']:>6.1f}ms "
              f"{r['age_p99_ms']:>6.1f}ms")
    for cam, c in result["cameras"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in c.items() if v and k not in ("published", "received_by_node", "paired", "unaccounted"))
        print(f"{cam:>8}: published {c['published']}, reached node {c['received_by_node']}, paired {c['paired']}"
              f"{', ' + reasons if reasons else ''}; unaccounted {c['unaccounted']}")
    p = result["pairs"]
    print(f"   pairs: {p['pairs']} = fused {p['fused']} + dropped_worker {p['dropped_worker']} + bad_pairs {p['bad_pairs']} + "
          f"errors {p['errors']} (+ {p['pairs_unaccounted']} unaccounted); outputs received here {result['outputs_received']}; "
          f"age p50 {result['age_p50_ms']:.1f} ms p99 {result['age_p99_ms']:.1f} ms")
    if result["rss_mb"]:
        first, last = result["rss_mb"][0], result["rss_mb"][-1]
        print(f"     RSS MiB (camera, node, bench): {first[1:]} -> {last[1:]}")


if __name__ == "__main__":
    sys.exit(main())
