"""`surgical-seg eval`: run a model over a dataset split and compute the clinical study's table.

Labels come from the model's argmax at frame resolution (what the app overlays), ROC scores from
its softmax probabilities at frame resolution (after the model card's temperature, as the engine
hands them out); pixels labelled 255 (ignore) are left out. Calibration (ECE, reliability diagram)
is measured on the same probabilities before and after that temperature.
With `degrade` every frame first goes through the theatre-video chain (training/degrade.py,
seeded per frame, so a run is repeatable). Where the dataset has instruments/<name>.png
(`synth --instrument-masks`), the share of instrument pixels painted as any class is reported.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2

from ..atomic import atomic_write_json
from ..data.classlist import ClassList
from ..engine.confidence import apply_temperature
from ..errors import DataError, ModelError
from .calibration import CalibrationStats
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


class InstrumentCheck:
    """Counts instrument pixels and those the model labelled as anatomy (any class but background)."""

    def __init__(self) -> None:
        self.pixels = self.labelled = self.images = 0

    def update(self, instruments, predicted) -> None:
        on = instruments > 0
        self.pixels += int(on.sum())
        self.labelled += int((predicted[on] != 0).sum())
        self.images += 1

    def result(self) -> dict | None:
        if not self.images:
            return None
        return {"images": self.images, "pixels": self.pixels,
                "labelled_share": self.labelled / self.pixels if self.pixels else None}


def _instrument_mask(lab_path: Path):
    """instruments/<stem>.png beside labels/, or None when the dataset has none."""
    from ..data.datasets import instrument_mask_path
    p = instrument_mask_path(lab_path)
    if not p.is_file():
        return None
    mask = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.ndim != 2:
        raise DataError(f"{p}: not a single-channel instrument mask")
    return mask


def evaluate_pairs(seg, pairs, predictions_dir: str | Path | None = None, progress: bool = True,
                   desc: str = "eval", degrade_seed: int | None = None,
                   instruments: InstrumentCheck | None = None, classes: ClassList | None = None,
                   calibration=None) -> SegmentationMetrics:
    """Feed every (image, label) pair through `seg` into a SegmentationMetrics (default: 4 classes).

    With a CalibrationStats, `seg` must hand out raw probabilities (temperature 1): they feed the
    calibration sums, and the metrics get them after `calibration.temperature`.
    """
    import numpy as np
    from tqdm import tqdm

    from ..data.datasets import load_label
    from ..data.degrade import degrade

    classes = classes or ClassList.default()
    metrics = SegmentationMetrics(classes.names, classes.foreground, ignore=classes.ignore)
    pred_dir = Path(predictions_dir) if predictions_dir else None
    if pred_dir:
        pred_dir.mkdir(parents=True, exist_ok=True)
    for k, (img_path, lab_path) in enumerate(tqdm(pairs, desc=desc, unit="img", disable=not progress)):
        frame = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if frame is None:
            raise DataError(f"{img_path}: cannot read image")
        truth = load_label(lab_path)
        classes.check_labels(truth, lab_path)
        if truth.shape != frame.shape[:2]:
            raise DataError(f"{lab_path}: label is {truth.shape[1]}x{truth.shape[0]}, "
                            f"image {img_path.name} is {frame.shape[1]}x{frame.shape[0]}")
        tools = _instrument_mask(lab_path) if instruments is not None else None
        if degrade_seed is not None:
            masks = [truth] + ([tools] if tools is not None else [])
            frame, masks = degrade(frame, masks, np.random.default_rng([degrade_seed, k]))
            truth, tools = masks[0], (masks[1] if tools is not None else None)
        out = seg.segment(frame, probabilities=True)
        probs = out.probabilities
        if tools is not None:
            instruments.update(tools, out.labels)
        try:
            if calibration is not None:
                calibration.update(truth, probs)
                probs = apply_temperature(probs, calibration.temperature)
            metrics.update(truth, out.labels, probs)
        except ValueError as e:
            raise DataError(f"{lab_path}: {e}") from None
        if pred_dir and not cv2.imwrite(str(pred_dir / f"{lab_path.stem}.png"), out.labels):
            raise DataError(f"{pred_dir}: cannot write prediction PNG")
    return metrics


def run_eval(data: str | Path, split: str = "test", model: str | Path = "fastscnn_spine", backend: str = "auto",
             json_out: str | Path | None = None, predictions_dir: str | Path | None = None,
             report_dir: str | Path | None = None, progress: bool = True, degrade_seed: int | None = None,
             upsample: str = "nearest", min_region: float | None = None, precision: str | None = None) -> dict:
    """Evaluate `model` on a split of `data`; optionally write JSON, predicted PNGs and a report.
    `min_region` / `precision` None: engine.min_region / engine.precision of configs/app.yml (the labels the
    app shows).

    Returns per_class/mean figures (None where undefined, e.g. a class absent from truth and
    prediction), pixel_accuracy, confusion_matrix (rows truth, columns prediction), num_images,
    num_pixels, classes, model, backend, split, data.
    """
    from ..engine import load_segmenter
    from ..data.datasets import read_split

    pairs = read_split(data, split)
    if not pairs:
        raise DataError(f"{data}: split {split!r} lists no images")
    classes = ClassList.for_dataset(data)
    if min_region is None or precision is None:
        from ..config import load_app_config
        engine = load_app_config().engine
        min_region = engine.min_region if min_region is None else min_region
        precision = engine.precision if precision is None else precision
    seg = load_segmenter(model, backend=backend, upsample=upsample, min_region=min_region, precision=precision)
    if not classes.same_as(seg.card.classes):
        raise ModelError(f"model {model}: classes {', '.join(seg.card.classes)} differ from the "
                         f"dataset's {', '.join(classes.names)} ({classes.source})")
    tools = InstrumentCheck()
    calibration = CalibrationStats(classes.names, seg.temperature, ignore=classes.ignore)
    seg.temperature = 1.0                   # raw probabilities: the calibration sums see both sides
    metrics = evaluate_pairs(seg, pairs, predictions_dir, progress, desc=f"eval {split}",
                             degrade_seed=degrade_seed, instruments=tools, classes=classes, calibration=calibration)
    raw = metrics.result()
    result = _clean({**raw, "classes": list(classes.names), "model": str(model), "backend": seg.backend_name,
                     "precision": seg.precision, "split": split, "data": str(data), "upsample": upsample,
                     "min_region": min_region,
                     "degraded": degrade_seed is not None, "degrade_seed": degrade_seed,
                     "instruments": tools.result(), "calibration": calibration.result()})
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(json_out, result, indent=1)
    if report_dir:
        from .report import write_report
        write_report(result, {name: metrics.roc(name)[:2] for name in classes.foreground}, report_dir)
        calibration.plot(Path(report_dir) / "reliability.png")
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
    cal = result.get("calibration")
    if cal:
        ece = cal["ece"]
        b, t = ece["before"]["overall"], ece["after"]["overall"]
        if b is not None and t is not None:
            rows.append(f"ECE (top label, {cal['n_bins']} bins): {100 * b:.2f} % at T=1, "
                        f"{100 * t:.2f} % at the card's T={cal['temperature']:g}")
    rows.append(f"pixel accuracy {_pct(result['pixel_accuracy'])} % over {result['num_images']} images "
                f"({result['split']} split of {result['data']}{', degraded' if result.get('degraded') else ''}); "
                f"model {result['model']} on {result['backend']}")
    tools = result.get("instruments")
    if tools and tools.get("labelled_share") is not None:
        rows.append(f"instrument pixels labelled as anatomy: {_pct(tools['labelled_share'])} % "
                    f"of {tools['pixels']} over {tools['images']} images")
    return "\n".join(rows)


__all__ = ["run_eval", "evaluate_pairs", "format_table", "InstrumentCheck"]
