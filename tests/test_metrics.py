"""Every figure of the study's table against scikit-learn on the same predictions, to 1e-6."""
import math

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, jaccard_score, precision_score,
                             recall_score, roc_auc_score)
from sklearn.metrics import roc_curve as sk_roc_curve

from surgical_seg.modelcard import CLASS_NAMES, FOREGROUND
from surgical_seg.evaluation.metrics import SegmentationMetrics, auc, roc_curve


def fake_model(seed, n_images=5, shape=(40, 56)):
    """(truth, prediction, softmax) per image: a noisy model that is right more often than not."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_images):
        truth = rng.choice(4, shape, p=[0.4, 0.25, 0.2, 0.15]).astype(np.uint8)
        truth[: 3 + i] = 255                                                  # outside the scope circle
        logits = rng.normal(size=(4, *shape)) + 1.5 * (np.arange(4)[:, None, None] == truth[None])
        probs = (np.exp(logits) / np.exp(logits).sum(0, keepdims=True)).astype(np.float32)
        probs[:, :2, :] = np.round(probs[:, :2, :], 1)                        # some tied scores too
        out.append((truth, probs.argmax(0).astype(np.uint8), probs))
    return out


def flat(data):
    keep = [t != 255 for t, _, _ in data]
    y = np.concatenate([t[k] for (t, _, _), k in zip(data, keep)])
    p = np.concatenate([pr[k] for (_, pr, _), k in zip(data, keep)])
    s = np.concatenate([pb[:, k].T for (_, _, pb), k in zip(data, keep)])
    return y, p, s


def test_every_figure_matches_sklearn():
    data = fake_model(0)
    m = SegmentationMetrics()
    for truth, pred, probs in data:
        m.update(truth, pred, probs)
    res = m.result()
    y, p, s = flat(data)
    assert res["num_images"] == 5 and res["num_pixels"] == y.size < 5 * 40 * 56
    assert np.array_equal(res["confusion_matrix"], confusion_matrix(y, p, labels=[0, 1, 2, 3]))
    assert res["pixel_accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-6)
    for name in FOREGROUND:
        k = CLASS_NAMES.index(name)
        yt, yp = y == k, p == k
        got = res["per_class"][name]
        assert got["accuracy"] == pytest.approx(accuracy_score(yt, yp), abs=1e-6)
        assert got["precision"] == pytest.approx(precision_score(yt, yp), abs=1e-6)
        assert got["recall"] == pytest.approx(recall_score(yt, yp), abs=1e-6)
        assert got["iou"] == pytest.approx(jaccard_score(yt, yp), abs=1e-6)
        assert got["dice"] == pytest.approx(f1_score(yt, yp), abs=1e-6)
        assert got["auc"] == pytest.approx(roc_auc_score(yt, s[:, k]), abs=1e-6)
        fpr, tpr, thr = m.roc(name)
        sk_fpr, sk_tpr, sk_thr = sk_roc_curve(yt, s[:, k], drop_intermediate=False)
        assert np.allclose(fpr, sk_fpr, atol=1e-9) and np.allclose(tpr, sk_tpr, atol=1e-9)
        assert np.allclose(thr[1:], sk_thr[1:])
    for f in res["mean"]:
        assert res["mean"][f] == pytest.approx(np.mean([res["per_class"][n][f] for n in FOREGROUND]), abs=1e-12)
    assert 0.2 < res["mean"]["iou"] < 0.8 and 0.6 < res["mean"]["auc"] < 0.95   # neither perfect nor useless


def test_weighted_roc_matches_sklearn_sample_weight():
    rng = np.random.default_rng(3)
    pos, neg = np.round(rng.random(300) + 0.2, 1), np.round(rng.random(700), 1)   # many ties
    pw, nw = rng.uniform(0.5, 3, 300), rng.uniform(0.5, 3, 700)
    fpr, tpr, _ = roc_curve(pos, neg, pw, nw)
    y, s, w = np.r_[np.ones(300), np.zeros(700)], np.r_[pos, neg], np.r_[pw, nw]
    sk_fpr, sk_tpr, _ = sk_roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    assert np.allclose(fpr, sk_fpr, atol=1e-12) and np.allclose(tpr, sk_tpr, atol=1e-12)
    assert auc(fpr, tpr) == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)


def test_sampled_auc_is_bounded_and_weighted_by_true_pixel_counts():
    """Two images of very different size and quality: the big one must dominate, as in the full data."""
    rng = np.random.default_rng(5)
    images = []
    for size, sep in ((200, 2.5), (40, 0.0)):                  # big image: good model; small one: guessing
        truth = rng.integers(0, 4, (size, size)).astype(np.uint8)
        logits = rng.normal(size=(4, size, size)) + sep * (np.arange(4)[:, None, None] == truth[None])
        probs = (np.exp(logits) / np.exp(logits).sum(0, keepdims=True)).astype(np.float32)
        images.append((truth, probs.argmax(0).astype(np.uint8), probs))
    exact, sampled = SegmentationMetrics(auc_samples=None), SegmentationMetrics(auc_samples=300)
    for truth, pred, probs in images:
        exact.update(truth, pred, probs)
        sampled.update(truth, pred, probs)
    kept = sampled._scores[1]
    assert [len(c) for c, _ in kept.pos] == [300, 300] and [len(c) for c, _ in kept.neg] == [300, 300]
    y, _, s = flat(images)
    full = roc_auc_score(y == 1, s[:, 1])
    assert exact.result()["per_class"]["bone"]["auc"] == pytest.approx(full, abs=1e-9)
    got = sampled.result()["per_class"]["bone"]["auc"]
    (p, _), (n, _) = kept._join(kept.pos), kept._join(kept.neg)
    unweighted = auc(*roc_curve(p, n)[:2])
    assert abs(got - full) < 0.02 < abs(unweighted - full)
    assert sampled.result()["confusion_matrix"] == exact.result()["confusion_matrix"]   # counts stay exact


def test_ignore_pixels_never_count_and_undefined_figures_are_nan():
    truth = np.full((30, 30), 255, np.uint8)
    truth[10:20, 10:20] = 1                                       # only bone inside the scope
    pred = np.where(truth == 255, 3, 1).astype(np.uint8)          # disc predicted only where ignored
    probs = np.zeros((4, 30, 30), np.float32)
    probs[1] = np.linspace(0, 1, 900).reshape(30, 30)
    m = SegmentationMetrics()
    m.update(truth, pred, probs)
    res = m.result()
    assert res["num_pixels"] == 100 and res["pixel_accuracy"] == 1.0
    assert res["per_class"]["bone"]["iou"] == 1.0 and res["per_class"]["ligament"]["accuracy"] == 1.0
    assert math.isnan(res["per_class"]["disc"]["iou"]) and math.isnan(res["per_class"]["disc"]["precision"])
    assert math.isnan(res["per_class"]["bone"]["auc"])           # no negative pixel: AUC undefined, not 0.5
    assert res["mean"]["iou"] == 1.0                              # the mean skips undefined classes


def test_wrong_inputs_are_refused():
    m = SegmentationMetrics()
    with pytest.raises(ValueError, match="differ in size"):
        m.update(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="truth holds class id 7"):
        m.update(np.full((4, 4), 7, np.uint8), np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="probabilities"):
        m.update(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), np.zeros((3, 4, 4), np.float32))
    assert m.num_images == 0 and m.result()["num_pixels"] == 0
