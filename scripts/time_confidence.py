"""Time the per-frame confidence map (surgical_seg.engine.confidence) on real model outputs.

    python scripts/time_confidence.py [--model fastscnn_spine] [--clip weights/samples/spine_synth_720p.mp4]
                                      [--frames 200] [--temperature 1.5] [--json docs/measured/confidence_cost.json]

Runs the model once per frame of the clip (not timed), then times confidence_map on the cropped
model-resolution probabilities at T = 1 and at --temperature, and the fade split of the overlay.
Wall time (perf_counter_ns) and the thread's CPU time: on a shared machine the wall p95 holds preemption.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import av
import numpy as np

from surgical_seg.engine.confidence import ConfidenceShading, confidence_map
from surgical_seg.engine import load_segmenter
from surgical_seg.engine.preprocess import crop
from surgical_seg.realtime.overlay import MaskAnnotator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="fastscnn_spine")
    ap.add_argument("--clip", default="weights/samples/spine_synth_720p.mp4")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--temperature", type=float, default=1.5)
    ap.add_argument("--json", help="also write the figures here (docs/trust.md's figures:confidence_cost block)")
    a = ap.parse_args()
    result = {"command": " ".join(["python scripts/time_confidence.py"] + sys.argv[1:]), "frames": a.frames,
              "model": a.model, "clip": a.clip, "load_average": os.getloadavg()[0], "map_ms": {}}
    seg = load_segmenter(a.model, backend="openvino", threads=1)
    outputs = []
    with av.open(a.clip) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= a.frames:
                break
            frame = f.to_ndarray(format="bgr24")
            tensor, box = seg.preprocess(frame)
            outputs.append((frame, seg.infer(tensor), box))
    ann = MaskAnnotator(seg.card.colors_rgb, class_names=seg.card.classes)
    shading = ConfidenceShading("fade", seg.card.confidence_threshold)
    result["annotate_cpu_ms"] = time_annotate(seg, outputs, a.temperature)
    for t in (1.0, a.temperature):
        ms, cpu_ms, split_ms = [], [], []
        for frame, probs, box in outputs:
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            conf = confidence_map(crop(probs, box), t)
            t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
            cpu_ms.append((c1 - c0) / 1e6)
            labels = seg.postprocess(probs, box).labels
            drawn = ann.draw_mask(labels)
            t2 = time.perf_counter_ns()
            shading.split(drawn, conf)
            t3 = time.perf_counter_ns()
            ms.append((t1 - t0) / 1e6)
            split_ms.append((t3 - t2) / 1e6)
        r = result["map_ms"][f"{t:g}"] = {
            "wall_p50": _pct(ms, 50), "wall_p95": _pct(ms, 95), "cpu_p50": _pct(cpu_ms, 50),
            "cpu_p95": _pct(cpu_ms, 95), "fade_split_p50": _pct(split_ms, 50), "fade_split_p95": _pct(split_ms, 95)}
        print(f"T={t:g}: confidence map {conf.shape[1]}x{conf.shape[0]} p50 {r['wall_p50']:.3f} ms, "
              f"p95 {r['wall_p95']:.3f} ms (thread CPU time p50 {r['cpu_p50']:.3f}, "
              f"p95 {r['cpu_p95']:.3f} ms); fade split at {frame.shape[1]}x{frame.shape[0]} "
              f"p50 {r['fade_split_p50']:.3f} ms, p95 {r['fade_split_p95']:.3f} ms ({len(outputs)} frames)")
    result["temperature"], result["map_size"] = a.temperature, list(conf.shape[::-1])
    result["frame_size"] = list(frame.shape[1::-1])
    if a.json:
        from surgical_seg.atomic import atomic_write_json
        atomic_write_json(a.json, result)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def time_annotate(seg, outputs, temperature: float) -> dict:
    """The whole composite (MaskAnnotator.annotate) with confidence off, fade and hatch: thread CPU ms."""
    seg.temperature, seg.with_confidence = temperature, True
    segs = [(frame, seg.postprocess(probs, box)) for frame, probs, box in outputs]
    out = {}
    for mode in ("off", "fade", "hatch"):
        shading = None if mode == "off" else ConfidenceShading(mode, seg.card.confidence_threshold)
        ann = MaskAnnotator(seg.card.colors_rgb, class_names=seg.card.classes, confidence=shading)
        cpu = []
        for frame, s in segs:
            c0 = time.thread_time_ns()
            ann.annotate(frame, s)
            cpu.append((time.thread_time_ns() - c0) / 1e6)
        out[mode] = {"p50": _pct(cpu, 50), "p95": _pct(cpu, 95)}
        print(f"annotate {frame.shape[1]}x{frame.shape[0]} confidence {mode}: thread CPU p50 "
              f"{out[mode]['p50']:.2f} ms, p95 {out[mode]['p95']:.2f} ms")
    return out


if __name__ == "__main__":
    main()
