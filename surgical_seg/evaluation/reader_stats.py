"""Statistics of a reader study, on stacks of confusion matrices (rows truth, columns labels).

Every figure is computed from summed confusion matrices, as `SegmentationMetrics` does, so a
bootstrap resample of frames (or of videos) is a sum over the resampled units. Confidence
intervals and tests are scipy.stats' own (bootstrap, wilcoxon, permutation_test); only Fleiss'
kappa, which scipy lacks, is written out here (its formula, checked in the tests against a
published worked example and against scikit-learn's Cohen's kappa where the two coincide).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

MODEL = "model"                              # the rater name kept for the model
FIGURE_NAMES = ("iou", "dice", "precision", "recall")


def figures(cms: np.ndarray, fg: list[int]) -> np.ndarray:
    """(..., C, C) confusion stacks -> (..., 4, F+1): IoU, Dice, precision, recall per foreground
    class (one-vs-rest) and their mean over the classes where defined (NaN where 0/0)."""
    cms = np.asarray(cms, np.float64)
    diag = np.diagonal(cms, axis1=-2, axis2=-1)
    tp = diag[..., fg]
    fp = cms.sum(axis=-2)[..., fg] - tp
    fn = cms.sum(axis=-1)[..., fg] - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.stack([tp / (tp + fp + fn), 2 * tp / (2 * tp + fp + fn), tp / (tp + fp), tp / (tp + fn)], axis=-2)
    defined = ~np.isnan(per)
    mean = np.where(defined.any(-1), np.nansum(per, -1) / np.maximum(defined.sum(-1), 1), np.nan)
    return np.concatenate([per, mean[..., None]], axis=-1)


def mean_iou(cms: np.ndarray, fg: list[int]) -> np.ndarray:
    """(..., C, C) -> (...): mean IoU over the foreground classes defined in each matrix."""
    return figures(cms, fg)[..., 0, -1]


def _resampled(unit_cms: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return unit_cms[idx].sum(axis=-3)          # idx (..., n) -> (..., C, C)


def _ci(res, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scipy's interval; where it is NaN because every resample gave the same value, that value."""
    low, high = np.array(res.confidence_interval.low, float), np.array(res.confidence_interval.high, float)
    dist = np.asarray(res.bootstrap_distribution, float)
    flat = np.nanstd(dist, axis=-1) == 0 if dist.ndim > 1 else np.array(np.nanstd(dist) == 0)
    low, high = np.where(np.isnan(low) & flat, point, low), np.where(np.isnan(high) & flat, point, high)
    return low, high


