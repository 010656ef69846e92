"""run_node's allocator setting: a worker thread that allocates and frees frame-sized buffers stops
re-faulting them from the kernel on every iteration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ivif_fusion

CHURN = """
import resource, sys, threading
import numpy as np
from ivif_fusion._runtime import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
faults = []
def frames():  # on a thread of its own, as the fusion and detector workers: a non-main glibc arena
    for i in range(25):
        if i == 5:
            faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt)
        buffers = [np.ones(1 << 20, np.float32) for _ in range(5)]  # 5 x 4 MiB written: one frame's tensors
        del buffers
    faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt)
worker = threading.Thread(target=frames)
worker.start()
worker.join()
print(kept, (faults[1] - faults[0]) / 20)
"""
PAGES_PER_FRAME = 5 * (4 << 20) // 4096  # 5120


def faults_per_frame(mode: str) -> tuple[str, float]:
    package_root = str(Path(ivif_fusion.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True, env=env).stdout.split()
    return out[0], float(out[1])


def test_freed_frame_buffers_are_reused_without_page_faults() -> None:
    kept, faults = faults_per_frame("keep")
    assert kept == "True"  # glibc on Linux, where CI and the nodes run
    assert faults < PAGES_PER_FRAME * 0.01
    _, default_faults = faults_per_frame("default")
    assert default_faults > PAGES_PER_FRAME * 0.25  # what the setting removes: glibc's defaults re-fault the pages
