"""Transport probe: camera-publisher process -> plain subscriber (this process), every frame counted.

Compares Fast DDS transport set-ups on one footing: the same publisher (ivif_fusion.camera_publisher,
real MSRS pairs, stamps = publish time) and a subscriber that does nothing but count. Per camera:
published (the publisher's own ledger), received, lost by writer sequence number (gaps), frames
never received at the end (tail), inter-arrival stalls (> --stall-ms), p99 inter-arrival, age
(stamp -> callback) p50/p99, and per-bin rows (--bin seconds) so a drop-off late in a run shows.
Appends one JSON line per run to --out and prints a one-line summary with the load average.

    python scripts/transport_probe.py --label large_data --env FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA --seconds 60
    python scripts/transport_probe.py --label shm_xml --profile config/fastdds_images.xml --rate 30
    python scripts/transport_probe.py --table /tmp/transport_probe.jsonl     # Markdown table of the runs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROS_PKG = REPO / "ros2_ws" / "src" / "ivif_fusion"
sys.path[:0] = [str(ROS_PKG), str(REPO)]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1))))]


def table(jsonl: Path) -> str:
    """A Markdown table of the runs in ``jsonl``: one row per run, both cameras."""
    lines = ["| set-up | rate | s | camera | published | lost (gaps) | stalls | max / p99 inter-arrival | age p50 / p99 | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for text in jsonl.read_text().splitlines():
        r = json.loads(text)
        setup = r["label"] + ("" if r["reliability"] == "reliable" else f" ({r['reliability']})")
        for cam, c in r["cameras"].items():
            lines.append(f"| {setup} | {r['rate']:.0f} Hz | {r['seconds']:.0f} | {cam} {r['thermal_encoding'] if cam == 'thermal' else 'rgb8'} | "
                         f"{c['published']} | {c['lost']} ({c['gaps']}) | {c['stalls']} | {c['max_gap_ms']:.0f} / {c['p99_gap_ms']:.0f} ms | "
                         f"{c['age_p50_ms']:.1f} / {c['age_p99_ms']:.1f} ms | {r['load_start'][0]:.1f}–{r['load_end'][0]:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--table"]:
        print(table(Path(sys.argv[2])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--thermal-encoding", default="mono8")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for both processes (repeatable)")
    parser.add_argument("--pub-env", action="append", default=[],
                        help="KEY=VALUE for the publisher only (repeatable; KEY= unsets), to test mixed set-ups")
    parser.add_argument("--profile", help="Fast DDS XML profile file for both processes (FASTDDS_DEFAULT_PROFILES_FILE)")
    parser.add_argument("--reliability", default="reliable", choices=("reliable", "best_effort"))
    parser.add_argument("--sub-depth", type=int, default=5, help="subscription history depth (keep last)")
    parser.add_argument("--pub-depth", type=int, default=10, help="publisher history depth (keep last)")
    parser.add_argument("--stall-ms", type=float, default=100.0,
                        help="a stall: an inter-arrival longer than the period + this many ms")
    parser.add_argument("--bin", type=float, default=60.0, help="seconds per row of the per-bin table")
    parser.add_argument("--out", type=Path, default=Path("/tmp/transport_probe.jsonl"))
    parser.add_argument("--trace", type=Path, help="also write every arrival (s since start, writer sequence number) here")
    parser.add_argument("--domain", type=int, default=0, help="ROS_DOMAIN_ID (0 = derived from the pid)")
    args = parser.parse_args(argv)

    env_changes = dict(kv.split("=", 1) for kv in args.env)
    if args.profile:
        env_changes["FASTDDS_DEFAULT_PROFILES_FILE"] = str(Path(args.profile).resolve())
    os.environ.update(env_changes)
    os.environ["ROS_DOMAIN_ID"] = str(args.domain or 120 + os.getpid() % 60)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROS_PKG), str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p])

    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from ivif_fusion.camera_publisher import CAMERAS, rss_mb
    from ivif_fusion.delivery import DeliveryMonitor, StallMeter
    from ivif_fusion.qos import camera_qos

    rclpy.init()
    node = Node(f"transport_probe_{os.getpid()}")
    monitors = {c: DeliveryMonitor() for c in CAMERAS}
    stalls = {c: StallMeter(1.0 / args.rate + args.stall_ms / 1000.0) for c in CAMERAS}  # late by > stall_ms
    arrivals: dict[str, list[tuple[float, int]]] = {c: [] for c in CAMERAS}  # (monotonic s, stamp ns)
    sequence: dict[str, list[int]] = {c: [] for c in CAMERAS}  # writer sequence number per arrival
    ages: dict[str, list[float]] = {c: [] for c in CAMERAS}

    def on_image(cam: str, msg, info) -> None:
        now_mono, now_ns = time.monotonic(), time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        monitors[cam].on_message(info["publisher_gid"], info["publication_sequence_number"])
        stalls[cam].arrived(now_mono)
        arrivals[cam].append((now_mono, stamp))
        sequence[cam].append(info["publication_sequence_number"])
        ages[cam].append((now_ns - stamp) / 1e6)

    qos = camera_qos(args.reliability, args.sub_depth)
    subs = [node.create_subscription(Image, f"{c}/image_raw", lambda m, i, c=c: on_image(c, m, i), qos) for c in CAMERAS]
    counts_path = Path(f"/tmp/transport_probe_{os.getpid()}_counts.json")
    load_start = os.getloadavg()
    pub_env = dict(os.environ)
    for key, value in (kv.split("=", 1) for kv in args.pub_env):
        if value:
            pub_env[key] = value
        else:
            pub_env.pop(key, None)
    pub = subprocess.Popen([sys.executable, "-m", "ivif_fusion.camera_publisher", "--rate", str(args.rate), "--seconds",
                            str(args.seconds), "--size", args.size, "--thermal-encoding", args.thermal_encoding,
                            "--reliability", args.reliability, "--depth", str(args.pub_depth), "--counts", str(counts_path)],
                           env=pub_env, stdout=subprocess.DEVNULL)
    rss = []
    next_rss = time.monotonic()
    try:
        while pub.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.05)
            if time.monotonic() >= next_rss:
                rss.append((round(time.monotonic(), 1), rss_mb(), rss_mb(pub.pid)))
                next_rss += 10.0
        drain_end = time.monotonic() + 3.0
        while time.monotonic() < drain_end:
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        if pub.poll() is None:
            pub.terminate()
            pub.wait(10)
    ledger = json.loads(counts_path.read_text())
    load_end = os.getloadavg()
    result: dict[str, object] = {"label": args.label, "env": env_changes, "pub_env": args.pub_env, "rate": args.rate, "seconds": args.seconds,
                                 "size": args.size, "thermal_encoding": args.thermal_encoding, "reliability": args.reliability,
                                 "sub_depth": args.sub_depth, "pub_depth": args.pub_depth, "load_start": load_start,
                                 "load_end": load_end, "publisher": {k: ledger[k] for k in ("published", "deadline_misses",
                                                                                              "publish_ms_max", "publish_ms_over_10")},
                                 "rss_mb": rss, "cameras": {}}
    for cam in CAMERAS:
        published = ledger["published"][cam]
        d = monitors[cam].snapshot()
        highest = d["received"] + d["gaps"] + d["before_first"]  # = the highest sequence number received
        tail = published - highest
        starts = [a[0] for a in arrivals[cam]]
        t0 = starts[0] if starts else 0.0
        bins: list[int] = []
        for t, _ in arrivals[cam]:
            b = int((t - t0) // args.bin)
            bins += [0] * (b + 1 - len(bins))
            bins[b] += 1
        result["cameras"][cam] = {
            "published": published, "received": d["received"], "lost": published - d["received"], "gaps": d["gaps"],
            "before_first": d["before_first"], "tail": tail, "reordered": d["reordered"], "duplicates": d["duplicates"],
            **stalls[cam].summary(), "age_p50_ms": pct(ages[cam], 50), "age_p99_ms": pct(ages[cam], 99),
            "per_bin": bins}
    if args.trace:
        t0 = min(a[0][0] for a in arrivals.values() if a)
        args.trace.write_text(json.dumps({c: [[round(t - t0, 4), q] for (t, _), q in zip(arrivals[c], sequence[c])]
                                          for c in CAMERAS}))
    with args.out.open("a") as f:
        f.write(json.dumps(result) + "\n")
    print(f"{args.label:<28} rate {args.rate:>4.0f} Hz {args.seconds:>5.0f} s load {load_start[0]:.2f}->{load_end[0]:.2f}")
    for cam, r in result["cameras"].items():
        print(f"  {cam:<8} pub {r['published']:>6} rx {r['received']:>6} lost {r['lost']:>5} (gaps {r['gaps']}, "
              f"before_first {r['before_first']}, tail {r['tail']}) stalls(+{args.stall_ms:.0f}ms) {r['stalls']:>4} "
              f"max gap {r['max_gap_ms']:.0f} ms p99 gap {r['p99_gap_ms']:.0f} ms age p50/p99 {r['age_p50_ms']:.1f}/"
              f"{r['age_p99_ms']:.1f} ms bins {r['per_bin']}")
    node.destroy_node()
    rclpy.try_shutdown()
    counts_path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