def bootstrap_figures(unit_cms: np.ndarray, fg: list[int], n_resamples: int = 9999, seed: int = 0,
                      level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """BCa bootstrap intervals (low, high), each (4, F+1), resampling units (frames or videos)."""
    shape = (len(FIGURE_NAMES), len(fg) + 1)

    def statistic(idx, axis=-1):
        out = figures(_resampled(unit_cms, idx), fg)
        return np.moveaxis(out.reshape(*out.shape[:-2], -1), -1, 0)

    point = figures(unit_cms.sum(axis=0), fg).reshape(-1)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # degenerate resamples: handled by _ci
        res = stats.bootstrap((np.arange(len(unit_cms)),), statistic, n_resamples=n_resamples,
                              confidence_level=level, method="BCa", vectorized=True,
                              random_state=np.random.default_rng(seed), batch=500)
    low, high = _ci(res, point)
    return low.reshape(shape), high.reshape(shape)


def bootstrap_mean(values: np.ndarray, units: np.ndarray | None = None, n_resamples: int = 9999,
                   seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of per-frame values (NaN left out): BCa bootstrap over frames, or over
    videos when `units` names each frame's video (the mean stays a mean over frames)."""
    values = np.asarray(values, np.float64)
    keep = np.isfinite(values)
    if units is None:
        sums, counts = values[keep], np.ones(int(keep.sum()))
    else:
        u = np.asarray(units)[keep]
        groups = np.unique(u)
        sums = np.array([values[keep][u == g].sum() for g in groups])
        counts = np.array([float((u == g).sum()) for g in groups])
    if len(sums) < 2:
        return (float(sums.sum() / counts.sum()) if len(sums) else math.nan), math.nan, math.nan

    def statistic(idx, axis=-1):
        return sums[idx].sum(axis=-1) / counts[idx].sum(axis=-1)

    point = float(sums.sum() / counts.sum())
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap((np.arange(len(sums)),), statistic, n_resamples=n_resamples,
                              confidence_level=level, method="BCa", vectorized=True,
                              random_state=np.random.default_rng(seed), batch=500)
    low, high = _ci(res, np.array(point))
    return point, float(low), float(high)


def paired_tests(model_iou: np.ndarray, reader_iou: np.ndarray, units: np.ndarray | None = None,
                 n_resamples: int = 9999, seed: int = 0) -> dict:
    """Model vs reader on per-frame IoU: Wilcoxon signed-rank (frames where both agree exactly
    split their zero ranks, so identical labels give p = 1) and a paired sign-flip permutation
    test of the mean difference; with `units` (video of each frame) the signs flip per video, so
    frames of one video are not taken as independent. Frames where either IoU is undefined are left out."""
    keep = np.isfinite(model_iou) & np.isfinite(reader_iou)
    m, r = model_iou[keep], reader_iou[keep]
    d = m - r
    out = {"frames": int(keep.sum()), "mean_difference": float(d.mean()) if len(d) else math.nan,
           "median_difference": float(np.median(d)) if len(d) else math.nan}
    if len(d) < 2:
        return {**out, "wilcoxon_statistic": math.nan, "wilcoxon_p": math.nan, "permutation_p": math.nan,
                "permutation_unit": "frame"}
    w = stats.wilcoxon(m, r, zero_method="zsplit")
    if units is None:
        sample, unit = d, "frame"
    else:
        u = np.asarray(units)[keep]
        sample, unit = np.array([d[u == g].sum() for g in np.unique(u)]), "video"
    n = len(d)
    perm = stats.permutation_test((sample,), lambda x, axis=-1: np.sum(x, axis=axis) / n,
                                  permutation_type="samples", vectorized=True, n_resamples=n_resamples,
                                  alternative="two-sided", random_state=np.random.default_rng(seed))
    return {**out, "wilcoxon_statistic": float(w.statistic), "wilcoxon_p": float(w.pvalue),
            "permutation_p": float(perm.pvalue), "permutation_unit": unit, "permutation_units": len(sample)}


def non_inferiority(difference: float, low: float, high: float, margin: float) -> str:
    """'non-inferior' when the interval's lower end is above -margin, 'inferior' when its upper
    end is below it, else 'inconclusive'."""
    if math.isnan(low):
        return "inconclusive"
    if low > -margin:
        return "non-inferior"
    if high < -margin:
        return "inferior"
    return "inconclusive"


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of a (subjects, categories) table of how many raters chose each category."""
    counts = np.asarray(counts, np.float64)
    return FleissAccumulator.from_totals(counts.shape[0], counts.sum(axis=1)[0] if len(counts) else 0,
                                         float((counts ** 2).sum()), counts.sum(axis=0))


class FleissAccumulator:
    """Fleiss' kappa over pixels, fed frame by frame: only sums are kept, never the pixel table."""

    def __init__(self, n_categories: int):
        self.subjects, self.raters, self.sum_sq = 0, 0, 0.0
        self.totals = np.zeros(n_categories, np.float64)

    def add(self, labels: np.ndarray) -> None:
        """labels: (raters, pixels) category ids of the same pixels."""
        counts = np.stack([(labels == c).sum(axis=0) for c in range(len(self.totals))], axis=1).astype(np.float64)
        self.raters = labels.shape[0]
        self.subjects += labels.shape[1]
        self.sum_sq += float((counts ** 2).sum())
        self.totals += counts.sum(axis=0)

    def kappa(self) -> float:
        return self.from_totals(self.subjects, self.raters, self.sum_sq, self.totals)

    @staticmethod
    def from_totals(subjects: int, raters: float, sum_sq: float, totals: np.ndarray) -> float:
        if subjects == 0 or raters < 2:
            return math.nan
        n, r = float(subjects), float(raters)
        p_bar = (sum_sq - n * r) / (n * r * (r - 1))          # mean observed agreement per subject
        p_e = float(((totals / (n * r)) ** 2).sum())          # agreement expected by chance
        return math.nan if p_e == 1.0 else (p_bar - p_e) / (1.0 - p_e)


__all__ = ["figures", "mean_iou", "bootstrap_figures", "bootstrap_mean", "paired_tests",
           "non_inferiority", "fleiss_kappa", "FleissAccumulator", "FIGURE_NAMES"]
