#!/usr/bin/env python
"""bf16, f16 or int8 (model_int8.onnx) against f32 on one model: label agreement, probability drift, and speed.

    .venv/bin/python scripts/precision_check.py weights/fastscnn_spine data/heldout_s21 --json docs/measured/precision.json
    .venv/bin/python scripts/precision_check.py weights/fastscnn_spine data/heldout_s21 --precision int8 \
        --json docs/measured/precision_int8.json

Agreement is over every pixel of N dataset frames at frame resolution; speed is segment() on one
1280x720 frame, both precisions interleaved run by run so machine load hits them alike.
"""
import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from surgical_seg.engine import load_segmenter


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("data", help="dataset folder with images/")
    p.add_argument("--precision", default="bf16", choices=("bf16", "f16", "int8"))
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json")
    a = p.parse_args()
    ref = load_segmenter(a.model, backend="openvino", threads=a.threads, device="cpu", precision="f32")
    low = load_segmenter(a.model, backend="openvino", threads=a.threads, device="cpu", precision=a.precision)
    same = total = 0
    drift = 0.0
    for path in sorted((Path(a.data) / "images").glob("*.png"))[: a.frames]:
        frame = cv2.imread(str(path))
        r, q = ref.segment(frame, True), low.segment(frame, True)
        same += int((r.labels == q.labels).sum())
        total += r.labels.size
        drift = max(drift, float(np.abs(r.probabilities - q.probabilities).max()))
    frame = cv2.resize(cv2.imread(str(path)), (1280, 720))
    times = {"f32": [], a.precision: []}
    for _ in range(10):
        ref.segment(frame), low.segment(frame)
    for _ in range(a.runs):
        for name, seg in (("f32", ref), (a.precision, low)):
            t0 = time.perf_counter_ns()
            seg.segment(frame)
            times[name].append((time.perf_counter_ns() - t0) / 1e6)
    result = {"model": a.model, "data": a.data, "frames": a.frames, "precision": low.precision,
              "label_agreement": same / total, "max_probability_difference": drift,
              "threads": a.threads, "frame": "1280x720", "load_average": os.getloadavg()[0],
              "segment_ms": {k: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95))}
                             for k, v in times.items()}}
    result["speedup_p50"] = result["segment_ms"]["f32"]["p50"] / result["segment_ms"][a.precision]["p50"]
    print(json.dumps(result, indent=1))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
