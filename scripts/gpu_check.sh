#!/usr/bin/env bash
# GPU check for the deployment path (issue 4): run ONCE on a machine with an NVIDIA GPU.
#
#   OUT=/some/folder WHEELS=/path/to/wheels bash scripts/gpu_check.sh
#
# Prints what the machine has (torch + CUDA, tensorrt, onnx* packages), installs missing Python
# packages only from local wheels ($WHEELS, default ./wheels; never from an index), then, when torch
# sees a CUDA GPU, runs the GPU/TensorRT tests and the GPU benchmark. Every step runs even if an
# earlier one failed; each logs to $OUT/<step>.log and the summary is in $OUT/summary.txt.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
WHEELS=${WHEELS:-$PWD/wheels}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # use this checkout without installing it
export IVIF_CACHE_DIR=${IVIF_CACHE_DIR:-/tmp/ivif_gpu_check_cache}   # exported ONNX, plans, timing caches
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The MSRS data the tests and the benchmark read: ../shared/data beside the checkout, or shared/data inside it.
if [ -z "${IVIF_SHARED_DATA:-}" ] && [ ! -d ../shared/data ] && [ -d shared/data ]; then
    export IVIF_SHARED_DATA="$PWD/shared/data"
fi
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

step() {  # step NAME COMMAND...: run, log, record the exit code, never stop the script
    local name=$1; shift
    echo "=== $name: $*" | tee -a "$SUMMARY"
    ( "$@" ) > "$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.log"
    echo "=== $name: exit $rc" | tee -a "$SUMMARY"
    return 0
}

step 00_torch "$PY" -c 'import torch, sys; print(torch.__version__, torch.cuda.is_available())'
step 01_tensorrt "$PY" -c 'import tensorrt; print("tensorrt", tensorrt.__version__)'
step 02_pip_list bash -c "$PY -m pip list 2>/dev/null | grep -i -E 'torch|onnx|tensorrt'"
step 03_nvidia_smi nvidia-smi
step 04_python "$PY" -c 'import sys; print(sys.version)'

# Missing packages: install only from local wheels (module name -> distribution name).
missing=()
for pair in numpy:numpy cv2:opencv-python-headless yaml:pyyaml tqdm:tqdm onnx:onnx onnxruntime:onnxruntime-gpu \
            onnxscript:onnxscript pytest:pytest; do
    mod=${pair%%:*}; dist=${pair#*:}
    "$PY" -c "import $mod" 2>/dev/null || missing+=("$dist")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ -d "$WHEELS" ]; then
        step 05_pip_install_wheels "$PY" -m pip install --no-index --find-links "$WHEELS" "${missing[@]}"
        # onnxruntime-gpu may be absent from the wheels: the CPU onnxruntime still lets the CPU path run.
        "$PY" -c "import onnxruntime" 2>/dev/null || step 05b_pip_install_ort_cpu "$PY" -m pip install --no-index --find-links "$WHEELS" onnxruntime
    else
        echo "missing Python packages ${missing[*]} and no wheel folder $WHEELS: the steps that need them will fail" | tee -a "$SUMMARY"
    fi
fi
step 06_versions "$PY" -c '
import importlib
for m in ("torch", "numpy", "cv2", "onnx", "onnxruntime", "onnxscript", "tensorrt"):
    try:
        mod = importlib.import_module(m); print(m, getattr(mod, "__version__", "?"))
    except Exception as exc:
        print(m, "NOT IMPORTABLE:", exc)
import onnxruntime as ort; print("onnxruntime providers:", ort.get_available_providers())'
step 07_shared_data bash -c 'echo "IVIF_SHARED_DATA=${IVIF_SHARED_DATA:-unset}"; ls -d ${IVIF_SHARED_DATA:-../shared/data}/MSRS/trainval data/sample/msrs 2>&1'

if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    step 10_pytest_gpu "$PY" -m pytest -m "gpu or tensorrt" -v -rs -p no:cacheprovider tests/
    step 11_pytest_export_cpu "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_export.py tests/test_bench.py tests/test_tensorrt.py
    step 12_bench_gpu "$PY" -m fusion_core.cli.main bench --device cuda --backend torch,onnxruntime,tensorrt \
        --precision fp32,fp16 --size 640x480,640x512,1280x1024 --network-only --json "$OUT/bench_gpu.json"
    step 13_bench_cpu "$PY" -m fusion_core.cli.main bench --device cpu --backend torch,onnxruntime --size 640x480 \
        --network-only --json "$OUT/bench_cpu.json"
    step 14_export_tensorrt_fp16 "$PY" -m fusion_core.cli.main export --format tensorrt --fp16 --out "$OUT/plans/default_fp16.plan" \
        --min-shape 64x64 --opt-shape 480x640 --max-shape 1024x1280
    rm -f "$OUT"/plans/*.plan   # keep the sidecars (fingerprints) and the ONNX, not the multi-MB plans
else
    echo "torch has no usable CUDA device: GPU tests and the GPU benchmark were NOT run" | tee -a "$SUMMARY"
fi
cp -r "$IVIF_CACHE_DIR/tensorrt"/*.json "$OUT/" 2>/dev/null || true
echo "done; logs in $OUT" | tee -a "$SUMMARY"
