"""Seg-Grad-CAM mass inside vs outside the ground-truth region of each class, on held-out frames.

    python scripts/explain_mass.py DATA [--model fastscnn_spine] [--frames 50]

For each of the first --frames images of DATA (images/ + labels/) and each foreground class the model
draws there: the share of the heatmap's mass inside the class's ground-truth region, the share of the
frame that region covers (what a uniform map would score), and mean heat inside / mean heat outside.
Pixels labelled 255 (outside the scope) are left out. Also the time of one explanation.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from surgical_seg.training.explain import SegGradCam, load_dygraph, mass_inside
from surgical_seg.data.datasets import load_label


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--model", default="fastscnn_spine")
    ap.add_argument("--frames", type=int, default=50)
    a = ap.parse_args()
    cam = SegGradCam(*load_dygraph(a.model))
    images = sorted((Path(a.data) / "images").glob("*.png"))[: a.frames]
    rows: dict[str, list[tuple[float, float, float]]] = {}
    times = []
    for img in images:
        frame = cv2.imread(str(img), cv2.IMREAD_COLOR)
        truth = load_label(Path(a.data) / "labels" / img.name)
        keep = truth != 255
        for k, name in enumerate(cam.card.classes[1:], start=1):
            if not (truth == k).any():
                continue
            ex = cam.explain(frame, name)
            times.append(ex.ms)
            if not ex.region.any():
                continue
            share, ratio = mass_inside(ex.heat[keep], (truth == k)[keep])
            if share is not None and ratio is not None:
                rows.setdefault(name, []).append((share, float((truth == k)[keep].mean()), ratio))
    print(f"{len(images)} frames of {a.data}, model {a.model}")
    for name, r in rows.items():
        v = np.array(r)
        print(f"{name:9s} n={len(v):3d}  mass inside {v[:, 0].mean() * 100:5.1f} %  outside "
              f"{(1 - v[:, 0].mean()) * 100:5.1f} %  (region covers {v[:, 1].mean() * 100:5.1f} % of the scope)  "
              f"mean-heat ratio inside/outside {np.median(v[:, 2]):.1f} (median), {v[:, 2].mean():.1f} (mean)")
    t = np.array(times[1:] or times)
    print(f"time per explanation: p50 {np.percentile(t, 50):.0f} ms, p95 {np.percentile(t, 95):.0f} ms "
          f"({len(t)} explanations, first one excluded)", file=sys.stdout)


if __name__ == "__main__":
    main()
