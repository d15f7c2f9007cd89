#!/usr/bin/env python
"""What a late overlay costs, and what warping wins back, independent of the machine's load.

Live figures depend on how busy the CPU is. This replays the alignment policy deterministically:
each frame's own mask is computed once (in order, as the app does), then for a lag of k frames
frame t is drawn with the mask of frame t-k as is ("latest") or warped from frame t-k to frame t by
surgical_seg.realtime.warp ("warped"), and both are scored against frame t's truth (mIoU, flicker).

    python scripts/lag_study.py CLIP --truth LABELS_DIR [--lags 1,2,3,5] [--json docs/measured/lag_study.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from surgical_seg.config import load_app_config  # noqa: E402
from surgical_seg.engine import load_segmenter  # noqa: E402
from surgical_seg.evaluation.displayed import read_truth  # noqa: E402
from surgical_seg.evaluation.temporal import SequenceScore  # noqa: E402
from surgical_seg.sources import open_source  # noqa: E402
from surgical_seg.realtime.warp import MaskWarper  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clip")
    p.add_argument("--truth", required=True)
    p.add_argument("--model")
    p.add_argument("--lags", default="1,2,3,5", help="frames of lag (at 30 fps, 3 frames = 100 ms)")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args(argv)
    cfg = load_app_config()
    e = cfg.engine
    seg = load_segmenter(a.model or e.model, backend=e.backend, threads=e.pipeline_threads("live"), device=e.device,
                         smoothing=e.smoothing, precision=e.precision, upsample=e.upsample, min_region=e.min_region)
    frames, masks = [], []
    src = open_source(a.clip, max_frames=None)
    src.start(lambda pkt: (frames.append(pkt.frame), masks.append(seg.segment(pkt.frame).labels)))
    src.join(3600)
    fps = src.fps or 30.0
    truth = [read_truth(Path(a.truth), i) for i in range(len(frames))]
    warper, rows = MaskWarper((seg.card.input_width, seg.card.input_height)), []
    own = SequenceScore(seg.card.classes)
    for t in range(len(frames)):
        own.add(truth[t], masks[t])
    warp_ms = []
    for k in [int(v) for v in a.lags.split(",")]:
        latest, warped = SequenceScore(seg.card.classes), SequenceScore(seg.card.classes)
        for t in range(k, len(frames)):
            latest.add(truth[t], masks[t - k])
            t0 = time.perf_counter()
            warped.add(truth[t], warper.warp_labels(masks[t - k], frames[t - k], frames[t]))
            warp_ms.append((time.perf_counter() - t0) * 1e3)
        lr, wr = latest.result(), warped.result()
        rows.append({"lag_frames": k, "lag_ms": round(1000 * k / fps, 1), "latest_miou": lr["miou"],
                     "warped_miou": wr["miou"], "latest_flicker": lr["flicker"], "warped_flicker": wr["flicker"]})
    o = own.result()
    for r in rows:
        loss = o["miou"] - r["latest_miou"]
        r["recovered"] = (r["warped_miou"] - r["latest_miou"]) / loss if loss > 0 else None
        print(f"lag {r['lag_frames']} frames ({r['lag_ms']:.0f} ms): own {o['miou']:.4f}  latest {r['latest_miou']:.4f}"
              f"  warped {r['warped_miou']:.4f}  recovered {r['recovered'] if r['recovered'] is None else round(r['recovered'], 3)}")
    out = {"clip": a.clip, "truth": a.truth, "model": seg.card.name, "frames": len(frames), "fps": fps,
           "smoothing": e.smoothing, "upsample": e.upsample, "own_miou": o["miou"], "own_flicker": o["flicker"],
           "lags": rows, "warp_ms_median": sorted(warp_ms)[len(warp_ms) // 2] if warp_ms else None,
           "command": "python scripts/lag_study.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
