#!/usr/bin/env bash
# Scoreboard against published methods on the dev split (docs/evaluation.md, "Scoreboard against published methods").
#   bash scripts/scoreboard.sh [OUT_DIR] [NAME=MODEL.pt ...]
# OUT_DIR (default runs/scoreboard) receives the dev pairs, our fused folders, the ivif eval / ivif detect JSON and
# scoreboard.md; docs/eval/scoreboard_{msrs,roadscene,detection}.json are written from them (SCOREBOARD_JSON_DIR=DIR
# writes them to DIR instead, e.g. for a screen of new candidates that leaves the committed scoreboard as it is).
# Our models: v2 = the shipped default, plus each NAME=MODEL.pt given (e.g. v3=runs/v3/model.pt), labelled candidates.
# Published: SeAFusion, DATFuse, DenseFuse, TarDAL fused outputs in $IVIF_SHARED_DATA/anchors (grey Y PNGs;
# SeAFusion's colour MSRS output for detection). Baselines: ir_only, vi_only, average, max, laplacian.
# Runs at nice 19 with one thread (the machine is shared): 5 minutes on a quiet 2-core CPU, ~13 under load.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/scoreboard}
[ $# -gt 0 ] && shift
DATA=${IVIF_SHARED_DATA:-../shared/data}
JSON_DIR=${SCOREBOARD_JSON_DIR:-docs/eval}
ANCHORS=$DATA/anchors
PUBLISHED=(SeAFusion DATFuse DenseFuse TarDAL)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
. .venv/bin/activate
run() { nice -n 19 "$@"; }

bash scripts/eval_dev.sh --layout "$OUT"
models=("v2=")
for spec in "$@"; do models+=("$spec"); done
ours=(); candidates=()
for spec in "${models[@]}"; do
    name=${spec%%=*}; model=${spec#*=}
    ours+=("$name")
    if [ "$name" != v2 ]; then candidates+=("$name"); fi
    model_args=(); [ -n "$model" ] && model_args=(--model "$model")
    for set in msrs roadscene; do
        d="$OUT/$set"
        run ivif fuse --ir "$d/ir" --vi "$d/vi" --out "$d/$name" "${model_args[@]}" >/dev/null
    done
done
ours_csv=$(IFS=,; echo "${ours[*]}")
published_csv=$(IFS=,; echo "${PUBLISHED[*]}")
candidates_csv=$(IFS=,; echo "${candidates[*]}")

for set in msrs roadscene; do
    d="$OUT/$set"
    anchor_set=$([ "$set" = msrs ] && echo MSRS_dev || echo RoadScene_dev)
    fused=()
    for name in "${ours[@]}"; do fused+=(--fused "$name=$d/$name/fused"); done
    for m in "${PUBLISHED[@]}"; do fused+=(--fused "$m=$ANCHORS/$m/$anchor_set"); done
    boxes=(); [ -d "$d/labels_det_ir" ] && boxes=(--boxes "$d/labels_det_ir")
    run ivif eval --ir "$d/ir" --vi "$d/vi" "${fused[@]}" --baseline ir_only,vi_only,average,max,laplacian \
        "${boxes[@]}" --json "$OUT/eval_$set.json" | tee "$OUT/eval_$set.txt"
done

# Detection: every difference is paired over the same 66 images (2000 bootstrap resamples, seed 0).
d="$OUT/msrs"
ours_dirs=(); for name in "${ours[@]}"; do ours_dirs+=("$d/$name/fused"); done
run ivif detect --images "$ANCHORS/SeAFusion/MSRS_dev_color" --labels "$d/labels_det_ir" --compare "${ours_dirs[@]}" \
    --reps 2000 --seed 0 --threads 1 --json "$OUT/detect_vs_seafusion.json" | tee "$OUT/detect_vs_seafusion.txt"
run ivif detect --images "$d/vi" --labels "$d/labels_det_ir" --compare "${ours_dirs[@]}" \
    --reps 2000 --seed 0 --threads 1 --json "$OUT/detect_vs_vi.json" | tee "$OUT/detect_vs_vi.txt"

python scripts/render_evaluation.py --scoreboard "$OUT/eval_msrs.json" "$OUT/eval_roadscene.json" \
    --ours "$ours_csv" --candidates "$candidates_csv" --published "$published_csv" \
    --detection "$OUT/detect_vs_seafusion.json" "$OUT/detect_vs_vi.json" \
    --json-dir "$JSON_DIR" | tee "$OUT/scoreboard.md"
python scripts/render_evaluation.py --bars "$JSON_DIR" | tee -a "$OUT/scoreboard.md"
