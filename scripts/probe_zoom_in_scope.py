"""Does a visible scope rim around large textures throw the model? (issue 22, the zoom-2 clip)

Each still's centre half is enlarged 2x to 1280x720 (textures twice as large, as a scope nearer the tissue
shows them) and segmented three ways, scored on the pixels inside a centred scope circle (radius 0.55 of
the height): as is, with the circle's black surround added, and with the surround and synth's light
fall-off towards the rim. The stills as they are give the reference. Training's scale augmentation zooms
circle and all, so without `rescope_prob` a model never sees the second and third kind.

    python scripts/probe_zoom_in_scope.py --model weights/fastscnn_spine --data data/val_s71 --frames 80 \
        --json out/probe.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from surgical_seg.data.synth import light_falloff  # noqa: E402
from surgical_seg.engine.segmenter import load_segmenter  # noqa: E402
from surgical_seg.evaluation.metrics import SegmentationMetrics  # noqa: E402
from surgical_seg.modelcard import IGNORE_INDEX  # noqa: E402

KINDS = {"stills": "the stills as they are", "zoom2": "centre enlarged 2x, inside the circle",
         "zoom2_surround": "+ black surround", "zoom2_surround_falloff": "+ black surround and rim fall-off"}
W, H = 1280, 720


def views(img: np.ndarray, lab: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """kind -> (image, truth, pixels scored)."""
    h, w = lab.shape
    big = cv2.resize(img[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2], (W, H), interpolation=cv2.INTER_LINEAR)
    big_lab = cv2.resize(lab[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2], (W, H), interpolation=cv2.INTER_NEAREST)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r = np.sqrt((yy - H / 2) ** 2 + (xx - W / 2) ** 2) / (0.55 * H)
    inside = r <= 1.0
    surround = big.copy()
    surround[~inside] = 0
    falloff = np.clip(big * light_falloff(r)[..., None], 0, 255).astype(np.uint8)
    falloff[~inside] = 0
    return {"stills": (cv2.resize(img, (W, H)), cv2.resize(lab, (W, H), interpolation=cv2.INTER_NEAREST),
                       np.ones((H, W), bool)),
            "zoom2": (big, big_lab, inside), "zoom2_surround": (surround, big_lab, inside),
            "zoom2_surround_falloff": (falloff, big_lab, inside)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fastscnn_spine")
    ap.add_argument("--data", required=True, help="a dataset folder (images/, labels/)")
    ap.add_argument("--frames", type=int, default=80)
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    seg = load_segmenter(a.model, backend="openvino", threads=2, precision="f32", upsample="bilinear")
    names = sorted(Path(a.data, "images").glob("*.png"))[:a.frames]
    classes = tuple(seg.card.classes)
    metrics = {k: SegmentationMetrics(classes, classes[1:], auc_samples=None) for k in KINDS}
    for p in names:
        img, lab = cv2.imread(str(p)), cv2.imread(str(Path(a.data, "labels", p.name)), cv2.IMREAD_GRAYSCALE)
        for kind, (im, truth, scored) in views(img, lab).items():
            pred = seg.segment(im).labels_at(W, H)
            # outside the scored pixels, instruments and the ignore label: not scored
            metrics[kind].update(np.where(scored & (truth < len(classes)), truth, IGNORE_INDEX), pred)
            seg.reset()
    out = {"model": str(a.model), "data": a.data, "frames": len(names), "kinds": {}}
    for kind, m in metrics.items():
        iou = {name: m.per_class(name)["iou"] for name in classes[1:]}
        out["kinds"][kind] = {"iou": iou, "miou": float(np.mean(list(iou.values())))}
        print(f"{KINDS[kind]:38s} mIoU {out['kinds'][kind]['miou']:.3f}  " + "  ".join(f"{k} {v:.3f}" for k, v in iou.items()))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
