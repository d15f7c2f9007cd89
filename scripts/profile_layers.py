"""Where one inference's time goes, by layer kind: OpenVINO's own per-node counters on the shipped graph.

Answers "can this CPU reach a latency target at all?": if the convolutions alone take longer than the
target, no change around the model will get there (docs/performance.md, the engine on this machine).

    python scripts/profile_layers.py weights/fastscnn_spine/model.onnx --precision f32 --threads 1 \
        --json docs/measured/profile_layers_f32.json
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import time
from pathlib import Path

import numpy as np
import openvino as ov


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", help="an ONNX graph (model.onnx, or model_int8.onnx with --precision f32)")
    ap.add_argument("--precision", default="f32", help="OpenVINO INFERENCE_PRECISION_HINT: f32 | bf16 | f16")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    core = ov.Core()
    compiled = core.compile_model(core.read_model(a.onnx), "CPU", {
        "INFERENCE_NUM_THREADS": a.threads, "PERF_COUNT": True, "INFERENCE_PRECISION_HINT": a.precision,
        "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
    request = compiled.create_infer_request()
    x = np.random.default_rng(0).random(tuple(compiled.input(0).shape), dtype=np.float32)
    for _ in range(20):
        request.infer({0: x})
    by_kind: collections.Counter = collections.Counter()
    wall = []
    for _ in range(a.runs):
        t0 = time.perf_counter_ns()
        request.infer({0: x})
        wall.append((time.perf_counter_ns() - t0) / 1e6)
        for node in request.profiling_info:
            by_kind[f"{node.node_type} ({node.exec_type})"] += node.real_time.total_seconds() * 1e3 / a.runs
    out = {"graph": a.onnx, "precision": a.precision, "threads": a.threads, "runs": a.runs,
           "cpu": core.get_property("CPU", "FULL_DEVICE_NAME"), "load_average_1min": round(os.getloadavg()[0], 2),
           "wall_p50_ms": round(float(np.median(wall)), 3), "counted_ms": round(sum(by_kind.values()), 3),
           "by_kind_ms": {k: round(v, 3) for k, v in by_kind.most_common() if v >= 0.001}}
    print(f"{a.onnx} {a.precision}, {a.threads} thread(s), {out['cpu']}: wall p50 {out['wall_p50_ms']} ms, "
          f"counted {out['counted_ms']} ms")
    for kind, ms in out["by_kind_ms"].items():
        print(f"  {ms:7.3f} ms  {kind}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
