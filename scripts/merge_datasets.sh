#!/usr/bin/env bash
# Merge synthetic datasets into one folder (images/, labels/, instruments/ by hard link) with one
# split grouped by clip/patient: scripts/merge_datasets.sh OUT DATA1 DATA2 ...
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1; shift
mkdir -p "$out"/{images,labels,instruments}
for d in "$@"; do
    for sub in images labels instruments; do
        [ -d "$d/$sub" ] && cp -l "$d/$sub"/*.png "$out/$sub/"
    done
    cp "$d/classes.yml" "$out/" 2>/dev/null || true
done
printf '%s\n' "$@" > "$out/sources.txt"
echo "{\"command\": \"scripts/merge_datasets.sh $out $*\"}" > "$out/synth.json"
.venv/bin/python -m surgical_seg split "$out" --seed 4
