#!/usr/bin/env bash
# Merge synthetic datasets into one folder (images/, labels/, instruments/ by hard link) with one
# split grouped by clip/patient: scripts/merge_datasets.sh [--keep-splits] OUT DATA1 DATA2 ...
# --keep-splits: no new split; OUT's train/val/test.txt are the sources' own, concatenated.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0; [ "${1:-}" = --keep-splits ] && { keep=1; shift; }
out=$1; shift
mkdir -p "$out"/{images,labels,instruments}
for d in "$@"; do
    for sub in images labels instruments; do
        [ -d "$d/$sub" ] && find -L "$d/$sub" -name '*.png' -exec cp -l -t "$out/$sub/" {} +
    done
    cp "$d/classes.yml" "$out/" 2>/dev/null || true
done
printf '%s\n' "$@" > "$out/sources.txt"
if [ $keep = 1 ]; then
    echo "{\"command\": \"scripts/merge_datasets.sh --keep-splits $out $*\"}" > "$out/synth.json"
    for s in train val test; do cat "${@/%//$s.txt}" > "$out/$s.txt"; done
else
    echo "{\"command\": \"scripts/merge_datasets.sh $out $*\"}" > "$out/synth.json"
    .venv/bin/python -m surgical_seg split "$out" --seed 4
fi
