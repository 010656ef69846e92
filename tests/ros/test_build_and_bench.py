"""CI checks of the ROS package as shipped: colcon builds it (both install modes) and the ROS benchmark runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from ros_harness import REPO, ros_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.mark.parametrize("mode", [[], ["--symlink-install"]], ids=["install", "symlink-install"])
def test_colcon_build_and_installed_layout(tmp_path, mode) -> None:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "build_ros.sh"), str(tmp_path), *mode], cwd=REPO, env=ros_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[build_ros] OK" in proc.stdout
    share = tmp_path / "install" / "ivif_fusion" / "share" / "ivif_fusion"
    assert (share / "config" / "fusion.yaml").read_text() == (REPO / "config" / "fusion.yaml").read_text()
    assert (share / "launch" / "fusion.launch.py").read_text() == (REPO / "launch" / "fusion.launch.py").read_text()


def test_ros_benchmark_small_run(tmp_path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "ivif_fusion.benchmark", "--sizes", "160x128", "--latency-pairs", "8",
                           "--duration", "1", "--device", "cpu", "--json", str(out)],
                          env=ros_env(), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())["transports"]["profile"]["160x128"]
    assert result["e2e_received"] == result["e2e_pairs"] == 8
    assert 0 < result["bare_p50_ms"] <= result["bare_p99_ms"]
    # The node runs the same fusion: its published pixels are the bare engine's, to the bit. (A timing ratio
    # e2e / bare used to stand in for this and failed under CI load.)
    assert result["node_output_encoding"] == "bgr8"
    assert result["node_output_max_abs_diff"] == 0
    # The drop ladder's pass/fail depends on the machine's load (shared CPUs): check its bookkeeping only.
    assert result["ladder"] and all(5 <= r["sent"] and 0 <= r["received"] <= r["sent"] for r in result["ladder"])
    passed = [r["rate_hz"] for r in result["ladder"] if r["no_drops"]]
    assert result["max_rate_no_drops_hz"] == (max(passed) if passed else 0.0)
    assert result["node_fuse_p50_ms"] > 0
    assert "   profile   160x128 |" in proc.stdout
