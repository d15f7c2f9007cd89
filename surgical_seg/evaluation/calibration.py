"""Calibration: expected calibration error, reliability diagrams, and fitting a softmax temperature.

ECE with `n_bins` equal-width bins over [0, 1] (the binning of scikit-learn's `calibration_curve`,
strategy "uniform"): ECE = sum_b n_b / N * |accuracy_b - mean confidence_b| over non-empty bins.
- overall (top label): confidence = max_c p_c, correct = argmax == truth;
- per class k (one-vs-rest): confidence = p_k, "accuracy" = the share of truth == k in the bin.
Sums are accumulated image by image (bounded memory), before and after a temperature, from the
same raw probabilities. Pixels labelled 255 are left out.

`fit_temperature` minimises the negative log-likelihood of the true class over one scalar T
(Guo et al. 2017) on a seeded sample of validation pixels; `calibrate_model` runs a model folder
over a dataset's val split and writes T into its model card.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..modelcard import IGNORE_INDEX
from ..engine.confidence import apply_temperature

N_BINS = 15
FIT_PIXELS_PER_IMAGE = 4000
T_RANGE = (0.05, 20.0)


def bin_index(p: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Equal-width bin of each probability, as sklearn's calibration_curve assigns them."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], p)


class _Bins:
    """count, sum of confidence and sum of hits per bin."""

    def __init__(self, n_bins: int) -> None:
        self.n_bins = n_bins
        self.count = np.zeros(n_bins, np.float64)
        self.conf = np.zeros(n_bins, np.float64)
        self.hits = np.zeros(n_bins, np.float64)

    def add(self, p: np.ndarray, hit: np.ndarray) -> None:
        b = bin_index(p, self.n_bins)
        self.count += np.bincount(b, minlength=self.n_bins)
        self.conf += np.bincount(b, weights=p, minlength=self.n_bins)
        self.hits += np.bincount(b, weights=hit, minlength=self.n_bins)

    def curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean confidence, accuracy, count) of the non-empty bins."""
        keep = self.count > 0
        n = self.count[keep]
        return self.conf[keep] / n, self.hits[keep] / n, n

    def ece(self) -> float | None:
        conf, acc, n = self.curve()
        return None if n.sum() == 0 else float(np.sum(n / n.sum() * np.abs(acc - conf)))


def expected_calibration_error(p: np.ndarray, hit: np.ndarray, n_bins: int = N_BINS) -> float | None:
    """ECE of probabilities `p` against 0/1 outcomes `hit` (flat arrays)."""
    bins = _Bins(n_bins)
    bins.add(np.asarray(p, np.float64).ravel(), np.asarray(hit, np.float64).ravel())
    return bins.ece()


