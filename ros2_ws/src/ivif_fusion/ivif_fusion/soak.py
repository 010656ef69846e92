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
            return dict(self._statuses.get(self._prefix + "fusion_node: fusion", {})), len(self.outputs)

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


def cpu_seconds(pid: int | str = "self") -> float:
    """CPU time (user + system, all threads) a process has used so far, s, from /proc/<pid>/stat; NaN when gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15 of stat)


class CpuMeter:
    """CPU use of named processes between the first and the latest :meth:`sample`, as % of one core."""

    def __init__(self, pids: dict[str, int | str]) -> None:
        self.pids = pids
        self._first: dict[str, tuple[float, float]] = {}
        self._last: dict[str, tuple[float, float]] = {}

    def sample(self) -> None:
        now = time.monotonic()
        for name, pid in self.pids.items():
            used = cpu_seconds(pid)
            if used == used:  # not NaN: the process is still there
                self._first.setdefault(name, (now, used))
                self._last[name] = (now, used)

    def percent(self) -> dict[str, float]:
        """name -> % of one core over the sampled interval (NaN without two samples)."""
        out = {}
        for name in self.pids:
            (t0, c0), (t1, c1) = self._first.get(name, (0.0, 0.0)), self._last.get(name, (0.0, 0.0))
            out[name] = round(100.0 * (c1 - c0) / (t1 - t0), 1) if t1 > t0 else float("nan")
        return out


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a camera-process run, shared with :mod:`ivif_fusion.e2e`."""
    parser.add_argument("--rate", type=float, default=10.0, help="camera pairs per second")
    parser.add_argument("--size", default="640x480", help="WxH of both cameras")
    parser.add_argument("--thermal-encoding", default="mono8", choices=("mono8", "mono16"))
    parser.add_argument("--transport-profile", default=None,
                        help="Fast DDS XML profile for all processes (default: the shipped config/fastdds_images.xml; "
                             "'' = none)")
    parser.add_argument("--fastdds-transports", default="", help="FASTDDS_BUILTIN_TRANSPORTS for all ('' = unset)")
    parser.add_argument("--camera-reliability", default="reliable", choices=("reliable", "best_effort"))
    parser.add_argument("--backend", default="onnxruntime", help="fusion_node backend")
    parser.add_argument("--node-param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra fusion_node parameter (repeatable), e.g. queue_size:=10")
    parser.add_argument("--bin", type=float, default=60.0, help="seconds per row of the table (default: a minute)")
    parser.add_argument("--logs", type=Path, default=Path("/tmp"), help="folder for the processes' logs")
    parser.add_argument("--json", type=Path, help="write the results here")


