"""Calibration: ECE against scikit-learn's calibration_curve, temperature fitting, export --calibrate + eval report."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from surgical_seg.apps.cli import main
from surgical_seg.evaluation.calibration import (N_BINS, CalibrationStats, expected_calibration_error,
                                                 fit_temperature)
from surgical_seg.modelcard import ModelCard


def softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sklearn_ece(p, y, n_bins=N_BINS):
    """Independent ECE: sklearn's per-bin frequencies and means, weighted by np.histogram's bin counts."""
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    counts, _ = np.histogram(p, bins=np.linspace(0, 1, n_bins + 1))
    counts = counts[counts > 0]
    assert len(counts) == len(prob_true)
    return float(np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred)))


def overconfident_sample(n=30000, true_t=2.0, seed=0):
    """Logits z; truth drawn from softmax(z / true_t): the raw softmax(z) is overconfident by true_t."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(n, 4))
    p_true = softmax(z / true_t, axis=1)
    truth = (rng.random(n)[:, None] > np.cumsum(p_true, axis=1)).sum(axis=1)
    return z, truth


def test_ece_equals_sklearn_calibration_curve():
    rng = np.random.default_rng(3)
    p = rng.random(50000) ** 0.5
    y = (rng.random(50000) < p ** 1.5).astype(int)
    assert expected_calibration_error(p, y) == pytest.approx(sklearn_ece(p, y), abs=1e-12)
    assert expected_calibration_error(p, p > 2) == pytest.approx(float(np.mean(p)), abs=1e-12)  # never right


def test_per_class_and_overall_ece_from_images_equal_sklearn():
    z, truth = overconfident_sample(n=2 * 40 * 60, seed=1)
    probs = softmax(z, axis=1).T.reshape(4, 2, 40, 60).astype(np.float32)
    labels = truth.reshape(2, 40, 60).copy()
    labels[:, :3] = 255                                      # ignored pixels stay out
    stats = CalibrationStats(("background", "bone", "ligament", "disc"), temperature=1.8)
    for i in range(2):                                       # two "images" accumulate
        stats.update(labels[i], probs[:, i])
    res = stats.result()["ece"]
    keep = labels != 255
    t = labels[keep]
    for when, T in (("before", 1.0), ("after", 1.8)):
        p = softmax(np.log(probs[:, keep].astype(np.float64)) / T, axis=0)
        assert res[when]["overall"] == pytest.approx(sklearn_ece(p.max(0), p.argmax(0) == t), abs=1e-5)
        for k, name in enumerate(("background", "bone", "ligament", "disc")):
            assert res[when][name] == pytest.approx(sklearn_ece(p[k], t == k), abs=1e-5), (when, name)


def test_fit_temperature_recovers_the_overconfidence_and_lowers_ece():
    z, truth = overconfident_sample(true_t=2.0)
    log_p = np.log(softmax(z, axis=1))
    t = fit_temperature(log_p, truth)
    assert t == pytest.approx(2.0, rel=0.06)
    before = expected_calibration_error(np.exp(log_p).max(1), log_p.argmax(1) == truth)
    after_p = softmax(log_p / t, axis=1)
    after = expected_calibration_error(after_p.max(1), after_p.argmax(1) == truth)
    assert before > 0.05 and after < before / 3


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, tiny_run_dir):
    tmp = tmp_path_factory.mktemp("calib")
    data = tmp / "ds"
    assert main(["synth", "--out", str(data), "--images", "8", "--seed", "9", "--size", "160x96"]) == 0
    assert main(["split", str(data), "--group-pattern", "^(.+)$", "--ratios", "0.5,0.25,0.25"]) == 0
    rc = main(["export", str(tiny_run_dir), "--out", str(tmp / "m"), "--calibrate", str(data)])
    return rc, tmp / "m", data


def test_export_calibrate_stores_the_temperature_and_the_dygraph_weights(calibrated, capsys):
    rc, model, data = calibrated
    assert rc == 0
    card = ModelCard.load(model)
    cal = card.training["calibration"]
    assert card.temperature == cal["temperature"] and card.temperature != 1.0
    assert cal["split"] == "val" and cal["images"] == 2 and cal["pixels"] > 1000
    assert (model / "model.pdparams").stat().st_size > 100_000


def test_eval_reports_ece_before_and_after(calibrated, tmp_path, capsys):
    _, model, data = calibrated
    capsys.readouterr()
    assert main(["eval", "--data", str(data), "--model", str(model), "--json", str(tmp_path / "e.json"),
                 "--report", str(tmp_path / "rep")]) == 0
    res = json.loads((tmp_path / "e.json").read_text())["calibration"]
    card = ModelCard.load(model)
    assert res["temperature"] == card.temperature and res["n_bins"] == N_BINS
    assert set(res["ece"]["before"]) == {"overall", "background", "bone", "ligament", "disc"}
    assert res["ece"]["before"]["overall"] != res["ece"]["after"]["overall"]
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "## Calibration" in text and "![reliability diagram](reliability.png)" in text
    img = cv2.imread(str(tmp_path / "rep" / "reliability.png"))
    assert img is not None and img.shape[1] > 1000 and img.std() > 5
    assert "ECE (top label" in capsys.readouterr().out


def test_calibrate_without_a_val_split(tmp_path, tiny_run_dir, capsys):
    data = tmp_path / "ds"
    assert main(["synth", "--out", str(data), "--images", "2", "--seed", "9", "--size", "160x96"]) == 0
    for f in data.glob("*.txt"):
        f.unlink()
    assert main(["export", str(tiny_run_dir), "--out", str(tmp_path / "m"), "--calibrate", str(data)]) == 2
    assert "val.txt" in capsys.readouterr().err
