#!/usr/bin/env python
"""Cost of smooth mask edges: postprocess time per frame, engine.upsample nearest vs bilinear.

Times labels_to_frame() on the model's real output for one synthetic 1280x720 and one 1920x1080
frame (median of --runs calls each), plus, for reference, bilinear resizing of the scores to the
full frame before the argmax (what "bilinear" avoids). Accuracy: `bench --truth` with
`--set engine.upsample=...` (full-resolution mIoU) and `surgical-seg eval --upsample ...`.

    python scripts/time_upsample.py [--model NAME] [--runs 50] [--json docs/measured/upsample_cost.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from surgical_seg.engine import load_segmenter  # noqa: E402
from surgical_seg.apps.measure import median_ms  # noqa: E402
from surgical_seg.engine.preprocess import argmax_classes, labels_to_frame, probabilities_to_frame  # noqa: E402
from surgical_seg.data.synth import render_frame  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fastscnn_spine")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--json")
    a = p.parse_args(argv)
    seg = load_segmenter(a.model, backend="openvino", threads=1)
    rows = []
    for size in ((1280, 720), (1920, 1080)):
        frame, _ = render_frame(5, size)
        tensor, box = seg.preprocess(frame)
        probs = seg.infer(tensor)
        row = {"frame": f"{size[0]}x{size[1]}",
               "nearest_ms": median_ms(lambda: labels_to_frame(probs, box, "nearest"), a.runs, 2),
               "bilinear_ms": median_ms(lambda: labels_to_frame(probs, box, "bilinear"), a.runs, 2),
               "bilinear_full_frame_ms": median_ms(lambda: argmax_classes(probabilities_to_frame(probs, box)), a.runs, 2)}
        rows.append(row)
        print(row)
    if a.json:
        Path(a.json).write_text(json.dumps({"model": seg.card.name, "runs": a.runs, "rows": rows, "command":
                                            "python scripts/time_upsample.py " + " ".join(sys.argv[1:])}, indent=1) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
