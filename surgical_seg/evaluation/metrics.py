"""The clinical study's figures, accumulated image by image in bounded memory.

Pixel figures come from one confusion matrix (rows = truth, columns = prediction, ignore pixels
left out), summed exactly over every pixel with np.bincount. Per foreground class they are
one-vs-rest: accuracy (TP+TN)/N, precision, recall, IoU (Jaccard), Dice (F1).

ROC/AUC is one-vs-rest from the softmax probability of each class. A binned histogram is not
exact enough (softmax scores pile up next to 0 and 1), and keeping every score of a large test
set costs gigabytes, so per image and class we keep the exact float32 scores of the positives
and of the negatives; when a side holds more than `auc_samples` pixels a seeded uniform sample
of `auc_samples` is kept, weighted by n / auc_samples so every image counts by its true pixel
numbers. With no sampling (small images, or auc_samples=None) the AUC is exact and equals
scikit-learn's roc_auc_score; with sampling it is an unbiased estimate (at 10 000 samples per
side per image its spread is ~1e-3 for one image and shrinks with more images).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..modelcard import CLASS_NAMES, FOREGROUND, IGNORE_INDEX

FIGURES = ("accuracy", "precision", "recall", "iou", "dice", "auc")


def _ratio(num: float, den: float) -> float:
    """num/den, NaN when the figure is undefined (den == 0: class absent from truth and prediction)."""
    return float(num) / float(den) if den else math.nan


def roc_curve(pos: np.ndarray, neg: np.ndarray, pos_w: np.ndarray | None = None,
              neg_w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) over the distinct scores, highest first, as sklearn's roc_curve
    (drop_intermediate=False) draws it; weights default to 1."""
    if len(pos) == 0 or len(neg) == 0:                                # one side empty: undefined
        return np.array([math.nan]), np.array([math.nan]), np.array([np.inf])
    scores = np.concatenate([pos, neg]).astype(np.float64)
    is_pos = np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg), bool)])
    w = np.concatenate([np.ones(len(pos)) if pos_w is None else pos_w,
                        np.ones(len(neg)) if neg_w is None else neg_w]).astype(np.float64)
    order = np.argsort(-scores, kind="stable")
    scores, is_pos, w = scores[order], is_pos[order], w[order]
    tps = np.cumsum(np.where(is_pos, w, 0.0))
    fps = np.cumsum(np.where(is_pos, 0.0, w))
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]   # end of each tie group
    tps, fps, thr = np.r_[0.0, tps[last]], np.r_[0.0, fps[last]], np.r_[np.inf, scores[last]]
    return fps / fps[-1], tps / tps[-1], thr


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under a ROC curve by the trapezoidal rule (ties count half, as Mann-Whitney)."""
    if len(fpr) < 2 or np.isnan(fpr).any():
        return math.nan
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


@dataclass
class _Scores:
    """Kept scores of one class: chunks of (float32 scores, weight of each) for each side."""
    pos: list[tuple[np.ndarray, float]] = field(default_factory=list)
    neg: list[tuple[np.ndarray, float]] = field(default_factory=list)

    @staticmethod
    def _join(chunks: list[tuple[np.ndarray, float]]) -> tuple[np.ndarray, np.ndarray]:
        if not chunks:
            return np.zeros(0, np.float32), np.zeros(0)
        return (np.concatenate([c for c, _ in chunks]),
                np.concatenate([np.full(len(c), w) for c, w in chunks]))

    def curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        (p, pw), (n, nw) = self._join(self.pos), self._join(self.neg)
        return roc_curve(p, n, pw, nw)


class SegmentationMetrics:
    """Feed (truth, prediction[, probabilities]) image by image; read figures at the end.

    A refused update (ValueError) leaves the totals untouched.

    truth, pred: HxW integer class ids (truth may hold `ignore`); probabilities: CxHxW softmax.
    """

    def __init__(self, class_names: tuple[str, ...] = CLASS_NAMES, foreground: tuple[str, ...] = FOREGROUND,
                 ignore: int = IGNORE_INDEX, auc_samples: int | None = 10_000, seed: int = 0):
        self.class_names, self.ignore = tuple(class_names), ignore
        self.fg = [self.class_names.index(c) for c in foreground]
        self.n = len(self.class_names)
        self.confusion = np.zeros((self.n, self.n), np.int64)
        self.auc_samples, self.seed = auc_samples, seed
        self.num_images = 0
        self._scores = {k: _Scores() for k in self.fg}

    def update(self, truth: np.ndarray, pred: np.ndarray, probabilities: np.ndarray | None = None) -> None:
        if truth.shape != pred.shape:
            raise ValueError(f"truth {truth.shape} and prediction {pred.shape} differ in size")
        if probabilities is not None and probabilities.shape != (self.n, *truth.shape):
            raise ValueError(f"probabilities {probabilities.shape} should be {(self.n, *truth.shape)}")
        valid = truth != self.ignore
        t, p = truth[valid].astype(np.int64), pred[valid].astype(np.int64)
        for name, a in (("truth", t), ("prediction", p)):
            if a.size and (a.min() < 0 or a.max() >= self.n):
                raise ValueError(f"{name} holds class id {int(a.max())}, expected 0..{self.n - 1} "
                                 f"(or {self.ignore} in truth)")
        self.confusion += np.bincount(t * self.n + p, minlength=self.n * self.n).reshape(self.n, self.n)
        if probabilities is not None:
            rng = np.random.default_rng([self.seed, self.num_images])
            for k in self.fg:
                score = probabilities[k][valid]
                is_k = t == k
                for side, s in ((self._scores[k].pos, score[is_k]), (self._scores[k].neg, score[~is_k])):
                    if self.auc_samples and len(s) > self.auc_samples:
                        keep = rng.choice(len(s), self.auc_samples, replace=False)
                        side.append((s[keep].astype(np.float32), len(s) / self.auc_samples))
                    elif len(s):
                        side.append((s.astype(np.float32), 1.0))
        self.num_images += 1

    def roc(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fpr, tpr, thresholds) of one foreground class; NaN when no probabilities were fed."""
        return self._scores[self.class_names.index(name)].curve()

    def per_class(self, name: str) -> dict[str, float]:
        k = self.class_names.index(name)
        cm, total = self.confusion, self.confusion.sum()
        tp = cm[k, k]
        fp, fn = cm[:, k].sum() - tp, cm[k, :].sum() - tp
        tn = total - tp - fp - fn
        return {"accuracy": _ratio(tp + tn, total), "precision": _ratio(tp, tp + fp),
                "recall": _ratio(tp, tp + fn), "iou": _ratio(tp, tp + fp + fn),
                "dice": _ratio(2 * tp, 2 * tp + fp + fn), "auc": auc(*self.roc(name)[:2])}

    def result(self) -> dict:
        """Figures as plain floats (NaN where undefined); the mean skips undefined classes."""
        per = {self.class_names[k]: self.per_class(self.class_names[k]) for k in self.fg}
        mean = {}
        for f in FIGURES:
            vals = [v[f] for v in per.values() if not math.isnan(v[f])]
            mean[f] = float(np.mean(vals)) if vals else math.nan
        return {"per_class": per, "mean": mean,
                "pixel_accuracy": _ratio(np.trace(self.confusion), self.confusion.sum()),
                "confusion_matrix": self.confusion.tolist(), "num_images": self.num_images,
                "num_pixels": int(self.confusion.sum())}


__all__ = ["SegmentationMetrics", "roc_curve", "auc", "FIGURES"]
