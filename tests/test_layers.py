"""Layering rules that the architecture depends on."""

import subprocess
import sys


def test_fusion_core_imports_no_ros_and_no_optional_backends():
    code = (
        "import sys, fusion_core, fusion_core.engine, fusion_core.cli.main as m; m.build_parser();"
        "bad = [n for n in ('rclpy', 'sensor_msgs', 'cv_bridge', 'onnxruntime', 'tensorrt', 'rosbags', 'training') if n in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
