"""Accuracy of a sequence of label maps against per-frame truth: what a viewer of the video saw.

`bench --truth` feeds two sequences through `SequenceScore`: the masks that were actually drawn on
each frame (after alignment, warping and staleness; a frame with no overlay counts as background)
and each frame's own mask computed offline. Per sequence: mIoU and Dice over the foreground classes
(one confusion matrix over every pixel, as surgical_seg.evaluation.metrics), per class, per-frame
mIoU, and flicker = the share of pixels whose predicted class changes between consecutive frames
where the truth does not (ignore pixels left out).
"""
from __future__ import annotations

import math

import numpy as np

from ..modelcard import IGNORE_INDEX


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def _nanmean(values) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


class SequenceScore:
    """Feed (truth, prediction) frame by frame, in order; `result()` at the end."""

    def __init__(self, class_names: tuple[str, ...], ignore: int = IGNORE_INDEX) -> None:
        self.class_names, self.ignore = tuple(class_names), ignore
        self.n = len(self.class_names)
        self.confusion = np.zeros((self.n, self.n), np.int64)
        self.per_frame: list[float] = []
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._stable = 0          # pixels whose truth did not change between consecutive frames
        self._flicker = 0         # ... of which the prediction changed

    def add(self, truth: np.ndarray, pred: np.ndarray | None) -> float:
        """Score one frame (pred None = nothing drawn = background); returns its mIoU."""
        if pred is None:
            pred = np.zeros_like(truth)
        if truth.shape != pred.shape:
            raise ValueError(f"truth {truth.shape} and prediction {pred.shape} differ in size")
        valid = truth != self.ignore
        t, p = truth[valid].astype(np.int64), np.minimum(pred[valid], self.n - 1).astype(np.int64)
        cm = np.bincount(t * self.n + p, minlength=self.n * self.n).reshape(self.n, self.n)
        self.confusion += cm
        if self._prev is not None:
            pt, pp = self._prev
            stable = valid & (pt != self.ignore) & (pt == truth)
            self._stable += int(stable.sum())
            self._flicker += int((stable & (pp != pred)).sum())
        self._prev = (truth, pred)
        miou = _nanmean(self._iou(cm, k) for k in range(1, self.n))
        self.per_frame.append(miou)
        return miou

    @staticmethod
    def _iou(cm: np.ndarray, k: int) -> float:
        tp = cm[k, k]
        return _ratio(tp, cm[:, k].sum() + cm[k, :].sum() - tp)

    def result(self) -> dict:
        cm = self.confusion
        per_class = {}
        for k in range(1, self.n):
            tp = cm[k, k]
            fp, fn = cm[:, k].sum() - tp, cm[k, :].sum() - tp
            per_class[self.class_names[k]] = {"iou": _ratio(tp, tp + fp + fn), "dice": _ratio(2 * tp, 2 * tp + fp + fn)}
        return {"miou": _nanmean(v["iou"] for v in per_class.values()),
                "dice": _nanmean(v["dice"] for v in per_class.values()),
                "per_class": per_class, "flicker": _ratio(self._flicker, self._stable),
                "frames": len(self.per_frame)}


__all__ = ["SequenceScore"]
