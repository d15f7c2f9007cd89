"""Reduced precisions against f32 on a val split: what `export` writes into the model card's `precisions`.

For each of bf16 / f16 / int8 (model_int8.onnx, when export made one) the same frames run through OpenVINO in f32 and in that precision (1 thread, CPU):
label agreement (share of pixels whose label equals f32's), mIoU of each against the truth and its change,
and the inference p50 of both. A precision is allowed only if it passes engine.precision.verdict
(>= 99.5 % equal labels, mIoU drop <= 0.002). One this CPU does not run natively is not emulated: it is
recorded as not measured, with the CPU's capabilities, and engine.precision "auto" then keeps f32.
"""
from __future__ import annotations

import dataclasses
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.classlist import ClassList
from ..engine.precision import CAPABILITY, REDUCED, cpu_capabilities, native, verdict
from ..errors import DataError
from ..modelcard import INT8_ONNX_FILE, ModelCard
from .metrics import SegmentationMetrics

MAX_IMAGES = 100
UPSAMPLE = "bilinear"          # as the app runs (engine.upsample)


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else the platform's word for it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _frames(pairs) -> list[tuple[np.ndarray, np.ndarray]]:
    from ..data.datasets import load_label
    out = []
    for img, lab in pairs:
        frame = cv2.imread(str(img), cv2.IMREAD_COLOR)
        if frame is None:
            raise DataError(f"{img}: cannot read image")
        out.append((frame, load_label(lab)))
    return out


def _run(seg, frames, classes: ClassList) -> tuple[list[np.ndarray], float, float]:
    """(labels per frame, mIoU over the foreground classes, inference p50 ms)."""
    metrics = SegmentationMetrics(classes.names, classes.foreground, ignore=classes.ignore)
    labels, ms = [], []
    for frame, truth in frames:
        tensor, box = seg.preprocess(frame)
        t0 = time.perf_counter_ns()
        out = seg.infer(tensor)
        ms.append((time.perf_counter_ns() - t0) / 1e6)
        lab = seg.postprocess(out, box).labels
        metrics.update(truth, lab)
        labels.append(lab)
    return labels, float(metrics.result()["mean"]["iou"]), statistics.median(ms)


def compare_precision(model_dir: str | Path, frames, precision: str, classes: ClassList,
                      reference: tuple[list[np.ndarray], float, float] | None = None) -> dict[str, Any]:
    """One precision against f32 on `frames` ((BGR frame, truth) pairs); its measured figures and verdict."""
    from ..engine import load_segmenter
    if reference is None:
        reference = _run(load_segmenter(model_dir, backend="openvino", device="cpu", threads=1, precision="f32",
                                        upsample=UPSAMPLE), frames, classes)
    seg = load_segmenter(model_dir, backend="openvino", device="cpu", threads=1, precision=precision,
                         upsample=UPSAMPLE)
    labels, miou, ms = _run(seg, frames, classes)
    same = sum(int((a == b).sum()) for a, b in zip(reference[0], labels))
    total = sum(a.size for a in labels)
    agreement, change = same / total, miou - reference[1]
    allowed, why = verdict(agreement, change)
    return {"measured": True, "allowed": allowed, "why": why, "agreement": round(agreement, 6),
            "miou_change": round(change, 5), "miou": round(miou, 5), "miou_f32": round(reference[1], 5),
            "infer_ms_p50": round(ms, 2), "f32_infer_ms_p50": round(reference[2], 2), "runs": seg.precision}


def validate_precisions(model_dir: str | Path, data: str | Path, split: str = "val",
                        max_images: int = MAX_IMAGES) -> dict[str, Any]:
    """{"f32": {...}, "bf16": {...}, "f16": {...}, "int8": {...}}: the model card's `precisions` (see module doc)."""
    from ..data.datasets import read_split
    from ..engine import load_segmenter
    pairs = read_split(data, split)
    if not pairs:
        raise DataError(f"{data}: split {split!r} lists no images to validate precisions on")
    step = max(1, len(pairs) // max_images)
    frames = _frames(pairs[::step][:max_images])
    classes = ClassList.for_dataset(data)
    caps = cpu_capabilities()
    where = {"data": str(data), "split": split, "images": len(frames), "threads": 1, "upsample": UPSAMPLE,
             "cpu": cpu_name(), "cpu_capabilities": list(caps)}
    reference = _run(load_segmenter(model_dir, backend="openvino", device="cpu", threads=1, precision="f32",
                                    upsample=UPSAMPLE), frames, classes)
    out: dict[str, Any] = {"f32": {**where, "miou": round(reference[1], 5), "infer_ms_p50": round(reference[2], 2)}}
    for p in REDUCED:
        if not native(p, caps):
            out[p] = {"measured": False, "allowed": False,
                      "why": f"not measured: this CPU has no native {p} (OpenVINO offers {', '.join(caps) or 'nothing'}, "
                             f"no {CAPABILITY[p]}); re-export on a CPU that has it"}
            continue
        if p == "int8" and not (Path(model_dir) / INT8_ONNX_FILE).is_file():
            out[p] = {"measured": False, "allowed": False,
                      "why": f"not measured: no {INT8_ONNX_FILE} (export with --calibrate, or surgical-seg quantize)"}
            continue
        out[p] = compare_precision(model_dir, frames, p, classes, reference)
    return out


def write_precisions(model_dir: str | Path, data: str | Path, int8_made: dict[str, Any] | None = None) -> ModelCard:
    """validate_precisions into the model card (what `export` and `quantize` record); `int8_made`: how
    model_int8.onnx was quantized, kept beside its figures. Returns the saved card."""
    checked = validate_precisions(model_dir, data)
    if int8_made:
        checked["int8"] = {**checked["int8"], **int8_made}
    card = dataclasses.replace(ModelCard.load(model_dir), precisions=checked)
    card.save(model_dir)
    return card


__all__ = ["validate_precisions", "write_precisions", "compare_precision", "MAX_IMAGES"]
