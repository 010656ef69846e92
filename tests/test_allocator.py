"""fusion_core.allocator: a worker thread that allocates and frees frame-sized buffers stops re-faulting them
from the kernel on every iteration; the ivif command applies it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fusion_core.cli.main as cli_main

CHURN = """
import resource, sys, threading
import numpy as np
from fusion_core.allocator import keep_freed_memory
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
    out = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True).stdout.split()
    return out[0], float(out[1])


def test_freed_frame_buffers_are_reused_without_page_faults() -> None:
    kept, faults = faults_per_frame("keep")
    assert kept == "True"  # glibc on Linux, where CI and the nodes run
    assert faults < PAGES_PER_FRAME * 0.01
    _, default_faults = faults_per_frame("default")
    assert default_faults > PAGES_PER_FRAME * 0.25  # what the setting removes: glibc's defaults re-fault the pages


def test_the_ivif_command_keeps_freed_memory(monkeypatch, tmp_path) -> None:
    calls = []
    monkeypatch.setattr(cli_main, "keep_freed_memory", lambda: calls.append(1) or True)
    with pytest.raises(SystemExit):
        cli_main.main(["--help"])  # argparse exits before any subcommand runs
    assert calls == []
    assert cli_main.main(["fuse", "--ir", str(tmp_path / "no_ir"), "--vi", str(tmp_path / "no_vi"), "--out", str(tmp_path / "out")]) == 2
    assert calls == [1]
