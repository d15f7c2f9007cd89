"""A hospital trains its own privacy gate: a Label Studio export with the per-frame body choice ->
import-labelstudio -> gate-train --data -> gate-eval, real files end to end (no mocks)."""
import json

import cv2
import numpy as np
import pytest

from surgical_seg.apps.cli import main
from surgical_seg.data import ls_tasks, theatre
from surgical_seg.data.synth import render_sample

SIZE = (256, 144)
N = 15


def choice(value):
    return {"id": "b", "type": "choices", "from_name": "body", "to_name": "image", "origin": "manual",
            "value": {"choices": [value]}}


def task(tid, name, results):
    return {"id": tid, "data": {"image": f"/data/local-files/?d=round1/images/{name}"}, "meta": {}, "project": 1,
            "annotations": [{"id": 100 + tid, "completed_by": 1, "was_cancelled": False, "ground_truth": False,
                             "created_at": "2026-12-01T10:00:00.000000Z", "updated_at": "2026-12-01T10:00:00.000000Z",
                             "lead_time": 4.2, "task": tid, "result": results}], "predictions": []}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """N in-body synthetic frames (brush regions + in_body; one without regions) and N theatre frames
    (out_of_body; one with a brush region drawn by mistake), as PNGs and a Label Studio JSON export."""
    root = tmp_path_factory.mktemp("ls")
    images = root / "images"
    images.mkdir()
    tasks = []
    for i in range(N):
        img, labels = render_sample(500 + i, SIZE)[:2]
        name = f"in_{i:03d}.png"
        cv2.imwrite(str(images / name), img)
        regions = [] if i == 0 else [{**r, "origin": "manual"} for r in ls_tasks.brush_results(labels, ("bg", "bone", "ligament", "disc"))]
        tasks.append(task(len(tasks) + 1, name, regions + [choice("in_body")]))
    for i in range(N):
        view = theatre.theatre_view(theatre.theatre_canvas(700 + i, (640, 360)), 3.0 * i, SIZE, 700 + i)
        name = f"out_{i:03d}.png"
        cv2.imwrite(str(images / name), view)
        mistake = ls_tasks.brush_results(np.ones(SIZE[::-1], np.uint8), ("bg", "bone"))[:1] if i == 0 else []
        tasks.append(task(len(tasks) + 1, name, mistake + [choice("out_of_body")]))
    path = root / "export.json"
    path.write_text(json.dumps(tasks))
    return path, images, tasks


def test_body_choice_imports_trains_and_evaluates_a_gate(tmp_path, export, capsys):
    path, images, _ = export
    ds = tmp_path / "mine"
    assert main(["import-labelstudio", str(path), "--images", str(images), "--out", str(ds)]) == 0
    said = capsys.readouterr().out
    assert "in_body 15, out_of_body 15" in said
    assert sorted(p.name for p in (ds / "gate" / "out_of_body").iterdir()) == [f"out_{i:03d}.png" for i in range(N)]
    assert len(list((ds / "gate" / "in_body").iterdir())) == N
    # out-of-body frames are never segmentation training images (not even the one with a region)
    assert sorted(p.stem for p in (ds / "images").iterdir()) == [f"in_{i:03d}" for i in range(1, N)]
    assert sorted(p.stem for p in (ds / "labels").iterdir()) == [f"in_{i:03d}" for i in range(1, N)]

    gate = tmp_path / "gate"
    assert main(["gate-train", "--data", str(ds), "--images", "40", "--epochs", "4", "--out", str(gate)]) == 0
    card = (gate / "gate.yml").read_text()
    assert "heldout_data_auc" in card and str(ds) in card
    assert main(["gate-eval", str(ds), "--model", str(gate), "--json", str(tmp_path / "eval.json")]) == 0
    clip = json.loads((tmp_path / "eval.json").read_text())["clips"][0]
    assert clip["frames"] == 2 * N and clip["out_frames"] == N and clip["kind"] == "frames"
    assert clip["auc"] > 0.9


def test_a_bad_body_choice_is_one_line_naming_the_file_and_task(tmp_path, export, capsys):
    path, images, tasks = export
    bad = json.loads(json.dumps(tasks))
    bad[3]["annotations"][0]["result"][-1]["value"]["choices"] = ["outside"]
    bad_path = tmp_path / "bad.json"
    bad_path.write_text(json.dumps(bad))
    assert main(["import-labelstudio", str(bad_path), "--images", str(images), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(bad_path) in err and "task 4 (in_003.png)" in err and "'outside'" in err and "in_body" in err


def test_predicts_labeling_config_offers_the_body_choice():
    xml = ls_tasks.labeling_config(("background", "bone"), [(0, 0, 0), (255, 0, 0)])
    assert '<Choices name="body" toName="image"' in xml
    assert '<Choice value="in_body"/>' in xml and '<Choice value="out_of_body"/>' in xml
