"""`eval --video`: labelled clips scored per clip and per frame (evaluation/clipscore.py, video_eval.py)."""
import json
import math

import cv2
import numpy as np
import pytest

from surgical_seg.apps.cli import main
from surgical_seg.evaluation.clipscore import ClipScore

NAMES = ("background", "bone", "ligament", "disc")


def test_frame_miou_leaves_out_absent_classes_and_counts_spurious_ones():
    s = ClipScore(NAMES, worst=2)
    truth = np.zeros((10, 10), np.uint8)
    truth[:, :5] = 1                                   # bone only
    pred = truth.copy()
    assert s.add(0, truth, pred) == 1.0                # ligament and disc absent from both: left out, not 0 or 1
    pred2 = truth.copy()
    pred2[0:2, 5:7] = 3                                # a 4-pixel disc blob where there is no disc
    assert s.add(1, truth, pred2) == pytest.approx((1.0 + 0.0) / 2)
    truth3 = np.full((10, 10), 255, np.uint8)
    truth3[:5] = 0                                     # half ignored, no foreground anywhere
    assert math.isnan(s.add(2, truth3, np.zeros_like(truth3)))
    r = s.result()
    assert r["frames"] == 3 and r["frames_empty"] == 1
    assert r["frame_miou"] == pytest.approx(0.75) and r["frame_miou_min"] == pytest.approx(0.5)
    assert r["present"] == ["bone"] and r["per_class"]["ligament"] is None
    assert r["per_class"]["disc"] == 0.0 and r["miou"] == 1.0           # disc is not in the clip's mean...
    assert r["scored_pixels"] == 250
    assert r["spurious_share"] == pytest.approx(4 / 250)              # ...but in the spurious share
    assert r["spurious_by_class"]["disc"] == pytest.approx(4 / 250)
    assert [w["frame"] for w in r["worst"]] == [1, 0] and r["worst"][0]["spurious_pixels"] == 4


def test_pooled_iou_is_over_all_pixels_and_worst_frames_are_kept(tmp_path):
    s = ClipScore(NAMES, worst=3)
    rng = np.random.default_rng(0)
    cm = np.zeros((4, 4), np.int64)
    mious = []
    for i in range(12):
        truth = rng.integers(0, 4, (24, 40)).astype(np.uint8)
        pred = np.where(rng.random((24, 40)) < 0.1 * (i % 5), rng.integers(0, 4, (24, 40)), truth).astype(np.uint8)
        np.add.at(cm, (truth.ravel(), pred.ravel()), 1)
        mious.append(s.add(i, truth, pred, np.full((24, 40, 3), 90, np.uint8)))
    r = s.result()
    assert r["confusion_matrix"] == cm.tolist()
    for k, name in enumerate(NAMES[1:], 1):
        assert r["per_class"][name] == pytest.approx(cm[k, k] / (cm[k].sum() + cm[:, k].sum() - cm[k, k]))
    assert r["miou"] == pytest.approx(np.mean(list(r["per_class"].values())))
    assert r["frame_miou"] == pytest.approx(np.mean(mious))
    order = np.argsort(mious, kind="stable")[:3]
    assert [w["frame"] for w in r["worst"]] == order.tolist()
    sheet = s.contact_sheet(tmp_path / "w.png", "title")
    img = cv2.imread(str(sheet))
    assert img.shape[1] == 3 * 320 and img.shape[0] == 26 + 3 * (22 + 192)


@pytest.fixture(scope="module")
def labelled_clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    for name, seed, motion in (("a", 3, "fast"), ("b", 4, "slow")):
        assert main(["synth", "--video", str(d / f"{name}.mp4"), "--seconds", "0.8", "--fps", "10", "--size", "192x108",
                     "--seed", str(seed), "--motion", motion, "--labels-dir", str(d / f"{name}_labels"),
                     "--instruments-dir", str(d / f"{name}_instruments")]) == 0
    return d


