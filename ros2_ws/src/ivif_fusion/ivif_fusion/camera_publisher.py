"""ivif_camera_publisher: a stand-in for two camera drivers, in its own process, for soaks and transport probes.

Publishes ``thermal/image_raw`` (mono8 or mono16) and ``visible/image_raw`` (rgb8 or bgr8) at
``--rate`` Hz, cycling through real MSRS pairs (resized to ``--size``), both stamped with the
publish time (``time.time_ns()``, the host clock a subscriber on the same host compares with).
Messages are built once; only the stamp changes, so the process does the work a camera driver's
publish path does and nothing else.

Every second (and at exit) it writes ``--counts`` (JSON, replaced atomically): published frames per
camera, the last stamp, deadline misses (a publish more than one period late), the duration of the
``publish`` calls (a reliable writer that waits shows up here) and this process's RSS — so a
soak that reads it knows exactly how many frames left the cameras, even if it stops this process.

Run: ``python -m ivif_fusion.camera_publisher --rate 10 --seconds 60 --counts counts.json``
(transport settings come from the environment: see :mod:`ivif_fusion.transport`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from .qos import CAMERA_DEPTH

CAMERAS = ("thermal", "visible")


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of a process from /proc (MiB); NaN when it cannot be read (process gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def msrs_roots() -> list[Path]:
    """Folders holding MSRS-style ``ir/`` + ``vi/`` pairs: $IVIF_SHARED_DATA, ../shared/data, then the repo sample."""
    repo = Path(__import__("fusion_core").__file__).resolve().parents[1]
    bases = [Path(os.environ["IVIF_SHARED_DATA"])] if os.environ.get("IVIF_SHARED_DATA") else []
    bases.append(repo.parent / "shared" / "data")
    return [b / "MSRS" / "trainval" for b in bases] + [repo / "data" / "sample" / "msrs"]


def load_pairs(count: int, size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to ``count`` MSRS pairs (thermal uint8 (H, W), visible BGR uint8 (H, W, 3)) resized to ``size`` (W, H)."""
    import cv2
    from fusion_core.io import list_images, read_thermal

    for root in msrs_roots():
        if (root / "ir").is_dir() and (root / "vi").is_dir():
            break
    else:
        raise SystemExit(f"no MSRS pairs found in {', '.join(map(str, msrs_roots()))}")
    visibles = list_images(root / "vi")
    pairs = []
    for stem, ir_path in list(list_images(root / "ir").items()):
        if stem in visibles and len(pairs) < count:
            thermal = cv2.resize(read_thermal(ir_path), size, interpolation=cv2.INTER_AREA)
            visible = cv2.resize(cv2.imread(str(visibles[stem]), cv2.IMREAD_COLOR), size, interpolation=cv2.INTER_AREA)
            pairs.append((thermal, visible))
    return pairs


def build_messages(pairs, thermal_encoding: str, visible_encoding: str, frame_ids: tuple[str, str]):
    """Image messages per pair, in the encodings asked for (mono16 = the 8-bit thermal scaled by 257)."""
    from .image_conversion import array_to_image

    messages = []
    for thermal, visible in pairs:
        t = thermal.astype(np.uint16) * 257 if thermal_encoding == "mono16" else thermal
        v = visible[..., ::-1].copy() if visible_encoding == "rgb8" else visible
        t_msg, v_msg = array_to_image(t, thermal_encoding), array_to_image(v, visible_encoding)
        t_msg.header.frame_id, v_msg.header.frame_id = frame_ids
        messages.append((t_msg, v_msg))
    return messages


