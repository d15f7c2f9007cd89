#!/usr/bin/env bash
# The screen's own figures (docs/performance.md "The screen"): `surgical-seg view --stats`, offscreen,
# painting included, default settings. The 720p30 sample clip while recording (RUNS720 runs), a 1920x1080
# 60 fps synthetic clip (RUNS1080 runs) and the same while recording (RUNS1080REC); 5, 5 and 3 runs, to see
# that no run falls into another state. Each run is kept as docs/measured/screen_*.json and the table shows every run (read the
# worst). Live figures depend on the machine's load: the table gives the 1-minute load average of
# each run. ~4 min on a quiet 2-core CPU (+ ~3 min for the clip).
#   scripts/measure_screen.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS720=${RUNS720:-5}
RUNS1080=${RUNS1080:-5}
RUNS1080REC=${RUNS1080REC:-3}
OUT=out/screen
CLIP1080=data/screen/clip_1080p60.mp4
ss() { "$PY" -m surgical_seg "$@"; }
mkdir -p "$OUT" "$(dirname "$CLIP1080")"
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}

[ -f "$CLIP1080" ] || ss synth --video "$CLIP1080" --size 1920x1080 --fps 60 --seconds 10

run() {   # run NAME ARGS...: one viewer run, kept as docs/measured/NAME.json
    local name=$1; shift
    rm -rf "${OUT:?}/$name" "${OUT:?}/rec_$name"
    ss view "$@" --stats "$OUT/$name"
    "$PY" scripts/update_docs.py --record "$name" "$OUT/$name/summary.json"
}
for i in $(seq "$RUNS720"); do
    run "screen_720p30_rec_$i" --quit-after 10 --record "$OUT/rec_screen_720p30_rec_$i"
done
for i in $(seq "$RUNS1080"); do
    run "screen_1080p60_$i" "$CLIP1080" --quit-after 10
done
for i in $(seq "$RUNS1080REC"); do
    run "screen_1080p60_rec_$i" "$CLIP1080" --quit-after 10 --record "$OUT/rec_screen_1080p60_rec_$i"
done
"$PY" scripts/update_docs.py --only screen --only commands
