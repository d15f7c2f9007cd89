#!/usr/bin/env python3
"""Kill the recording viewer with SIGKILL at random moments; check what survives (issue 10).

    scripts/kill9_recording.py [--runs 10] [--source weights/samples/spine_synth_720p.mp4] [--out out/kill9]

Each run starts `surgical-seg view SOURCE --record DIR` offscreen, waits until the recording has
begun, lets it record for a random 2–10 s, sends SIGKILL, then decodes raw.mp4 and overlay.mp4 with
PyAV, reads labels.bin and parses frames.csv. A run passes when both videos decode to at least (CSV rows
- 30) frames, labels.bin holds at least as many whole records as the CSV has rows (both are flushed per
frame), every CSV line but a torn last one has all its columns, and `surgical-seg compose` makes an
overlay video from what is left. Prints one line per run and a summary
(also written to OUT/kill9.json).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from surgical_seg.atomic import atomic_write_json  # noqa: E402
from surgical_seg.viewer.compose import compose  # noqa: E402
from surgical_seg.viewer.maskstream import LABELS_NAME, read_labels  # noqa: E402
from surgical_seg.viewer.recorder import CSV_COLUMNS, decodable_times  # noqa: E402


def one_run(source: str, out: Path, seed: int, model: str | None) -> dict:
    rng = random.Random(seed)
    rec_root = out / f"run_{seed:02d}"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "surgical_seg", "view", source, "--record", str(rec_root), "--quit-after", "600"]
    if model:
        cmd += ["--model", model]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        csv_path = None
        while time.monotonic() < deadline and csv_path is None:
            found = list(rec_root.glob("rec_*/frames.csv"))
            csv_path = found[0] if found and found[0].stat().st_size > 0 else None
            time.sleep(0.1)
        if csv_path is None:
            return {"seed": seed, "ok": False, "error": "recording never started"}
        wait_s = rng.uniform(2.0, 10.0)
        time.sleep(wait_s)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    folder = csv_path.parent
    with csv_path.open(newline="") as f:
        lines = list(csv.reader(f))
    header_ok = tuple(lines[0]) == CSV_COLUMNS
    rows = [r for r in lines[1:] if len(r) == len(CSV_COLUMNS)]
    torn = len(lines) - 1 - len(rows)
    raw, over = decodable_times(folder / "raw.mp4"), decodable_times(folder / "overlay.mp4")
    masks = sum(1 for _ in read_labels(folder / LABELS_NAME))
    composed = compose(folder, folder / "composed.mp4", progress=False)[1]
    ok = (header_ok and torn <= 1 and len(raw) >= len(rows) - 30 and len(over) >= len(rows) - 30
          and masks >= len(rows) and composed == min(len(raw), masks))
    return {"seed": seed, "ok": ok, "killed_after_s": round(wait_s, 2), "csv_rows": len(rows), "torn_lines": torn,
            "mask_records": masks, "composed_frames": composed,
            "raw_frames": len(raw), "overlay_frames": len(over), "lost_frames": len(rows) - min(len(raw), len(over)),
            "raw_seconds": round(raw[-1] - raw[0], 2) if len(raw) > 1 else 0.0,
            "raw_bytes": (folder / "raw.mp4").stat().st_size}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--source", default=str(ROOT / "weights" / "samples" / "spine_synth_720p.mp4"))
    p.add_argument("--model")
    p.add_argument("--out", default="out/kill9")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in range(a.runs):
        r = one_run(a.source, out, seed, a.model)
        results.append(r)
        print(json.dumps(r), flush=True)
    passed = sum(r["ok"] for r in results)
    lost = [r["lost_frames"] for r in results if "lost_frames" in r]
    summary = {"command": " ".join(["scripts/kill9_recording.py"] + sys.argv[1:]), "runs": len(results), "passed": passed, "lost_frames_max": max(lost, default=None),
               "lost_frames_mean": sum(lost) / len(lost) if lost else None, "results": results}
    atomic_write_json(out / "kill9.json", summary)
    print(f"{passed}/{len(results)} runs passed; frames lost at the cut: max {summary['lost_frames_max']}, "
          f"mean {summary['lost_frames_mean']}")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