class CalibrationStats:
    """Top-label and per-class reliability sums, before (T = 1) and after `temperature`."""

    def __init__(self, class_names: tuple[str, ...], temperature: float = 1.0, n_bins: int = N_BINS,
                 ignore: int = IGNORE_INDEX) -> None:
        self.class_names, self.temperature, self.n_bins = tuple(class_names), float(temperature), n_bins
        self.ignore = ignore
        self.bins = {when: {name: _Bins(n_bins) for name in ("overall", *self.class_names)}
                     for when in ("before", "after")}

    def update(self, truth: np.ndarray, probs: np.ndarray) -> None:
        """truth HxW class ids (`ignore` left out), probs CxHxW raw softmax (T = 1) at the same size."""
        keep = truth != self.ignore
        t = truth[keep]
        raw = probs[:, keep]                               # C x N
        for when, p in (("before", raw), ("after", apply_temperature(raw, self.temperature))):
            top = p.argmax(axis=0)
            self.bins[when]["overall"].add(p.max(axis=0).astype(np.float64), (top == t).astype(np.float64))
            for k, name in enumerate(self.class_names):
                self.bins[when][name].add(p[k].astype(np.float64), (t == k).astype(np.float64))

    def result(self) -> dict:
        """{"temperature", "n_bins", "ece": {before/after: {overall, class...}}}."""
        return {"temperature": self.temperature, "n_bins": self.n_bins,
                "ece": {when: {name: b.ece() for name, b in per.items()} for when, per in self.bins.items()}}

    def plot(self, path: str | Path) -> Path:
        """Reliability diagrams, overall and per class, before and after the temperature."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = ("overall", *self.class_names)
        fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 3.6), sharey=True)
        for ax, name in zip(np.atleast_1d(axes), names):
            ax.plot([0, 1], [0, 1], "k:", lw=0.8)
            for when, style in (("before", "o-"), ("after", "s-")):
                if when == "after" and self.temperature == 1.0:
                    continue
                b = self.bins[when][name]
                conf, acc, _ = b.curve()
                ece = b.ece()
                label = f"{when}" + (f" (T={self.temperature:.2f})" if when == "after" else " (T=1)")
                ax.plot(conf, acc, style, ms=3, lw=1.2,
                        label=f"{label}: ECE {ece * 100:.2f} %" if ece is not None else label)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_title(f"{name} ({'top label' if name == 'overall' else 'one-vs-rest'})", fontsize=9)
            ax.set_xlabel("mean predicted probability")
            ax.legend(loc="upper left", fontsize=7)
        np.atleast_1d(axes)[0].set_ylabel("observed frequency")
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def fit_temperature(log_probs: np.ndarray, truth: np.ndarray) -> float:
    """The T minimising mean NLL of softmax(log_probs / T) at the true class; log_probs N x C."""
    from scipy.optimize import minimize_scalar

    z = np.asarray(log_probs, np.float64)
    t = np.asarray(truth, np.int64)
    rows = np.arange(len(t))

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[rows, t]))

    res = minimize_scalar(nll, bounds=tuple(np.log(T_RANGE)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def collect_fit_pixels(seg, pairs, per_image: int = FIT_PIXELS_PER_IMAGE, seed: int = 0):
    """(log probabilities N x C, truth N) from a seeded sample of each image's labelled pixels, raw (T = 1)."""
    import cv2

    from ..errors import DataError
    from ..data.datasets import load_label

    rng = np.random.default_rng(seed)
    temperature, seg.temperature = seg.temperature, 1.0
    logs, truths = [], []
    try:
        for img_path, lab_path in pairs:
            frame = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
            if frame is None:
                raise DataError(f"{img_path}: cannot read image")
            truth = load_label(lab_path)
            probs = seg.segment(frame, probabilities=True).probabilities
            idx = np.flatnonzero(truth.ravel() != IGNORE_INDEX)
            if len(idx) > per_image:
                idx = rng.choice(idx, per_image, replace=False)
            p = probs.reshape(probs.shape[0], -1)[:, idx].T
            logs.append(np.log(np.maximum(p, 1e-30)))
            truths.append(truth.ravel()[idx])
    finally:
        seg.temperature = temperature
    return np.concatenate(logs), np.concatenate(truths)


def calibrate_model(model_dir: str | Path, data: str | Path, split: str = "val", backend: str = "onnxruntime") -> dict:
    """Fit a temperature on `data`'s split and store it in model_dir/model.yml; returns what was fitted."""
    from ..engine import load_segmenter
    from ..errors import DataError
    from ..modelcard import ModelCard
    from ..data.datasets import read_split

    pairs = read_split(data, split)
    if not pairs:
        raise DataError(f"{data}: split {split!r} lists no images to calibrate on")
    seg = load_segmenter(model_dir, backend=backend, device="cpu")
    log_p, truth = collect_fit_pixels(seg, pairs)
    if truth.max(initial=0) >= log_p.shape[1]:
        raise DataError(f"{data}: labels hold class id {int(truth.max())}, the model has {log_p.shape[1]} classes")
    temperature = fit_temperature(log_p, truth)
    p_before = np.exp(log_p)
    p_after = apply_temperature(p_before, temperature, axis=1)
    hit = (log_p.argmax(axis=1) == truth)
    fitted = {"temperature": round(temperature, 4), "data": str(data), "split": split, "images": len(pairs),
              "pixels": int(len(truth)),
              "ece_before": round(expected_calibration_error(p_before.max(axis=1), hit), 5),
              "ece_after": round(expected_calibration_error(p_after.max(axis=1), hit), 5)}
    card = ModelCard.load(model_dir)
    card = dataclasses.replace(card, temperature=fitted["temperature"],
                               training={**card.training, "calibration": fitted})
    card.save(model_dir)
    return fitted


__all__ = ["N_BINS", "bin_index", "expected_calibration_error", "CalibrationStats", "fit_temperature",
           "collect_fit_pixels", "calibrate_model"]
