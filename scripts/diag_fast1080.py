"""Issue 22 diagnosis: why does ligament fail on the fast 1080p60 clips?

For one labelled clip of `scripts/make_video_suite.sh` (its seed, size, fps, motion and zoom given here),
renders sampled frames again without encoding (`ClipScene.frame`, as `synth --video` does before H.264) and
segments, frame by frame (no temporal smoothing), several versions of each frame:
  decoded     the mp4's frame (what the suite scores)
  rendered    the same frame re-rendered, never encoded
  *_area      the same, first shrunk with INTER_AREA to 2x the model's input (what training does to its
              images: train.load_samples), then the engine's own INTER_LINEAR letterbox
  r720        the same scene and camera rendered at 1280x720 (scene built at that size)
Prints pooled IoU per class, ligament recall by distance from the scope centre, and the decoded-vs-rendered
PSNR. Usage: python scripts/diag_fast1080.py --clip data/val_video/v1080p60_fast_s75.mp4 --seed 75
  --size 1920x1080 --fps 60 --motion fast [--zoom Z] [--step 6] [--model weights/fastscnn_spine]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np


def iou_counts(truth, pred, n=4):
    inter = np.zeros(n); union = np.zeros(n)
    for c in range(1, n):
        t, p = truth == c, pred == c
        inter[c] += (t & p).sum(); union[c] += (t | p).sum()
    return inter, union


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", type=float, default=60)
    ap.add_argument("--motion", default="fast")
    ap.add_argument("--zoom", type=float, default=None)
    ap.add_argument("--step", type=int, default=6)
    ap.add_argument("--model", default="weights/fastscnn_spine")
    ap.add_argument("--variants", default="decoded,rendered,decoded_area,rendered_area,r720")
    ap.add_argument("--json", default=None)
    ap.add_argument("--min-region", type=float, default=0.005)
    ap.add_argument("--dump", default=None, help="folder for a few crops at model scale")
    a = ap.parse_args()
    import av
    from surgical_seg.data.synth_clips import ClipScene
    from surgical_seg.engine import load_segmenter

    w, h = map(int, a.size.split("x"))
    clip = Path(a.clip)
    truth_dir = clip.with_name(clip.stem + "_labels")
    seg = load_segmenter(a.model, smoothing=0.0, upsample="bilinear", precision="f32", min_region=a.min_region)
    mw, mh = seg.card.input_width, seg.card.input_height
    scene = ClipScene.build(a.seed, (w, h), a.zoom, a.motion)
    scene720 = ClipScene.build(a.seed, (1280, 720), a.zoom, a.motion) if "r720" in a.variants else None
    variants = a.variants.split(",")
    acc = {v: [np.zeros(4), np.zeros(4)] for v in variants}
    radial = {v: np.zeros((5, 2)) for v in variants}     # ligament truth px, hit px per radius bin
    psnr = []
    style = scene.style
    cy = h / 2 + style.scope_offset[1] * h
    cx = w / 2 + style.scope_offset[0] * h
    radius = style.scope_radius * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rr = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / radius
    rbin = np.clip((rr / 0.2).astype(int), 0, 4)
    lab_ok = 0
    n = 0
    dumped = 0
    with av.open(str(clip)) as cont:
        for i, fr in enumerate(cont.decode(cont.streams.video[0])):
            if i % a.step:
                continue
            dec = fr.to_ndarray(format="bgr24")
            truth = cv2.imread(str(truth_dir / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
            ren, lab, _ = scene.frame(i, i / a.fps)
            lab_ok += int(np.array_equal(lab, truth))
            mse = np.mean((dec.astype(np.float32) - ren.astype(np.float32)) ** 2)
            psnr.append(10 * np.log10(255 ** 2 / max(mse, 1e-9)))
            frames = {"decoded": (dec, truth), "rendered": (ren, truth)}
            area = lambda img: cv2.resize(img, (2 * mw, round(img.shape[0] * 2 * mw / img.shape[1])),
                                          interpolation=cv2.INTER_AREA)
            if "decoded_area" in variants:
                frames["decoded_area"] = (area(dec), truth)
            if "rendered_area" in variants:
                frames["rendered_area"] = (area(ren), truth)
            if scene720 is not None:
                r7, l7, _ = scene720.frame(i, i / a.fps)
                frames["r720"] = (r7, l7)
            for v in variants:
                img, t = frames[v]
                pred = seg.segment(img).labels
                if pred.shape != t.shape:
                    pred = cv2.resize(pred, t.shape[::-1], interpolation=cv2.INTER_NEAREST)
                I, U = iou_counts(t, pred)
                acc[v][0] += I; acc[v][1] += U
                if t.shape == truth.shape:
                    lig = t == 2
                    for b in range(5):
                        m = lig & (rbin == b)
                        radial[v][b] += (m.sum(), (m & (pred == 2)).sum())
            if a.dump and dumped < 3 and (truth == 2).mean() > 0.05:
                d = Path(a.dump); d.mkdir(parents=True, exist_ok=True)
                for v in ("decoded", "rendered"):
                    small = cv2.resize(frames[v][0], (mw, mh), interpolation=cv2.INTER_LINEAR)
                    cv2.imwrite(str(d / f"f{i:04d}_{v}_model.png"), small)
                # a 1:1 crop of ligament at full resolution
                ys, xs = np.nonzero(truth == 2)
                y0, x0 = int(np.median(ys)) - 128, int(np.median(xs)) - 128
                y0, x0 = max(0, min(h - 256, y0)), max(0, min(w - 256, x0))
                cv2.imwrite(str(d / f"f{i:04d}_crop.png"),
                            np.hstack([dec[y0:y0 + 256, x0:x0 + 256], ren[y0:y0 + 256, x0:x0 + 256]]))
                dumped += 1
            n += 1
    out = {"clip": clip.name, "frames": n, "truth_equals_render": lab_ok, "psnr_decoded_vs_rendered":
           [round(float(np.mean(psnr)), 2), round(float(np.min(psnr)), 2)], "variants": {}}
    for v in variants:
        I, U = acc[v]
        ious = {c: (round(float(I[k] / U[k]), 4) if U[k] else None) for k, c in enumerate(["bg", "bone", "ligament", "disc"]) if k}
        rad = {f"{0.2 * b:.1f}-{0.2 * b + 0.2:.1f}": (round(float(radial[v][b][1] / radial[v][b][0]), 3) if radial[v][b][0] else None)
               for b in range(5)}
        out["variants"][v] = {"iou": ious, "ligament_recall_by_radius": rad}
    print(json.dumps(out, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
