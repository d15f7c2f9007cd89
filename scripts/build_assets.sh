#!/usr/bin/env bash
# Rebuild everything we ship, from nothing but this repo: synthetic data, the default model
# (trained, exported, evaluated, benchmarked) and the sample clip. CPU: about 75 minutes of
# training on 2 cores; resumable (re-run it: training continues from runs/<name>/).
set -euo pipefail
cd "$(dirname "$0")/.."
SS=".venv/bin/surgical-seg"
[ -x "$SS" ] || scripts/setup.sh

[ -f data/synth_train/train.txt ] || $SS synth --out data/synth_train --images 2000 --seed 1 --size 640x360 \
    --contact-sheet docs/synth_contact_sheet.png
[ -f data/synth_test/synth.json ] || $SS synth --out data/synth_test --images 300 --seed 2 --size 640x360

if [ -f runs/fastscnn_spine/state.json ]; then
    $SS train --config configs/train_fastscnn.yml --out runs/fastscnn_spine --resume
else
    $SS train --config configs/train_fastscnn.yml --out runs/fastscnn_spine
fi
$SS export runs/fastscnn_spine --out weights/fastscnn_spine --check-data data/synth_test
$SS eval --data data/synth_test --split all --model weights/fastscnn_spine --json weights/fastscnn_spine/eval_test.json \
    --report docs/eval_report
[ -f weights/samples/spine_synth_720p.mp4 ] || \
    $SS synth --video weights/samples/spine_synth_720p.mp4 --seconds 10 --fps 30 --size 1280x720 --seed 11
$SS bench weights/samples/spine_synth_720p.mp4 --model weights/fastscnn_spine --mode replay --baseline --out out/bench_sample