def test_eval_video_folder_writes_json_report_and_contact_sheets(labelled_clips, tiny_model_dir, tmp_path, capsys):
    out, rep = tmp_path / "v.json", tmp_path / "rep"
    assert main(["eval", "--video", str(labelled_clips), "--model", str(tiny_model_dir), "--json", str(out),
                 "--report", str(rep), "--worst", "4"]) == 0
    res = json.loads(out.read_text())
    assert res["smoothing"] == 0.5 and res["upsample"] == "bilinear"      # the app's engine settings
    assert [c["clip"] for c in res["clips"]] == ["a.mp4", "b.mp4"]
    for c in res["clips"]:
        assert c["frames"] == 8 and c["size"] == [192, 108] and c["fps"] == 10
        cm = np.array(c["confusion_matrix"])
        assert cm.sum() == c["scored_pixels"] == 8 * 192 * 108
        truth_px = np.zeros(4, np.int64)
        for i in range(8):
            lab = cv2.imread(str(labelled_clips / f"{c['clip'][0]}_labels" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
            truth_px += np.bincount(lab.ravel(), minlength=4)[:4]
        assert cm.sum(1).tolist() == truth_px.tolist()                   # rows are the truth PNGs
        present = [n for k, n in enumerate(NAMES[1:], 1) if truth_px[k]]
        assert c["present"] == present
        assert c["miou"] == pytest.approx(np.mean([c["per_class"][n] for n in present]))
        assert 0 <= c["spurious_share"] <= 1 and 0 <= c["instruments_labelled"] <= 1
        assert len(c["worst"]) == 4 and c["worst"][0]["miou"] <= c["frame_miou"]
        sheet = cv2.imread(c["contact_sheet"])
        assert sheet is not None and sheet.shape[0] == 26 + 4 * (22 + 180)
    md = (rep / "report.md").read_text()
    assert "| `a.mp4` | 192×108 | 10 | 8 |" in md and "spurious share" in md
    text = capsys.readouterr().out
    assert "a.mp4: mIoU" in text and "mean per-frame mIoU" in text


def test_eval_one_clip_with_labels_and_user_errors(labelled_clips, tiny_model_dir, tmp_path, capsys):
    clip = tmp_path / "x.mp4"
    clip.write_bytes((labelled_clips / "a.mp4").read_bytes())
    assert main(["eval", "--video", str(clip), "--model", str(tiny_model_dir)]) == 2
    err = capsys.readouterr().err
    assert "no per-frame truth" in err and len(err.strip().splitlines()) == 1
    assert main(["eval", "--video", str(clip), "--labels", str(labelled_clips / "a_labels"),
                 "--model", str(tiny_model_dir), "--json", str(tmp_path / "x.json")]) == 0
    assert json.loads((tmp_path / "x.json").read_text())["clips"][0]["frames"] == 8
    # truth of another length: refused, not scored
    assert main(["eval", "--video", str(clip), "--labels", str(labelled_clips / "b_labels"),
                 "--model", str(tiny_model_dir)]) == 0      # same length: accepted (cannot be told apart)
    short = tmp_path / "short"
    short.mkdir()
    for i in range(3):
        (short / f"{i:06d}.png").write_bytes((labelled_clips / "a_labels" / f"{i:06d}.png").read_bytes())
    assert main(["eval", "--video", str(clip), "--labels", str(short), "--model", str(tiny_model_dir)]) == 2
    assert "000003.png" in capsys.readouterr().err
    assert main(["eval", "--model", str(tiny_model_dir)]) == 2
    assert "--video" in capsys.readouterr().err
    assert main(["eval", "--video", str(labelled_clips), "--data", str(tmp_path)]) == 2


def test_small_regions_take_the_label_around_them():
    from surgical_seg.engine.regions import drop_small_regions
    lab = np.zeros((40, 40), np.uint8)
    lab[:, :20] = 1                                   # bone on the left half
    lab[5:8, 5:8] = 3                                 # 9 px of disc inside bone
    lab[30:33, 30:32] = 2                             # 6 px of ligament in background
    big = lab.copy()
    big[10:30, 25:35] = 3                             # 200 px of disc: kept
    out = drop_small_regions(big, 0.01, 4)            # 16 px minimum
    assert (out[5:8, 5:8] == 1).all() and (out[30:33, 30:32] == 0).all()
    assert (out[10:30, 25:35] == 3).all() and (out[:, :20] == 1).all()
    assert drop_small_regions(big, 0.0, 4) is big
    assert (big[5:8, 5:8] == 3).all()                 # the input is not changed


def test_min_region_is_reported(labelled_clips, tiny_model_dir, tmp_path):
    out = tmp_path / "m.json"
    assert main(["eval", "--video", str(labelled_clips / "a.mp4"), "--model", str(tiny_model_dir), "--json", str(out),
                 "--min-region", "0.01"]) == 0
    res = json.loads(out.read_text())
    assert res["min_region"] == 0.01
    assert main(["eval", "--video", str(labelled_clips / "a.mp4"), "--model", str(tiny_model_dir),
                 "--min-region", "0.7"]) == 2


def test_worst_zero_keeps_no_frames_and_still_scores():
    s = ClipScore(NAMES, worst=0)
    truth = np.zeros((10, 10), np.uint8)
    truth[:, :5] = 1
    assert s.add(0, truth, truth) == 1.0 and s.add(1, truth, np.zeros_like(truth)) == 0.0
    r = s.result()
    assert r["frames"] == 2 and r["worst"] == [] and r["frame_miou"] == pytest.approx(0.5)
