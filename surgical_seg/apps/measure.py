"""Quick per-backend latency of preprocess + infer + postprocess (a measurement, not a test).

    python -m surgical_seg.apps.measure --arch FastSCNN PPLiteSeg-STDC1 --size 320x192 512x288

Exports each architecture with seeded random weights (speed does not depend on the weights),
then times segment() on one 1280x720 frame per backend. Full benchmarks with sources, the
pipeline and plots are `surgical-seg bench`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..modelcard import CLASS_COLORS_RGB, CLASS_NAMES
from ..engine.backends import BACKENDS
from ..engine.segmenter import load_segmenter


def median_ms(fn, runs: int, digits: int = 3) -> float:
    """Median wall time of `fn()` in ms over `runs` calls, after one untimed call (first-call setup)."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return round(float(np.median(times)), digits)


def export_random(arch: str, size: tuple[int, int], out: Path, seed: int = 0) -> Path:
    import paddle

    from ..training.export import export_model, write_run_folder
    from ..training.models import build_model
    paddle.seed(seed)
    model = build_model(arch, len(CLASS_NAMES))
    info = {"architecture": arch, "name": f"{arch}_{size[0]}x{size[1]}_random", "classes": list(CLASS_NAMES),
            "colors_rgb": [list(c) for c in CLASS_COLORS_RGB], "input_width": size[0], "input_height": size[1],
            "mean": [0.5] * 3, "std": [0.5] * 3, "resize": "letterbox", "config": {}, "best": {},
            "command": "python -m surgical_seg.apps.measure", "data": f"none: random weights, paddle.seed({seed})"}
    write_run_folder(out / "run", model, info, checkpoints=("best",))
    return export_model(out / "run", out / "model")


def time_backend(model_dir: Path, backend: str, frame: np.ndarray, runs: int, threads: int) -> dict:
    seg = load_segmenter(model_dir, backend=backend, threads=threads, device="cpu")
    for _ in range(10):
        seg.segment(frame)
    stages = {"preprocess": [], "infer": [], "postprocess": [], "total": []}
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        tensor, meta = seg.preprocess(frame)
        t1 = time.perf_counter_ns()
        probs = seg.infer(tensor)
        t2 = time.perf_counter_ns()
        seg.postprocess(probs, meta)
        t3 = time.perf_counter_ns()
        for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            stages[k].append(v / 1e6)
    out = {"backend": backend, "device": seg.device}
    for k, v in stages.items():
        out[f"{k}_p50"] = round(float(np.percentile(v, 50)), 2)
    out["total_p95"] = round(float(np.percentile(stages["total"], 95)), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", nargs="+", default=["FastSCNN", "PPLiteSeg-STDC1"])
    p.add_argument("--size", nargs="+", default=["320x192", "512x288"])
    p.add_argument("--backend", nargs="+", default=list(BACKENDS))
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="also write the rows here")
    a = p.parse_args(argv)
    from ..training.export import synthetic_frame
    frame = synthetic_frame(0, (1280, 720))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in a.arch:
            for size in a.size:
                w, h = (int(v) for v in size.split("x"))
                model_dir = export_random(arch, (w, h), Path(tmp) / f"{arch}_{size}")
                for backend in a.backend:
                    row = {"arch": arch, "input": size, **time_backend(model_dir, backend, frame, a.runs, a.threads)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print("| model | input | backend | pre p50 | infer p50 | post p50 | total p50 | total p95 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['input']} | {r['backend']} | {r['preprocess_p50']} | {r['infer_p50']} | "
              f"{r['postprocess_p50']} | {r['total_p50']} | {r['total_p95']} |")
    if a.json:                       # docs/performance.md's figures:latency block reads this
        from ..atomic import atomic_write_json
        atomic_write_json(a.json, {"command": "python -m surgical_seg.apps.measure " + " ".join(argv or sys.argv[1:]),
                                   "threads": a.threads, "runs": a.runs, "frame": "1280x720",
                                   "load_average": os.getloadavg()[0], "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