def log_tag(folder: Path, kind: str) -> Path:
    """The path prefix of this run's process logs and counts files in ``folder``, which is created when
    missing (a fresh folder per run keeps runs apart, and a typo must not end the run after its set-up)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"ivif_{kind}_{os.getpid()}"


def run_environment(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str | None]]:
    """The environment of every process of the run (transport, private domain, this package importable),
    also applied to this process (its participant is created after). Returns (env, transport changes)."""
    changes = transport_env(args.transport_profile)
    if args.fastdds_transports:
        changes[BUILTIN_ENV] = args.fastdds_transports
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env = apply(dict(os.environ), changes)
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_PARENT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    os.environ.clear()
    os.environ.update(env)
    return env, changes


def node_command(module: str, namespace: str, params: list[str]) -> list[str]:
    """``python -m ivif_fusion.<module>`` in ``/namespace`` with ``name:=value`` parameters."""
    cmd = [sys.executable, "-m", f"ivif_fusion.{module}", "--ros-args", "-r", f"__ns:=/{namespace}"]
    for param in params:
        cmd += ["-p", param]
    return cmd


def wait_up(ready, procs: dict[str, subprocess.Popen], tag: Path, timeout: float = 90.0) -> None:
    """Poll ``ready()`` until true; SystemExit naming the log when a process ends or ``timeout`` s pass."""
    end = time.monotonic() + timeout
    while not ready():
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with code {proc.returncode} before the run; see {tag}_{name}.log")
        if time.monotonic() > end:
            raise SystemExit(f"{', '.join(procs)} did not come up within {timeout:.0f} s; see {tag}_*.log")
        time.sleep(0.2)


def start_camera(args: argparse.Namespace, namespace: str, seconds: float, counts_path: Path, env: dict[str, str],
                 tag: Path) -> subprocess.Popen:
    """The camera-publisher process; returns once its ledger exists (it is publishing) or it ended."""
    camera = start([sys.executable, "-m", "ivif_fusion.camera_publisher", "--namespace", f"/{namespace}",
                    "--rate", str(args.rate), "--seconds", str(seconds), "--size", args.size,
                    "--thermal-encoding", args.thermal_encoding, "--reliability", args.camera_reliability,
                    "--counts", str(counts_path)], env, Path(f"{tag}_camera.log"))
    while not counts_path.is_file() and camera.poll() is None:
        time.sleep(0.1)
    return camera


def monitor(camera: subprocess.Popen, counts_path: Path, sink: Sink, pids: dict[str, int | str], bin_s: float,
            ) -> tuple[list[dict[str, object]], list[list[float]], dict[str, float]]:
    """Until the camera process ends: a table row every ``bin_s`` s, RSS (MiB) of ``pids`` every 10 s and their
    CPU use while the camera publishes. Returns (rows, rss rows [t, *MiB in pids order], CPU % of one core)."""
    t0 = time.monotonic()
    prev = {"published": dict.fromkeys(CAMERAS, 0), "diag": {}, "outputs": 0}
    next_rss, next_row = t0, t0 + bin_s
    rows: list[dict[str, object]] = []
    rss: list[list[float]] = []
    cpu = CpuMeter(pids)
    while True:
        done = camera.poll() is not None
        now = time.monotonic()
        if not done and not json.loads(counts_path.read_text()).get("finished"):
            cpu.sample()  # while frames are published: not the camera's linger, not the drain below
        if now >= next_rss:
            rss.append([round(now - t0, 1)] + [round(rss_mb(pid), 1) for pid in pids.values()])
            next_rss += 10.0
        if now >= next_row or done:
            if done:
                time.sleep(3.0)  # outputs and the last diagnostics of the final pairs
            rows.append(row(len(rows), prev, counts_path, sink))
            next_row += bin_s
        if done:
            break
        time.sleep(0.2)
    while len(rows) > 1 and not any(rows[-1][f"published_{c}"] for c in CAMERAS):  # after the last publish:
        last = rows.pop()  # fold the stragglers into the last row that published
        rows[-1].update({k: rows[-1][k] + v for k, v in last.items() if k != "row" and not k.startswith("age")})
    return rows, rss, cpu.percent()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivif_ros_soak", description=__doc__.split("\n\n")[0])
    add_run_arguments(parser)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args(argv)

    env, changes = run_environment(args)
    namespace = f"soak{os.getpid()}"
    tag = log_tag(args.logs, "soak")
    counts_path = Path(f"{tag}_counts.json")
    sink = Sink(namespace)
    node = start(node_command("fusion_node", namespace, [f"backend:={args.backend}", "device:=cpu"] + args.node_param),
                 env, Path(f"{tag}_fusion_node.log"))
    camera = None
    result: dict[str, object] = {"settings": {**vars(args), "json": str(args.json), "logs": str(args.logs),
                                              "transport_env": changes}, "load_start": os.getloadavg()}
    try:
        wait_up(lambda: bool(sink.view()[0]) and bool(sink.node.count_publishers(sink.node.resolve_topic_name("fusion/image"))),
                {"fusion_node": node}, tag)
        camera = start_camera(args, namespace, args.minutes * 60.0, counts_path, env, tag)
        rows, rss, cpu = monitor(camera, counts_path, sink, {"camera": camera.pid, "fusion_node": node.pid, "bench": "self"},
                                 args.bin)
        final_diag, outputs = sink.view()
        ledger = json.loads(counts_path.read_text())
        ages = sink.ages_since(0)
        result.update(account(ledger["published"], final_diag))
        result.update({"outputs_received": outputs, "age_p50_ms": percentiles(ages)[0], "age_p99_ms": percentiles(ages)[1],
                       "node_diagnostics": final_diag, "camera": {k: ledger[k] for k in ("deadline_misses", "publish_ms_max",
                                                                                          "publish_ms_over_10")},
                       "rows": rows, "rss_mb": rss, "cpu_percent": cpu, "load_end": os.getloadavg()})
    finally:
        if camera is not None:
            stop_process(camera)
        stop_process(node)
        sink.close()
    print_table(result)
    write_json(result, args.json)
    return 0


def write_json(result: dict[str, object], path: Path | None) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))
        print(f"results -> {path}")


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
        print(f"     RSS MiB ({', '.join(result['cpu_percent'])}): {first[1:]} -> {last[1:]}")
    print("     CPU % of one core while publishing: " + ", ".join(f"{k} {v:.0f}" for k, v in result["cpu_percent"].items()))


if __name__ == "__main__":
    sys.exit(main())
