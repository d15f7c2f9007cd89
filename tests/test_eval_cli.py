"""`surgical-seg eval` end to end: synth -> split -> eval with the tiny exported model."""
import json

import cv2
import numpy as np
import pytest

from surgical_seg.apps.cli import main

FIGURES = {"accuracy", "precision", "recall", "iou", "dice", "auc"}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("eval") / "ds"
    assert main(["synth", "--out", str(data), "--images", "12", "--seed", "5", "--size", "160x96"]) == 0
    # every frame its own group, so a 12-frame set still has a test split
    assert main(["split", str(data), "--group-pattern", "^(.+)$", "--ratios", "0.5,0.25,0.25"]) == 0
    return data


def test_eval_writes_json_predictions_and_report(tmp_path, tiny_data, tiny_model_dir, capsys):
    out_json, preds, report = tmp_path / "e.json", tmp_path / "pred", tmp_path / "rep"
    assert main(["eval", "--data", str(tiny_data), "--model", str(tiny_model_dir), "--json", str(out_json),
                 "--predictions", str(preds), "--report", str(report)]) == 0
    res = json.loads(out_json.read_text())
    assert {"per_class", "mean", "pixel_accuracy", "confusion_matrix", "num_images", "model", "backend",
            "split", "data"} <= set(res)
    assert set(res["per_class"]) == {"bone", "ligament", "disc"}
    assert all(set(v) == FIGURES for v in res["per_class"].values()) and set(res["mean"]) == FIGURES
    assert res["split"] == "test" and res["backend"] == "openvino" and res["data"] == str(tiny_data)

    # predictions: one PNG per test frame under the label's name; they reproduce the confusion matrix
    tests = [line.split()[1] for line in (tiny_data / "test.txt").read_text().splitlines()]
    assert res["num_images"] == len(tests) == 3
    assert sorted(p.name for p in preds.iterdir()) == sorted(t.split("/")[1] for t in tests)
    cm = np.zeros((4, 4), np.int64)
    for t in tests:
        truth = cv2.imread(str(tiny_data / t), cv2.IMREAD_UNCHANGED)
        pred = cv2.imread(str(preds / t.split("/")[1]), cv2.IMREAD_UNCHANGED)
        assert pred.shape == truth.shape == (96, 160) and pred.max() <= 3
        keep = truth != 255
        np.add.at(cm, (truth[keep], pred[keep]), 1)
    assert cm.sum() == 3 * 96 * 160 and cm.tolist() == res["confusion_matrix"]     # the surround counts as background
    assert res["pixel_accuracy"] == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-12)
    bone = res["per_class"]["bone"]
    assert bone["iou"] == pytest.approx(cm[1, 1] / (cm[1].sum() + cm[:, 1].sum() - cm[1, 1]), abs=1e-12)
    assert 0.0 <= bone["auc"] <= 1.0

    text = (report / "report.md").read_text()
    assert "| **mean** |" in text and "| mean IoU | 67.3 % |" in text and "| AUC disc | 0.978 |" in text
    assert "**real**" in text and "synthetic frames" in text
    for png in ("confusion_matrix.png", "roc.png"):
        img = cv2.imread(str(report / png))
        assert img is not None and img.shape[0] > 300 and img.std() > 5
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["accuracy", "precision", "recall", "iou", "dice", "auc"]
    assert any(line.startswith("mean ") for line in table.splitlines()) and "pixel accuracy" in table


