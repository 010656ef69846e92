"""The fusion node refuses a bad ``model_path`` at start-up: exit 2, a message naming the parameter, no code run.

Real processes over real rclpy on the session's private domain (see ros_harness.ros_env).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from ros_harness import ros_env


class _Payload:
    """Unpickled with code execution, this creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _torch_save(path: Path, obj: Any) -> None:
    torch.save(obj, path)


@pytest.mark.parametrize("name,backend,make,message", [
    ("missing.pt", "torch", None, "does not exist"),
    ("garbage.pt", "torch", lambda p: p.write_bytes(pickle.dumps([1, 2]) + b"garbage"), "could not be read as a checkpoint"),
    ("code.pt", "torch", lambda p: _torch_save(p, {"x": _Payload(p.parent / "marker")}), "was refused: it needs io.open"),
    ("garbage.onnx", "onnxruntime", lambda p: p.write_bytes(b"\x08\x07not protobuf" * 16), "could not be read as an ONNX model"),
], ids=["missing", "garbage", "pickle with code", "garbage onnx"])
def test_fusion_node_exits_2_naming_model_path(tmp_path, name, backend, make, message):
    path = tmp_path / name
    if make is not None:
        make(path)
    proc = subprocess.run([sys.executable, "-m", "ivif_fusion.fusion_node", "--ros-args",
                           "-p", f"model_path:={path}", "-p", f"backend:={backend}"],
                          env=dict(ros_env(), IVIF_CACHE_DIR=str(tmp_path / "cache")), capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "model_path" in out and str(path) in out and message in out, out
    assert "Traceback" not in out, out
    assert not (tmp_path / "marker").exists()  # the node never ran the file's code
