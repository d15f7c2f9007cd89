#!/usr/bin/env bash
# The overlay figures (docs/performance.md "Overlay alignment"): what the surgeon sees, timed and scored against truth.
# Makes a held-out synthetic clip with per-frame labels (seeds never used in training), runs
# `surgical-seg bench --mode live --realtime` on them, keeps each summary under docs/measured/ and
# rewrites the figure blocks from them. ~10 min on a quiet 2-core CPU (most of it scoring).
#   scripts/measure_overlay.sh [MODEL]        (default: the config's engine.model)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MODEL=${1:-}
D=data/overlay
OUT=out/overlay
ss() { "$PY" -m surgical_seg "$@"; }
mkdir -p "$D" "$OUT"

[ -f "$D/fast720.mp4" ] || ss synth --video "$D/fast720.mp4" --seconds 10 --fps 30 --size 1280x720 --seed 21 \
    --motion fast --labels-dir "$D/fast720_labels"

run() {   # run NAME ARGS...: one live bench, kept as docs/measured/NAME.json
    local name=$1; shift
    ss bench "$@" ${MODEL:+--model "$MODEL"} --out "$OUT/$name"
    "$PY" scripts/update_docs.py --record "$name" "$OUT/$name/summary.json"
}
T=(--truth "$D/fast720_labels")
LIVE=(--mode live --realtime)
run overlay_live            "$D/fast720.mp4" "${LIVE[@]}" "${T[@]}"
run overlay_live_noalign    "$D/fast720.mp4" "${LIVE[@]}" "${T[@]}" --set pipeline.align_ms=0 --set pipeline.warp=false
run overlay_live_smooth05   "$D/fast720.mp4" "${LIVE[@]}" "${T[@]}" --set engine.smoothing=0.5
run overlay_delay80_latest  "$D/fast720.mp4" "${LIVE[@]}" "${T[@]}" --infer-delay-ms 80 --set pipeline.warp=false --set pipeline.stale_ms=300
run overlay_delay80_warp    "$D/fast720.mp4" "${LIVE[@]}" "${T[@]}" --infer-delay-ms 80 --set pipeline.stale_ms=300
run overlay_live_1080p60    synthetic:1920x1080@60 --mode live --seconds 10     # a paced 60 fps camera-like source
# edges: replay is deterministic, so accuracy does not depend on the machine's load
run overlay_replay_nearest  "$D/fast720.mp4" --mode replay "${T[@]}" --set engine.upsample=nearest
run overlay_replay_bilinear "$D/fast720.mp4" --mode replay "${T[@]}" --set engine.upsample=bilinear
for sm in 0:0.0 03:0.3 06:0.6; do      # temporal smoothing (0.5 is overlay_replay_nearest)
    run "overlay_replay_smoothing_${sm%%:*}" "$D/fast720.mp4" --mode replay "${T[@]}" --set engine.upsample=nearest \
        --set "engine.smoothing=${sm#*:}"
done
"$PY" scripts/lag_study.py "$D/fast720.mp4" --truth "$D/fast720_labels" ${MODEL:+--model "$MODEL"} --json docs/measured/lag_study.json
"$PY" scripts/time_upsample.py ${MODEL:+--model "$MODEL"} --json docs/measured/upsample_cost.json
"$PY" scripts/update_docs.py --only overlay --only lag --only upsample --only commands
