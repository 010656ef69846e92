"""ivif_ros_bench: fusion through DDS versus the bare engine, in one run.

For each size (default 640x480 and 640x512) it measures

* the bare engine: ``create_engine(...).fuse`` in this process, median / p99 of 10 after 3 warm-ups;
* end-to-end latency through ROS: pairs (mono8 thermal + bgr8 visible, a real MSRS pair resized)
  published with stamp = publish time, to a ``fusion_node`` running in its own process; latency =
  time ``fusion/image`` is received here − input stamp (same host clock), one pair at a time,
  interleaved with the bare-engine samples so both see the same machine load;
* the highest input rate sustained without drops: a ladder of rates (0.3–1.2 × the bare engine's
  throughput), each held for ``--duration`` seconds (at least 5 pairs); a rate passes when every pair
  comes out; the ladder stops at the first failure and reports the last rate that passed;
* the node's own view from ``/diagnostics`` (fuse time inside the node, receive→publish latency), to
  separate transport from computation;
* that the node ran the same fusion: its last fused image against the bare engine's for the same pair,
  ``node_output_max_abs_diff`` in grey levels (0 = identical).

The node is restarted for each size so its latency windows hold that size only.

Both processes use the transport set-ups named by ``--transports``: ``profile`` (default) is the
shipped Fast DDS profile (:func:`ivif_fusion.transport.transport_env`: SHM with a 16 MiB segment +
UDP); any other value is a ``FASTDDS_BUILTIN_TRANSPORTS`` setting (``LARGE_DATA``, ``DEFAULT`` …)
with no profile, e.g. ``--transports profile,LARGE_DATA`` to compare.

Run: ``ivif_ros_bench [--sizes 640x480,640x512] [--backend torch] [--device auto] [--json OUT]`` or
``python -m ivif_fusion.benchmark``. Uses a private ROS_DOMAIN_ID unless one is set.
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

from .node_watcher import NodeWatcher, stop_process

RATE_FACTORS = (0.3, 0.5, 0.7, 0.85, 1.0, 1.2)  # x the bare engine throughput, tried in this order


def find_pair(ir: str | None, vi: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(thermal uint8 (H, W), visible BGR uint8, description): given files, else the first MSRS pair found."""
    import cv2
    from fusion_core.io import read_thermal

    if ir and vi:
        return read_thermal(ir), cv2.imread(vi, cv2.IMREAD_COLOR), f"{ir} + {vi}"
    from .camera_publisher import msrs_roots

    for root in msrs_roots():
        irs = sorted((root / "ir").glob("*.png")) if (root / "ir").is_dir() else []
        for path in irs:
            vi_path = root / "vi" / path.name
            if vi_path.is_file():
                return read_thermal(path), cv2.imread(str(vi_path), cv2.IMREAD_COLOR), str(path.relative_to(root.parent))
    raise SystemExit("no image pair found: pass --ir and --vi")


def bare_fuse_ms(engine, thermal: np.ndarray, visible: np.ndarray) -> float:
    t0 = time.perf_counter()
    engine.fuse(thermal, visible, "bgr")
    return (time.perf_counter() - t0) * 1000.0