class CountsFile:
    """The published-frame ledger, rewritten atomically so a reader never sees half a file."""

    def __init__(self, path: Path | None, settings: dict[str, object]) -> None:
        self.path = path
        self.data: dict[str, object] = {"settings": settings, "published": dict.fromkeys(CAMERAS, 0), "last_stamp_ns": 0,
                                        "deadline_misses": 0, "publish_ms_max": 0.0, "publish_ms_over_10": 0,
                                        "rss_mb": [], "started_unix": time.time(), "finished": False}

    def write(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivif_camera_publisher", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="pairs per second (Hz)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to publish (0 = until stopped)")
    parser.add_argument("--size", default="640x480", help="WxH of both images")
    parser.add_argument("--thermal-encoding", default="mono8", choices=("mono8", "mono16"))
    parser.add_argument("--visible-encoding", default="rgb8", choices=("rgb8", "bgr8"))
    parser.add_argument("--pairs", type=int, default=16, help="distinct MSRS pairs to cycle through")
    parser.add_argument("--reliability", default="reliable", choices=("reliable", "best_effort"))
    parser.add_argument("--depth", type=int, default=CAMERA_DEPTH, help="publisher history depth (keep last)")
    parser.add_argument("--namespace", default="", help="namespace of the camera node (topics are relative)")
    parser.add_argument("--counts", type=Path, help="write the published-frame ledger here (JSON, every second)")
    parser.add_argument("--linger", type=float, default=3.0,
                        help="seconds to stay up after the last publish, so a reliable writer can still repair its last samples")
    parser.add_argument("--wait-subscribers", type=int, default=1,
                        help="wait until each topic has this many subscriptions before publishing (0 = do not wait)")
    args = parser.parse_args(argv)

    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from .qos import camera_qos

    w, h = (int(v) for v in args.size.lower().split("x"))
    messages = build_messages(load_pairs(args.pairs, (w, h)), args.thermal_encoding, args.visible_encoding,
                              ("thermal_camera", "visible_camera"))
    rclpy.init()
    node = Node("ivif_camera_publisher", namespace=args.namespace or None)
    qos = camera_qos(args.reliability, args.depth)
    publishers = [node.create_publisher(Image, f"{cam}/image_raw", qos) for cam in CAMERAS]
    settings = {k: v for k, v in vars(args).items() if k != "counts"}
    settings["transport"] = {k: v for k, v in os.environ.items() if k.startswith(("FASTDDS_", "RMW_", "ROS_"))}
    ledger = CountsFile(args.counts, settings)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        end = time.monotonic() + 60.0
        while args.wait_subscribers and time.monotonic() < end and not stop["now"] and \
                min(p.get_subscription_count() for p in publishers) < args.wait_subscribers:
            time.sleep(0.05)
        period = 1.0 / args.rate
        start = t_next = time.monotonic()
        next_write = start
        i = 0
        published = ledger.data["published"]
        while not stop["now"] and (args.seconds <= 0 or time.monotonic() - start < args.seconds):
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif -delay > period:
                ledger.data["deadline_misses"] += 1
                t_next = time.monotonic()  # do not burst to catch up: a camera would have skipped those frames
            t_next += period
            now = time.time_ns()
            pair = messages[i % len(messages)]
            for cam, pub, msg in zip(CAMERAS, publishers, pair):
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
                t0 = time.perf_counter()
                pub.publish(msg)
                ms = (time.perf_counter() - t0) * 1000.0
                published[cam] += 1
                ledger.data["publish_ms_max"] = max(ledger.data["publish_ms_max"], ms)
                ledger.data["publish_ms_over_10"] += ms > 10.0
            ledger.data["last_stamp_ns"] = now
            i += 1
            if time.monotonic() >= next_write:
                ledger.data["rss_mb"].append([round(time.monotonic() - start, 1), round(rss_mb(), 1)])
                ledger.write()
                next_write += 1.0
        ledger.data["finished"] = True
        ledger.write()
        end = time.monotonic() + args.linger
        while not stop["now"] and time.monotonic() < end:
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        ledger.data["finished"] = True
        ledger.data["rss_mb"].append([round(time.monotonic() - start, 1) if "start" in locals() else 0.0, round(rss_mb(), 1)])
        ledger.write()
        node.destroy_node()
        rclpy.try_shutdown()
    print(json.dumps({k: ledger.data[k] for k in ("published", "deadline_misses", "publish_ms_max")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
