#!/usr/bin/env bash
# Reproduce docs/evaluation.md's figures: the held-out dev split (MSRS/trainval sorted-stem index % 4 == 0,
# RoadScene/trainval index % 5 == 0), fused by a model, scored with the metric suite next to every baseline,
# and YOLOX-nano mAP@0.5 on IR, visible and fused MSRS images against labels_det_ir.
#   bash scripts/eval_dev.sh [OUT_DIR] [MODEL.pt]       (default: runs/eval_dev, the shipped model)
#   bash scripts/eval_dev.sh --layout OUT_DIR           (only copy the dev pairs to OUT_DIR/{msrs,roadscene}/{ir,vi,labels_det_ir})
# Long runs share the machine: set OMP_NUM_THREADS=1 and prefix `nice -n 19` when others are working.
set -euo pipefail
cd "$(dirname "$0")/.."
LAYOUT_ONLY=0
if [ "${1:-}" = "--layout" ]; then LAYOUT_ONLY=1; shift; fi
OUT=${1:-runs/eval_dev}
MODEL=${2:-}
DATA=${IVIF_SHARED_DATA:-../shared/data}
. .venv/bin/activate
python - "$DATA" "$OUT" <<'PY'
import shutil, sys
from pathlib import Path
data, out = Path(sys.argv[1]), Path(sys.argv[2])
for name, split, every in (("msrs", data / "MSRS/trainval", 4), ("roadscene", data / "RoadScene/trainval", 5)):
    stems = sorted(p.stem for p in (split / "ir").iterdir())[::every]
    for side in ("ir", "vi", "labels_det_ir"):
        if not (split / side).is_dir():
            continue
        (out / name / side).mkdir(parents=True, exist_ok=True)
        for p in (split / side).iterdir():
            if p.stem in stems:
                shutil.copy(p, out / name / side / p.name)
    print(f"{name}: {len(stems)} dev pairs")
PY
[ "$LAYOUT_ONLY" = 1 ] && exit 0
model_args=(); [ -n "$MODEL" ] && model_args=(--model "$MODEL")
for set in msrs roadscene; do
    d="$OUT/$set"
    boxes=(); [ -d "$d/labels_det_ir" ] && boxes=(--boxes "$d/labels_det_ir")
    ivif fuse --ir "$d/ir" --vi "$d/vi" --out "$d/model" "${model_args[@]}"
    ivif eval --ir "$d/ir" --vi "$d/vi" --fused "$d/model/fused" --baseline ir_only,vi_only,average,max,laplacian \
        "${boxes[@]}" --json "$OUT/metrics_$set.json" | tee "$OUT/metrics_$set.txt"
done
d="$OUT/msrs"
ivif detect --images "$d/ir" --labels "$d/labels_det_ir" --compare "$d/vi" "$d/model/fused" \
    --json "$OUT/detection_msrs.json" | tee "$OUT/detection_msrs.txt"
ivif detect --images "$d/vi" --labels "$d/labels_det_ir" --compare "$d/model/fused" \
    --json "$OUT/detection_msrs_vs_vi.json" | tee "$OUT/detection_msrs_vs_vi.txt"
