"""Label Studio pre-annotations: predicted label maps as brush RLE tasks, and the labeling config.

`encode_rle` writes the same bytes as label-studio-sdk's `brush.mask2rle(mask)` (thi.ng rle-pack:
32-bit value count, 5-bit word size, run-length size table 3/4/8/16 bits, then runs; RGBA with the
mask in every channel) but vectorised with NumPy: the SDK builds a string of bits and takes ~1 s per
640x360 mask. `decode_rle` in labelstudio.py reads it back; a region is alpha >= 128, so a
0/255 mask survives the round trip exactly.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..errors import ConfigError

RLE_SIZES = (3, 4, 8, 16)          # bits of a run length, as the SDK's encoder writes them
FROM_NAME, TO_NAME = "tag", "image"
# the per-frame in/out-of-body choice (a hospital's own privacy-gate training data: import-labelstudio ->
# DATASET/gate/<choice>/ -> gate-train --data DATASET)
BODY_NAME, BODY_CHOICES, GATE_DIR = "body", ("in_body", "out_of_body"), "gate"


def encode_rle(values: np.ndarray) -> list[int]:
    """Flat uint8 array -> rle-pack bytes, identical to label_studio_sdk.converter.brush.encode_rle."""
    a = np.asarray(values, np.uint8).ravel()
    n = a.size
    header = f"{n:032b}{7:05b}" + "".join(f"{s - 1:04b}" for s in RLE_SIZES)
    if n:
        ends = np.r_[np.flatnonzero(a[1:] != a[:-1]), n - 1]
        lengths = np.diff(np.r_[-1, ends])
        vals = a[ends].astype(np.int64)
        # runs longer than 2**16 are written as full 2**16 chunks first (as the SDK does)
        full = np.where(lengths > 2**16, (lengths - 1) // 2**16, 0)
        rest = lengths - full * 2**16
        reps = full + 1
        single = lengths == 1                      # "0 00 000 value": one literal value
        size_idx = np.repeat(np.select([lengths <= 8, lengths <= 16, lengths <= 256], [0, 1, 2], 3), reps)
        flag = np.repeat(np.where(single, 0, 1), reps)
        vals = np.repeat(vals, reps)
        lens = np.full(int(reps.sum()), 2**16, np.int64)
        lens[np.cumsum(reps) - 1] = rest
        nbits = np.asarray(RLE_SIZES)[size_idx]
        count = lens - 1
        tokens = (((flag << 2 | size_idx) << nbits | count) << 8) | vals
        widths = 1 + 2 + nbits + 8
        shifts = np.arange(31, -1, -1)
        bits = (tokens[:, None] >> shifts[None, :]) & 1
        body = bits[np.arange(32)[None, :] >= (32 - widths)[:, None]].astype(np.uint8)
    else:
        body = np.zeros(0, np.uint8)
    head = np.frombuffer(header.encode(), np.uint8) - ord("0")
    stream = np.concatenate([head, body])
    pad = 8 - stream.size % 8                       # the SDK always pads, a whole zero byte when aligned
    stream = np.concatenate([stream, np.zeros(pad, np.uint8)])
    return np.packbits(stream).tolist()


def mask_to_rle(mask: np.ndarray) -> list[int]:
    """HxW bool/0-1 mask -> brush RLE (255 in R, G, B and alpha where set), as the SDK's mask2rle(mask*255)."""
    m = np.where(np.asarray(mask).astype(bool), 255, 0).astype(np.uint8)
    return encode_rle(np.repeat(m.ravel(), 4))


def brush_results(labels: np.ndarray, class_names: tuple[str, ...]) -> list[dict]:
    """One brushlabels region per foreground class present in the label map."""
    h, w = labels.shape
    out = []
    for k, name in enumerate(class_names):
        if k == 0 or not (labels == k).any():
            continue
        out.append({"id": f"c{k}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "brushlabels",
                    "origin": "prediction", "original_width": int(w), "original_height": int(h),
                    "image_rotation": 0,
                    "value": {"format": "rle", "rle": mask_to_rle(labels == k), "brushlabels": [name]}})
    return out


def model_version(model_dir: str | Path, name: str) -> str:
    """`<model name>-<first 10 hex of SHA-256 over the model files>`: which weights made a prediction."""
    h = hashlib.sha256()
    for f in sorted(Path(model_dir).glob("model.*")):
        if f.suffix in (".onnx", ".pdiparams", ".json"):
            h.update(f.read_bytes())
    return f"{name}-{h.hexdigest()[:10]}"


def image_ref(image: Path, document_root: Path | None, url_prefix: str | None) -> str:
    """How Label Studio finds the frame: local-files storage (?d=path under the document root) or a URL."""
    if url_prefix:
        return url_prefix.rstrip("/") + "/" + quote(image.name)
    root = (document_root or image.parent.parent.parent).resolve()
    try:
        rel = image.resolve().relative_to(root)
    except ValueError:
        raise ConfigError(f"--ls-document-root {root}: the frames in {image.parent} are not under it") from None
    return "/data/local-files/?d=" + quote(rel.as_posix())


def make_task(image: Path, labels: np.ndarray, class_names: tuple[str, ...], version: str, score: float,
              ref: str, meta: dict) -> dict:
    """One Label Studio task: the frame reference, metadata, and the model's brush regions as a prediction."""
    return {"data": {"image": ref, **meta},
            "predictions": [{"model_version": version, "score": round(float(score), 4),
                             "result": brush_results(labels, class_names)}]}


def labeling_config(class_names: tuple[str, ...], colors_rgb) -> str:
    """The project's labeling interface: brush labels named and coloured as the classes, and the frame's
    in/out-of-body choice (out-of-body frames train the privacy gate and are never segmentation images)."""
    rows = "\n".join(f'    <Label value="{n}" background="#{r:02x}{g:02x}{b:02x}"/>'
                     for n, (r, g, b) in list(zip(class_names, colors_rgb))[1:])
    body = "\n".join(f'    <Choice value="{c}"/>' for c in BODY_CHOICES)
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image" zoom="true"/>\n'
            f'  <BrushLabels name="{FROM_NAME}" toName="{TO_NAME}">\n{rows}\n  </BrushLabels>\n'
            f'  <Choices name="{BODY_NAME}" toName="{TO_NAME}" choice="single-radio" showInline="true">\n{body}\n'
            f'  </Choices>\n</View>\n')


__all__ = ["BODY_NAME", "BODY_CHOICES", "GATE_DIR", "encode_rle", "mask_to_rle", "brush_results", "model_version", "image_ref", "make_task",
           "labeling_config"]