def test_eval_degraded_and_instrument_share(tmp_path, tiny_model_dir, capsys):
    """--degrade changes the frames (deterministically); instrument masks give labelled_share."""
    data = tmp_path / "ds"
    assert main(["synth", "--out", str(data), "--images", "6", "--seed", "8", "--size", "160x96",
                 "--instrument-masks"]) == 0
    assert len(list((data / "instruments").glob("*.png"))) == 6
    runs = {}
    for name, extra in (("clean", []), ("deg", ["--degrade"]), ("deg2", ["--degrade", "0"]), ("deg3", ["--degrade", "1"])):
        out = tmp_path / f"{name}.json"
        assert main(["eval", "--data", str(data), "--split", "all", "--model", str(tiny_model_dir),
                     "--json", str(out), "--predictions", str(tmp_path / f"p_{name}")] + extra) == 0
        runs[name] = json.loads(out.read_text())
    assert runs["clean"]["degraded"] is False and runs["deg"]["degraded"] is True
    assert runs["deg"]["confusion_matrix"] == runs["deg2"]["confusion_matrix"]          # seeded per frame
    assert runs["deg"]["confusion_matrix"] != runs["clean"]["confusion_matrix"]
    assert runs["deg"]["confusion_matrix"] != runs["deg3"]["confusion_matrix"]
    tools = runs["clean"]["instruments"]
    assert tools["images"] == 6 and tools["pixels"] > 0
    # recompute the share from the written predictions and the masks
    on = labelled = 0
    for mask_path in (data / "instruments").glob("*.png"):
        mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED) > 0
        pred = cv2.imread(str(tmp_path / "p_clean" / mask_path.name), cv2.IMREAD_UNCHANGED)
        on += int(mask.sum())
        labelled += int((pred[mask] != 0).sum())
    assert on == tools["pixels"] and tools["labelled_share"] == pytest.approx(labelled / on)
    assert "instrument pixels labelled as anatomy" in capsys.readouterr().out


def test_eval_errors_are_one_line(tmp_path, tiny_data, tiny_model_dir, capsys):
    def fails(args, words):
        assert main(["eval", *args]) == 2
        err = capsys.readouterr().err.strip()
        errors = [line for line in err.splitlines() if "surgical-seg eval: error:" in line]   # beside tqdm's bar
        assert len(errors) == 1 and words in errors[0] and "Traceback" not in err, err

    fails(["--data", str(tmp_path / "nope"), "--model", str(tiny_model_dir)], "nope: dataset folder not found")
    fails(["--data", str(tiny_data), "--model", str(tmp_path / "no_model")], "not found")
    bad = tmp_path / "bad"
    (bad / "images").mkdir(parents=True)
    (bad / "labels").mkdir()
    fails(["--data", str(bad), "--model", str(tiny_model_dir)], "test.txt: split file not found")
    cv2.imwrite(str(bad / "images" / "a_0.png"), np.zeros((96, 160, 3), np.uint8))
    cv2.imwrite(str(bad / "labels" / "a_0.png"), np.full((96, 160), 7, np.uint8))
    fails(["--data", str(bad), "--split", "all", "--model", str(tiny_model_dir)], "a_0.png: label id 7 not in the default classes")
    cv2.imwrite(str(bad / "labels" / "a_0.png"), np.zeros((48, 80), np.uint8))
    fails(["--data", str(bad), "--split", "all", "--model", str(tiny_model_dir)], "label is 80x48, image a_0.png is 160x96")


def test_eval_applies_min_region_and_defaults_to_the_app(tmp_path, tiny_data, tiny_model_dir):
    """engine.min_region reaches still evaluation as it reaches the app (tests/test_min_region.py)."""
    from surgical_seg.config import load_app_config
    out = tmp_path / "e.json"
    assert main(["eval", "--data", str(tiny_data), "--model", str(tiny_model_dir), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["min_region"] == load_app_config().engine.min_region
    assert main(["eval", "--data", str(tiny_data), "--model", str(tiny_model_dir), "--json", str(out),
                 "--min-region", "0.01"]) == 0
    assert json.loads(out.read_text())["min_region"] == 0.01
    assert main(["eval", "--data", str(tiny_data), "--model", str(tiny_model_dir), "--min-region", "0.7"]) == 2


def test_eval_runs_the_precision_asked_for(tmp_path, tiny_data, tiny_model_dir, capsys):
    """--precision reaches the engine; one the model has no graph for fails in one line (no model_int8.onnx)."""
    out = tmp_path / "e.json"
    assert main(["eval", "--data", str(tiny_data), "--model", str(tiny_model_dir), "--json", str(out),
                 "--precision", "f32"]) == 0
    assert json.loads(out.read_text())["precision"] == "f32"
    capsys.readouterr()
    assert main(["eval", "--data", str(tiny_data), "--model", str(tiny_model_dir), "--precision", "int8"]) == 2
    assert "model_int8.onnx: missing model file" in capsys.readouterr().err
