"""Any class list: classes.yml written and read, wrong ids refused with one line naming the file,
and a 5-class (nerve) dataset -> tiny training -> export -> eval -> viewer with 4 toggles."""
import json

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import Qt

from surgical_seg.data.classlist import MANIFEST, ClassList
from surgical_seg.apps.cli import main
from surgical_seg.errors import DataError
from surgical_seg.data.synth import render_frame


def test_manifest_round_trip_and_default(tmp_path):
    cl = ClassList.from_foreground(["bone", "ligament", "disc", "nerve"])
    assert cl.names == ("background", "bone", "ligament", "disc", "nerve") and cl.colors_rgb[4] == (235, 60, 220)
    cl.save(tmp_path)
    back = ClassList.load(tmp_path / MANIFEST)
    assert (back.names, back.colors_rgb, back.ignore) == (cl.names, cl.colors_rgb, 255)
    assert ClassList.for_dataset(tmp_path / "none").names == ("background", "bone", "ligament", "disc")


@pytest.mark.parametrize("text, message", [
    ("classes:\n- {id: 0, name: background, color: [0,0,0]}\n- {id: 2, name: bone, color: [1,2,3]}\n",
     "ids must run 0, 1"),
    ("classes:\n- {id: 0, name: background, color: [0,0,0]}\n- {id: 1, name: Background, color: [1,2,3]}\n",
     "distinct"),
    ("classes:\n- {id: 0, name: background}\n- {id: 1, name: bone, color: [1,2,3]}\n", "needs id, name and color"),
    ("ignore: 1\nclasses:\n- {id: 0, name: background, color: [0,0,0]}\n- {id: 1, name: bone, color: [1,2,3]}\n",
     "ignore id 1"),
    ("just text", "expected 'classes:'"),
])
def test_bad_manifest_is_one_clear_error(tmp_path, text, message):
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(DataError, match=message) as e:
        ClassList.for_dataset(tmp_path)
    assert str(tmp_path / MANIFEST) in str(e.value)


def test_out_of_manifest_label_id_fails_in_split_naming_both_files(tmp_path, capsys):
    data = tmp_path / "ds"
    for d in ("images", "labels"):
        (data / d).mkdir(parents=True)
    for i in range(3):
        img, lab = render_frame(i, (96, 64))
        if i == 2:
            lab[5, 5] = 4                               # a nerve id in a 4-class dataset
        cv2.imwrite(str(data / "images" / f"v{i}_0000.png"), img)
        cv2.imwrite(str(data / "labels" / f"v{i}_0000.png"), lab)
    ClassList.default().save(data)
    assert main(["split", str(data)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{data / 'labels' / 'v2_0000.png'}: label id 4 not in {data / MANIFEST}" in err
    (data / MANIFEST).unlink()                          # no manifest: the default four classes say so
    assert main(["split", str(data)]) == 2
    assert f"not in the default classes (no {MANIFEST} in {data})" in capsys.readouterr().err


def test_synth_labels_the_nerve_as_class_4_only_when_asked():
    seeds = [s for s in range(20) if (render_frame(s, (160, 96), nerve_id=4)[1] == 4).any()]
    assert len(seeds) >= 4                              # the nerve root is drawn in ~45 % of frames
    _, plain = render_frame(seeds[0], (160, 96))
    _, nerve = render_frame(seeds[0], (160, 96), nerve_id=4)
    assert not (plain == 4).any() and (nerve == 4).any()
    assert ((plain == nerve) | (nerve == 4)).all() and (plain[nerve == 4] == 0).all()


def test_five_classes_end_to_end(tmp_path, qtbot, monkeypatch, capsys):
    """synth with a nerve class -> tiny train -> export -> eval with nerve -> viewer with 4 toggles."""
    data = tmp_path / "ds"
    assert main(["synth", "--out", str(data), "--images", "40", "--seed", "5", "--size", "192x108",
                 "--classes", "bone,ligament,disc,nerve"]) == 0
    assert ClassList.for_dataset(data).names == ("background", "bone", "ligament", "disc", "nerve")
    assert sum((cv2.imread(str(p), cv2.IMREAD_UNCHANGED) == 4).any() for p in (data / "labels").glob("*.png")) >= 5
    cfg = tmp_path / "t.yml"
    cfg.write_text(f"architecture: FastSCNN\nname: nerve5\ndata: {data}\ninput_width: 128\ninput_height: 96\n"
                   "batch_size: 2\niters: 3\neval_every: 3\nlog_every: 1\nwarmup_iters: 1\nthreads: 1\n")
    run, model = tmp_path / "run", tmp_path / "model"
    assert main(["train", "--config", str(cfg), "--out", str(run)]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["classes"][-1] == "nerve" and len(info["colors_rgb"]) == 5
    assert main(["export", str(run), "--out", str(model), "--check-data", str(data)]) == 0
    out = tmp_path / "eval.json"
    assert main(["eval", "--data", str(data), "--split", "all", "--model", str(model), "--json", str(out),
                 "--report", str(tmp_path / "rep")]) == 0
    res = json.loads(out.read_text())
    assert list(res["per_class"]) == ["bone", "ligament", "disc", "nerve"]
    assert np.asarray(res["confusion_matrix"]).shape == (5, 5)
    assert np.asarray(res["confusion_matrix"])[4].sum() > 0             # nerve pixels scored as truth
    assert "| nerve |" in (tmp_path / "rep" / "report.md").read_text()
    assert "5 classes incl. background" in (tmp_path / "rep" / "report.md").read_text()

    # a 4-class dataset cannot be evaluated with the 5-class model: one line, no traceback
    four = tmp_path / "four"
    assert main(["synth", "--out", str(four), "--images", "4", "--seed", "6", "--size", "96x64"]) == 0
    capsys.readouterr()
    assert main(["eval", "--data", str(four), "--split", "all", "--model", str(model)]) == 2
    err = capsys.readouterr().err
    assert "differ from the dataset's background, bone, ligament, disc" in err and len(err.strip().splitlines()) == 1

    # the viewer: one toggle per foreground class, key 4 hides the nerve
    from test_viewer import open_window, temp_settings  # noqa: F401  (real window helpers)
    from surgical_seg.engine import load_segmenter
    from surgical_seg.viewer.settings import ENV_VAR
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "viewer.ini"))
    clip = tmp_path / "clip.mp4"
    assert main(["synth", "--video", str(clip), "--seconds", "0.5", "--size", "192x108", "--seed", "3"]) == 0
    win = open_window(qtbot, load_segmenter(str(model)), clip)
    assert list(win.controls.class_boxes) == ["bone", "ligament", "disc", "nerve"]
    from PyQt6.QtWidgets import QApplication
    win.activateWindow()                                # application shortcuts need an active window
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    qtbot.keyClick(win, Qt.Key.Key_4)
    assert win.controls.choice().hidden_classes == ("nerve",)
    qtbot.keyClick(win, Qt.Key.Key_4)
    assert win.controls.choice().hidden_classes == ()
