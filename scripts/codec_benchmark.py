"""What the compressed image transport costs per frame: decoding a camera's JPEG/PNG, encoding the fused JPEG.

The nodes decode each compressed input frame on their subscription thread and encode ``fusion/image/compressed``
on the fusion worker (only while it has subscribers), with fusion_core's codec (:mod:`fusion_core.compressed_image`,
OpenCV). This times exactly those calls on a real MSRS pair resized to each size, interleaved per iteration so
host load hits every row alike, and reports the median and p90 in ms and the message sizes beside the raw ones:

    python scripts/codec_benchmark.py --iters 100 --json docs/bench/codec.json

Rows: ``visible JPEG decode`` (q95, the image_transport default), ``thermal PNG decode`` (16-bit counts, the
lossless form), ``fused JPEG encode`` (``jpeg_quality`` 95; the resized visible image stands in for a fused image
of that size: the same kind of content, no model needed). ``--threads`` sets OpenCV's threads (default 1: the
nodes' callbacks run beside fusion and detection, which already use the cores).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from fusion_core.compressed_image import decode_compressed, encode_compressed
from fusion_core.io import read_thermal, read_visible

REPO = Path(__file__).resolve().parents[1]
PAIR = REPO.parent / "shared" / "data" / "MSRS" / "trainval"
SIZES = ((320, 256), (640, 480), (640, 512), (1280, 720), (1280, 1024))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads (default 1)")
    p.add_argument("--stem", default="00055D", help="MSRS trainval pair to use (default 00055D, a day street)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.iters < 1 or args.threads < 1:
        p.error("--iters and --threads must be >= 1")
    cv2.setNumThreads(args.threads)
    ir8, rgb = read_thermal(PAIR / "ir" / f"{args.stem}.png"), read_visible(PAIR / "vi" / f"{args.stem}.png")
    rows = []
    print(f"{'size':>10} {'row':<22} {'p50 ms':>8} {'p90 ms':>8} {'bytes':>9} {'raw bytes':>10}")
    for w, h in SIZES:
        visible = np.ascontiguousarray(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA))
        thermal = cv2.resize(ir8, (w, h), interpolation=cv2.INTER_AREA).astype(np.uint16) * 200 + 1000  # raw-count range
        jpeg, jpeg_fmt = encode_compressed(visible, "rgb8", 95)
        png, png_fmt = encode_compressed(thermal, "mono16")
        work = {
            "visible JPEG decode": (lambda: decode_compressed(jpeg, jpeg_fmt), len(jpeg), visible.nbytes),
            "thermal PNG decode": (lambda: decode_compressed(png, png_fmt), len(png), thermal.nbytes),
            "fused JPEG encode": (lambda: encode_compressed(visible, "rgb8", 95), len(jpeg), visible.nbytes),
        }
        times: dict[str, list[float]] = {name: [] for name in work}
        for _ in range(3):  # warm-up
            for call, _, _ in work.values():
                call()
        for _ in range(args.iters):
            for name, (call, _, _) in work.items():
                t0 = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - t0) * 1000.0)
        for name, (_, size, raw) in work.items():
            values = sorted(times[name])
            row = {"size": [w, h], "row": name, "p50_ms": statistics.median(values),
                   "p90_ms": values[min(len(values) - 1, int(0.9 * len(values)))], "bytes": size, "raw_bytes": raw}
            rows.append(row)
            print(f"{w:>5}x{h:<4} {name:<22} {row['p50_ms']:>8.2f} {row['p90_ms']:>8.2f} {size:>9} {raw:>10}")
    if args.json is not None:
        given = sys.argv[1:] if argv is None else argv
        meta = {"command": "python scripts/codec_benchmark.py " + " ".join(given), "opencv": cv2.__version__,
                "threads": args.threads, "iters": args.iters, "pair": args.stem, "machine": platform.processor() or platform.machine(),
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