class Bench(NodeWatcher):
    """Publisher of input pairs and recorder of fused outputs, in this process."""

    def __init__(self, namespace: str) -> None:
        from sensor_msgs.msg import Image

        self.received: dict[int, int] = {}  # stamp ns -> receive time ns
        self.last_fused = None  # the newest fused Image: its pixels are checked against the bare engine's
        super().__init__("ivif_ros_bench", namespace)
        self.thermal_pub = self.node.create_publisher(Image, "thermal/image_raw", 10)
        self.visible_pub = self.node.create_publisher(Image, "visible/image_raw", 10)

    def on_fused(self, msg) -> None:
        now = time.time_ns()
        with self._lock:
            self.received[msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec] = now
            self.last_fused = msg

    def newest_fused(self):  # noqa: ANN201 - sensor_msgs/Image or None
        with self._lock:
            return self.last_fused

    def node_view(self) -> dict[str, str]:
        """The node's latest /diagnostics values (after one more period, so they cover the last pairs)."""
        time.sleep(1.2)
        return self.diagnostics()

    def wait_connected(self, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.thermal_pub.get_subscription_count() == 1 and self.visible_pub.get_subscription_count() and \
                    self.node.count_publishers(self.node.resolve_topic_name("fusion/image")):
                return
            time.sleep(0.1)
        raise SystemExit("fusion_node did not come up (no subscriber on the input topics)")

    def one(self, thermal_msg, visible_msg, timeout: float) -> float | None:
        """Publish one pair and wait for its output; end-to-end latency in ms (None if it never came)."""
        result = self.run(thermal_msg, visible_msg, 1.0, 1, timeout)
        return result["latency_ms"][0] if result["latency_ms"] else None

    def run(self, thermal_msg, visible_msg, rate_hz: float, count: int, drain_s: float) -> dict[str, object]:
        """Publish ``count`` pairs at ``rate_hz``; returns sent, received, latencies (ms) of the received."""
        stamps = []
        period = 1.0 / rate_hz
        t_next = time.monotonic()
        for _ in range(count):
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t_next += period
            now = time.time_ns()
            for msg in (thermal_msg, visible_msg):
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
            self.thermal_pub.publish(thermal_msg)
            self.visible_pub.publish(visible_msg)
            stamps.append(now)
        end = time.monotonic() + drain_s
        while time.monotonic() < end:  # wait until the outputs stop coming
            with self._lock:
                n = sum(s in self.received for s in stamps)
            if n == count:
                break
            time.sleep(0.05)
        with self._lock:
            lat = [(self.received[s] - s) / 1e6 for s in stamps if s in self.received]
        return {"sent": count, "received": len(lat), "latency_ms": lat}


def start_node(args: argparse.Namespace, namespace: str) -> subprocess.Popen:
    package_parent = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([package_parent] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    cmd = [sys.executable, "-m", "ivif_fusion.fusion_node", "--ros-args", "-r", f"__ns:=/{namespace}",
           "-p", f"backend:={args.backend}", "-p", f"device:={args.device}", "-p", "worker_queue_size:=1",
           "-p", f"input_reliability:={args.input_reliability}", "--log-level", "warn"]
    if args.model:
        cmd += ["-p", f"model_path:={args.model}"]
    return subprocess.Popen(cmd, env=env)


def node_output_difference(bench: Bench, engine, thermal: np.ndarray, visible: np.ndarray) -> dict[str, object]:
    """How far the node's last fused image is from the bare engine's fusion of the same pair.

    The latency comparison only means something if the node runs the same fusion: 0 says it did, to the bit.
    """
    from ivif_fusion.image_conversion import image_to_array

    msg = bench.newest_fused()
    if msg is None:
        return {"node_output_encoding": None, "node_output_max_abs_diff": None}
    node = image_to_array(msg).astype(np.int16)
    expected = engine.fuse(thermal, visible, "bgr").fused.astype(np.int16)
    diff = int(np.abs(node - expected).max()) if node.shape == expected.shape else None
    return {"node_output_encoding": msg.encoding, "node_output_max_abs_diff": diff}


def measure_size(bench: Bench, engine, thermal: np.ndarray, visible: np.ndarray, args: argparse.Namespace) -> dict[str, object]:
    from ivif_fusion.image_conversion import array_to_image

    t_msg, v_msg = array_to_image(thermal, "mono8"), array_to_image(visible, "bgr8")
    for _ in range(3):  # warm-up: the engine here and the node's
        bare_fuse_ms(engine, thermal, visible)
        bench.one(t_msg, v_msg, 60.0)
    # Interleaved, one pair at a time: bare and end-to-end samples see the same machine load.
    bare_ms, e2e_ms = [], []
    for _ in range(args.latency_pairs):
        bare_ms.append(bare_fuse_ms(engine, thermal, visible))
        latency = bench.one(t_msg, v_msg, 60.0)
        if latency is not None:
            e2e_ms.append(latency)
    bare = {"p50_ms": float(np.percentile(bare_ms, 50)), "p99_ms": float(np.percentile(bare_ms, 99))}
    same_pixels = node_output_difference(bench, engine, thermal, visible)
    capacity_hz = 1000.0 / bare["p50_ms"]
    drain = 2.0 + 4 * bare["p99_ms"] / 1000.0
    lat = {"sent": args.latency_pairs, "received": len(e2e_ms), "latency_ms": e2e_ms}
    view = bench.node_view()
    node_view = {f"node_{k}": float(view.get(k, "nan")) for k in ("fuse_p50_ms", "fuse_p99_ms", "latency_p50_ms", "latency_p99_ms")}
    ladder = []
    sustained = 0.0
    for factor in RATE_FACTORS:
        rate = capacity_hz * factor
        result = bench.run(t_msg, v_msg, rate, max(5, round(rate * args.duration)), drain)
        ok = result["received"] == result["sent"]
        ladder.append({"rate_hz": rate, "sent": result["sent"], "received": result["received"], "no_drops": ok})
        if not ok:
            break
        sustained = rate
    # Where the ladder's missing outputs went, by the node's own counters.
    after = bench.node_view()
    drop_keys = [k for k in after if k.startswith(("dropped_", "unpaired_", "lost_dds_", "bad_"))]
    ladder_drops = {k: int(after[k]) - int(view.get(k, 0)) for k in drop_keys if int(after[k]) - int(view.get(k, 0))}
    e2e = lat["latency_ms"]
    p50, p99 = (float(np.percentile(e2e, q)) for q in (50, 99)) if e2e else (float("nan"), float("nan"))
    return {"bare_p50_ms": bare["p50_ms"], "bare_p99_ms": bare["p99_ms"], "bare_capacity_hz": capacity_hz,
            "e2e_p50_ms": p50, "e2e_p99_ms": p99, "e2e_pairs": lat["sent"],
            "e2e_received": lat["received"], "overhead_ratio_p50": p50 / bare["p50_ms"],
            "max_rate_no_drops_hz": sustained, **same_pixels, "ladder": ladder, "ladder_node_drops": ladder_drops, **node_view}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivif_ros_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="640x480,640x512", help="WxH list (default: 640x480,640x512)")
    parser.add_argument("--backend", default="torch", help="engine backend (node and bare engine)")
    parser.add_argument("--device", default="auto", help="cpu | cuda | auto")
    parser.add_argument("--model", default="", help="model file ('' = the shipped default)")
    parser.add_argument("--input-reliability", default="reliable", choices=("reliable", "best_effort"))
    parser.add_argument("--latency-pairs", type=int, default=20, help="pairs for the latency measurement")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per rate of the drop ladder")
    parser.add_argument("--ir", help="thermal image file (default: the first MSRS pair found)")
    parser.add_argument("--vi", help="visible image file")
    parser.add_argument("--transports", default="profile",
                        help="transport set-ups to compare, comma-separated: 'profile' = the shipped Fast DDS profile "
                             "(ivif_fusion.transport), anything else = a FASTDDS_BUILTIN_TRANSPORTS value without the "
                             "profile (e.g. profile,LARGE_DATA,DEFAULT)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    import cv2
    import torch
    from fusion_core.engine import EngineConfig, create_engine

    from .transport import BUILTIN_ENV, PROFILE_ENV, apply, transport_env

    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    ir, vi, source = find_pair(args.ir, args.vi)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    engine = create_engine(EngineConfig(backend=args.backend, model_path=args.model or None, device=device))
    results: dict[str, object] = {"pair": source, "backend": args.backend, "device": device,
                                  "input_reliability": args.input_reliability, "torch_threads": torch.get_num_threads(),
                                  "cpu_count": os.cpu_count(), "load_average_at_start": os.getloadavg(), "transports": {}}
    for transport in args.transports.split(","):
        # read when a participant is created: this process's (Bench) and the node's (inherits os.environ)
        changes = transport_env() if transport == "profile" else {PROFILE_ENV: None, BUILTIN_ENV: transport}
        environ = apply(dict(os.environ), changes)
        os.environ.clear()
        os.environ.update(environ)
        namespace = f"bench{os.getpid()}_" + "".join(ch if ch.isalnum() else "_" for ch in transport.lower())
        bench = Bench(namespace)
        by_size: dict[str, object] = {}
        results["transports"][transport] = by_size
        try:
            for w, h in sizes:
                node = start_node(args, namespace)
                try:
                    bench.wait_connected()
                    thermal = cv2.resize(ir, (w, h), interpolation=cv2.INTER_AREA)
                    visible = cv2.resize(vi, (w, h), interpolation=cv2.INTER_AREA)
                    by_size[f"{w}x{h}"] = measure_size(bench, engine, thermal, visible, args)
                finally:
                    stop_process(node)
        finally:
            bench.close()
    results["load_average_at_end"] = os.getloadavg()
    print(f"\nfusion through DDS vs bare engine ({args.backend} on {device}, inputs {args.input_reliability}; pair {source})")
    print(f"{'transport':>10} {'size':>9} | {'bare p50':>9} {'bare p99':>9} | {'e2e p50':>9} {'e2e p99':>9} | {'e2e/bare':>8} | "
          f"{'node fuse':>9} {'node rx->tx':>11} | {'bare max':>9} {'no-drop max':>11}")
    for transport, by_size in results["transports"].items():
        for size, r in by_size.items():
            print(f"{transport:>10} {size:>9} | {r['bare_p50_ms']:7.1f}ms {r['bare_p99_ms']:7.1f}ms | {r['e2e_p50_ms']:7.1f}ms "
                  f"{r['e2e_p99_ms']:7.1f}ms | {r['overhead_ratio_p50']:7.2f}x | {r['node_fuse_p50_ms']:7.1f}ms "
                  f"{r['node_latency_p50_ms']:9.1f}ms | {r['bare_capacity_hz']:6.2f} Hz {r['max_rate_no_drops_hz']:8.2f} Hz")
    print(f"load average {results['load_average_at_start'][0]:.1f} -> {results['load_average_at_end'][0]:.1f} "
          f"on {results['cpu_count']} CPUs (other processes share them: figures vary with load)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"results -> {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
