"""`surgical-seg eval`: run a model over a dataset split and compute the clinical study's table.

Labels come from the model's argmax at frame resolution (what the app overlays), ROC scores from
its softmax probabilities at frame resolution; pixels labelled 255 (outside the scope) are left out.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2

from ..classes import CLASS_NAMES, FOREGROUND
from ..errors import DataError, ModelError
from .metrics import SegmentationMetrics


def _clean(value):
    """NaN (undefined figure) -> None, so the JSON stays standard."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def evaluate_pairs(seg, pairs, predictions_dir: str | Path | None = None, progress: bool = True,
                   desc: str = "eval") -> SegmentationMetrics:
    """Feed every (image, label) pair through `seg` into a SegmentationMetrics."""
    from tqdm import tqdm

    from ..training.datasets import load_label

    metrics = SegmentationMetrics(CLASS_NAMES, FOREGROUND)
    pred_dir = Path(predictions_dir) if predictions_dir else None
    if pred_dir:
        pred_dir.mkdir(parents=True, exist_ok=True)
    for img_path, lab_path in tqdm(pairs, desc=desc, unit="img", disable=not progress):
        frame = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if frame is None:
            raise DataError(f"{img_path}: cannot read image")
        truth = load_label(lab_path)
        if truth.shape != frame.shape[:2]:
            raise DataError(f"{lab_path}: label is {truth.shape[1]}x{truth.shape[0]}, "
                            f"image {img_path.name} is {frame.shape[1]}x{frame.shape[0]}")
        out = seg.segment(frame, probabilities=True)
        try:
            metrics.update(truth, out.labels, out.probabilities)
        except ValueError as e:
            raise DataError(f"{lab_path}: {e}") from None
        if pred_dir and not cv2.imwrite(str(pred_dir / f"{lab_path.stem}.png"), out.labels):
            raise DataError(f"{pred_dir}: cannot write prediction PNG")
    return metrics


def run_eval(data: str | Path, split: str = "test", model: str | Path = "fastscnn_spine", backend: str = "auto",
             json_out: str | Path | None = None, predictions_dir: str | Path | None = None,
             report_dir: str | Path | None = None, progress: bool = True, upsample: str = "nearest") -> dict:
    """Evaluate `model` on a split of `data`; optionally write JSON, predicted PNGs and a report.

    Returns per_class/mean figures (None where undefined, e.g. a class absent from truth and
    prediction), pixel_accuracy, confusion_matrix (rows truth, columns prediction), num_images,
    num_pixels, classes, model, backend, split, data.
    """
    from ..engine import load_segmenter
    from ..training.datasets import read_split

    pairs = read_split(data, split)
    if not pairs:
        raise DataError(f"{data}: split {split!r} lists no images")
    seg = load_segmenter(model, backend=backend, upsample=upsample)
    if tuple(seg.card.classes) != CLASS_NAMES:
        raise ModelError(f"model {model}: classes {', '.join(seg.card.classes)} differ from the "
                         f"dataset's {', '.join(CLASS_NAMES)}")
    metrics = evaluate_pairs(seg, pairs, predictions_dir, progress, desc=f"eval {split}")
    raw = metrics.result()
    result = _clean({**raw, "classes": list(CLASS_NAMES), "model": str(model), "backend": seg.backend_name,
                     "split": split, "data": str(data), "upsample": upsample})
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=1))
    if report_dir:
        from .report import write_report
        write_report(result, {name: metrics.roc(name)[:2] for name in FOREGROUND}, report_dir)
    return result


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def format_table(result: dict) -> str:
    """The study's table as plain text: per class + mean, pixel figures in %, AUC as 0..1."""
    head = ("accuracy", "precision", "recall", "iou", "dice")
    rows = [f"{'':<10}" + "".join(f"{h:>11}" for h in head) + f"{'auc':>8}"]
    for name, m in [*result["per_class"].items(), ("mean", result["mean"])]:
        auc = "n/a" if m["auc"] is None else f"{m['auc']:.3f}"
        rows.append(f"{name:<10}" + "".join(f"{_pct(m[h]) + ' %':>11}" for h in head) + f"{auc:>8}")
    rows.append(f"pixel accuracy {_pct(result['pixel_accuracy'])} % over {result['num_images']} images "
                f"({result['split']} split of {result['data']}); model {result['model']} on {result['backend']}")
    return "\n".join(rows)


__all__ = ["run_eval", "evaluate_pairs", "format_table"]
