#!/usr/bin/env python
"""Copy measured figures into a model card: `eval` JSON -> metrics, `bench` summary.json -> speed.

    .venv/bin/python scripts/update_model_card.py weights/fastscnn_spine --eval eval.json --bench out/bench/summary.json
"""
import argparse
import dataclasses
import json
import platform

from surgical_seg.modelcard import ModelCard


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir")
    p.add_argument("--eval", help="JSON written by surgical-seg eval --json")
    p.add_argument("--bench", action="append", default=[], help="summary.json written by surgical-seg bench")
    p.add_argument("--note", help="a sentence for the card's training section (e.g. how the run was resumed)")
    a = p.parse_args()
    card = ModelCard.load(a.model_dir)
    metrics, speed = dict(card.metrics), dict(card.speed)
    if a.eval:
        e = json.load(open(a.eval))
        metrics = {"data": e.get("data"), "split": e.get("split"), "num_images": e["num_images"],
                   "pixel_accuracy": round(e["pixel_accuracy"], 4),
                   "mean": {k: round(v, 4) for k, v in e["mean"].items()},
                   "per_class": {c: {k: round(v, 4) for k, v in m.items()} for c, m in e["per_class"].items()}}
    for path in a.bench:
        s = json.load(open(path))
        key = f"{s['backend']}_{s['mode']}"
        speed[key] = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores",
                      "source": s["source"], "fps": round(s["fps"], 1),
                      "latency_ms_p50": round(s["latency_ms"]["p50"], 1),
                      "latency_ms_p95": round(s["latency_ms"]["p95"], 1),
                      "infer_ms_p50": round(s["stages_ms"]["infer"]["p50"], 2),
                      "engine_only_fps": round(s["engine_only_fps"], 1)}
    training = {**card.training, "note": a.note} if a.note else card.training
    dataclasses.replace(card, metrics=metrics, speed=speed, training=training).save(a.model_dir)
    print(f"updated {a.model_dir}/model.yml")


if __name__ == "__main__":
    main()
