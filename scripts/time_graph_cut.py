#!/usr/bin/env python
"""Old graph (softmax + resize to the input inside) against the cut graph (head logits at stride 8), side by side.

    git show a9d820c:weights/fastscnn_spine/model.onnx > /tmp/old_model/model.onnx   # + model.yml, .json, .pdiparams
    PYTHONPATH=$PWD .venv/bin/python scripts/time_graph_cut.py /tmp/old_model weights/fastscnn_spine \
        --json docs/measured/graph_cut.json

One 720p frame of the sample clip -> labels (segment(): preprocess, infer, postprocess with engine.upsample
bilinear, no smoothing), OpenVINO on CPU, 1 thread; the two models (and each precision this CPU runs
natively) alternate run by run so machine load hits them alike. Prints and writes p50/p95 per stage (wall
clock), and total_cpu: the process's CPU time for the frame (what it costs when it is not waiting for a core:
on a loaded machine the fairer figure).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import av
import numpy as np

from surgical_seg.engine import load_segmenter
from surgical_seg.engine.precision import REDUCED, cpu_capabilities, native
from surgical_seg.modelcard import INT8_ONNX_FILE


def first_frame(path: str, index: int = 30) -> np.ndarray:
    with av.open(path) as c:
        for k, f in enumerate(c.decode(video=0)):
            if k == index:
                return f.to_ndarray(format="bgr24")
    raise SystemExit(f"{path}: fewer than {index + 1} frames")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--clip", default="weights/samples/spine_synth_720p.mp4")
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--json")
    a = p.parse_args()
    frame = first_frame(a.clip)
    caps = cpu_capabilities()
    variants = {}
    for label, model in (("old", a.old), ("new", a.new)):
        has = [q for q in REDUCED if native(q, caps) and (q != "int8" or (Path(model) / INT8_ONNX_FILE).is_file())]
        for prec in ("f32", *has):
            variants[f"{label} {prec}"] = load_segmenter(model, backend="openvino", device="cpu", threads=1,
                                                         precision=prec, upsample="bilinear")
    times = {k: {"total": [], "preprocess": [], "infer": [], "postprocess": [], "total_cpu": []} for k in variants}
    labels = {}
    for _ in range(20):
        for seg in variants.values():
            seg.segment(frame)
    for _ in range(a.runs):
        for name, seg in variants.items():
            c0 = time.process_time_ns()
            t0 = time.perf_counter_ns()
            tensor, box = seg.preprocess(frame)
            t1 = time.perf_counter_ns()
            out = seg.infer(tensor)
            t2 = time.perf_counter_ns()
            labels[name] = seg.postprocess(out, box).labels
            t3 = time.perf_counter_ns()
            c3 = time.process_time_ns()
            for k, v in zip(("preprocess", "infer", "postprocess", "total", "total_cpu"),
                            (t1 - t0, t2 - t1, t3 - t2, t3 - t0, c3 - c0)):
                times[name][k].append(v / 1e6)
    result = {"command": "scripts/time_graph_cut.py " + " ".join(sys.argv[1:]),
              "frame": f"{frame.shape[1]}x{frame.shape[0]}", "clip": a.clip, "runs": a.runs, "threads": 1,
              "backend": "openvino", "upsample": "bilinear", "cpu_capabilities": list(caps),
              "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(), "models": {}}
    for name, t in times.items():
        result["models"][name] = {k: {"p50": round(float(np.percentile(v, 50)), 2),
                                      "p95": round(float(np.percentile(v, 95)), 2)} for k, v in t.items()}
    o, n = result["models"]["old f32"]["total"]["p50"], result["models"]["new f32"]["total"]["p50"]
    result["speedup_total_p50_f32"] = round(o / n, 2)
    oc, nc = result["models"]["old f32"]["total_cpu"]["p50"], result["models"]["new f32"]["total_cpu"]["p50"]
    result["speedup_total_cpu_p50_f32"] = round(oc / nc, 2)
    result["labels_equal_old_new_f32"] = round(float((labels["old f32"] == labels["new f32"]).mean()), 5)
    if "new int8" in times:
        result["labels_equal_new_int8_f32"] = round(float((labels["new int8"] == labels["new f32"]).mean()), 5)
        result["speedup_infer_p50_int8"] = round(result["models"]["new f32"]["infer"]["p50"]
                                                 / result["models"]["new int8"]["infer"]["p50"], 2)
    for name, m in result["models"].items():
        print(f"{name:<10} " + "  ".join(f"{k} p50 {v['p50']:6.2f} p95 {v['p95']:6.2f}" for k, v in m.items()))
    print(f"frame -> labels p50: old {o} ms, new {n} ms ({result['speedup_total_p50_f32']}x); CPU time p50 old {oc} ms, "
          f"new {nc} ms ({result['speedup_total_cpu_p50_f32']}x); labels equal on "
          f"{result['labels_equal_old_new_f32'] * 100:.2f} % of this frame; load {result['load_average_1min']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
