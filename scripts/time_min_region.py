#!/usr/bin/env python
"""Cost of engine.min_region per frame: the filter on the model's own grid, as the engine runs it.

Times suppress_small_regions() on the shipped model's real logits (smoothing off) for one synthetic
1280x720 and one 1920x1080 frame, median of --runs calls, one thread; for reference, the label-map
filter (drop_small_regions) on the live label map (~2x model resolution) and on the full frame, which
is what `eval --video --min-region` did before it was in the engine. Prints and stores the load average.

    python scripts/time_min_region.py [--model NAME] [--min-region 0.002] [--runs 200] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from surgical_seg.data.synth import render_frame  # noqa: E402
from surgical_seg.engine import load_segmenter  # noqa: E402
from surgical_seg.apps.measure import median_ms  # noqa: E402
from surgical_seg.engine.regions import drop_small_regions, suppress_small_regions  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fastscnn_spine")
    p.add_argument("--min-region", type=float, default=0.002)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--json")
    a = p.parse_args(argv)
    cv2.setNumThreads(1)
    seg = load_segmenter(a.model, backend="openvino", threads=1, upsample="bilinear")
    s, c, f = seg.card.output_stride, seg.card.num_classes, a.min_region
    load_before = os.getloadavg()[0]
    rows = []
    for size in ((1280, 720), (1920, 1080)):
        frame, _ = render_frame(5, size)
        tensor, box = seg.preprocess(frame)
        z = seg.infer(tensor)
        r, k = slice(box.y // s, -(-(box.y + box.h) // s)), slice(box.x // s, -(-(box.x + box.w) // s))
        seg.frame_labels = False
        small = seg.postprocess(z, box).labels
        seg.frame_labels = True
        full = seg.postprocess(z, box).labels
        row = {"frame": f"{size[0]}x{size[1]}", "grid": f"{k.stop - k.start}x{r.stop - r.start}",
               "engine_ms": median_ms(lambda: suppress_small_regions(z, f, r, k), a.runs),
               "label_map": f"{small.shape[1]}x{small.shape[0]}",
               "label_map_ms": median_ms(lambda: drop_small_regions(small, f, c), a.runs),
               "full_frame_ms": median_ms(lambda: drop_small_regions(full, f, c), max(5, a.runs // 20))}
        rows.append(row)
        print(row)
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"load average before {load_before:.2f}, after {load}")
    if a.json:
        Path(a.json).write_text(json.dumps({"model": seg.card.name, "min_region": f, "runs": a.runs, "threads": 1,
                                            "load_average_1min": [round(load_before, 2), load[0]], "rows": rows,
                                            "command": "python scripts/time_min_region.py " + " ".join(sys.argv[1:])},
                                           indent=1) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
