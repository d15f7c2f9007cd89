#!/usr/bin/env python
"""Re-export a shipped model from its own weights into the current export format, in place.

    PYTHONPATH=$PWD .venv/bin/python scripts/reexport_model.py weights/fastscnn_spine --data /tmp/v

The folder's model.pdparams (the dygraph weights export saved before the pool swap) goes through
`export` again (graph cut at the head's logits, precisions validated on DATA's val split); the card keeps
its provenance, metrics, speed figures, calibration temperature and threshold; the model files' hashes are
re-stamped by export. Before anything is replaced, the old and the new folder segment every image of DATA
(OpenVINO f32, 1 thread, engine.upsample bilinear, no smoothing) and the label agreement is printed and
written into the card (training.reexport). model.pdparams itself is kept as it is (same weights).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from surgical_seg.data.datasets import read_split
from surgical_seg.engine import load_segmenter
from surgical_seg.modelcard import CARD_NAME, DYGRAPH_FILE, MODEL_FILES, ModelCard
from surgical_seg.training.export import export_model


def label_agreement(old_dir: Path, new_dir: Path, data: Path, split: str = "all") -> dict:
    kw = dict(backend="openvino", device="cpu", threads=1, precision="f32", upsample="bilinear")
    old, new = load_segmenter(old_dir, **kw), load_segmenter(new_dir, **kw)
    same = total = 0
    worst = 1.0
    pairs = read_split(data, split)
    for img, _ in pairs:
        frame = cv2.imread(str(img), cv2.IMREAD_COLOR)
        a, b = old.segment(frame).labels, new.segment(frame).labels
        eq = int((a == b).sum())
        same, total, worst = same + eq, total + a.size, min(worst, eq / a.size)
    return {"data": str(data), "split": split, "images": len(pairs), "agreement": round(same / total, 6),
            "worst_image": round(worst, 6), "backend": "openvino f32, 1 thread, upsample bilinear"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir")
    p.add_argument("--data", required=True, help="dataset folder with a val split (precision check, label comparison)")
    p.add_argument("--data-command", default="", help="how DATA was made (recorded in the card)")
    p.add_argument("--dry-run", action="store_true", help="export and compare, replace nothing")
    a = p.parse_args()
    model_dir = Path(a.model_dir)
    old = ModelCard.load(model_dir)
    with tempfile.TemporaryDirectory(prefix="reexport_") as tmp:
        out = export_model(model_dir, Path(tmp) / "model", check_frames=a.data, validate=a.data)   # its own weights
        fresh = ModelCard.load(out)
        agreement = label_agreement(model_dir, out, Path(a.data))
        if a.data_command:
            agreement["data_command"] = a.data_command
        card = dataclasses.replace(
            old, output=fresh.output, output_stride=fresh.output_stride, precisions=fresh.precisions,
            files_sha256=fresh.files_sha256,
            training={**old.training, "export_parity": fresh.training["export_parity"],
                      "export_parity_frames": fresh.training["export_parity_frames"],
                      "export_date": fresh.training["export_date"],
                      "reexport": {"from": f"{model_dir}/{DYGRAPH_FILE} (same weights)",
                                   "command": "scripts/reexport_model.py " + " ".join(sys.argv[1:]),
                                   "date": _dt.datetime.now().isoformat(timespec="seconds"),
                                   "labels_vs_previous_export": agreement}})
        card.save(out)
        ModelCard.load(out)                      # hashes and keys check out
        print(f"labels equal to the previous export on {agreement['agreement'] * 100:.3f} % of pixels "
              f"({agreement['images']} images of {a.data}, worst image {agreement['worst_image'] * 100:.2f} %)")
        for name, rec in card.precisions.items():
            print(f"precision {name}: {rec}")
        if a.dry_run:
            return 0
        for name in (*MODEL_FILES, CARD_NAME):
            shutil.copy2(out / name, model_dir / name)
    ModelCard.load(model_dir)
    print(f"re-exported {model_dir}: output {card.output}, stride {card.output_stride}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
