"""Synthetic scenes: deterministic, exact labels, classes not separable by colour alone."""
import av
import cv2
import numpy as np
import pytest

from surgical_seg.apps.cli import main
from surgical_seg.data import synth


def test_frames_are_deterministic_and_seed_dependent():
    a_img, a_lab = synth.render_frame(123, (320, 180))
    b_img, b_lab = synth.render_frame(123, (320, 180))
    c_img, _ = synth.render_frame(124, (320, 180))
    assert np.array_equal(a_img, b_img) and np.array_equal(a_lab, b_lab)
    assert not np.array_equal(a_img, c_img)
    assert a_img.shape == (180, 320, 3) and a_img.dtype == np.uint8
    assert a_lab.shape == (180, 320) and a_lab.dtype == np.uint8


def test_black_surround_and_instruments_are_background():
    img, lab, tools = synth.render_sample(5, (320, 180))
    assert set(np.unique(lab)) <= {0, 1, 2, 3}
    dark = img.max(axis=2) < 25
    assert dark[0, 0] and dark[0, -1] and not dark[90, 160]            # scope circle centred
    assert (lab[0, :40] == 0).all() and (lab[-1, -40:] == 0).all()     # the surround is background
    assert tools.dtype == np.uint8 and set(np.unique(tools)) <= {0, 255}
    assert (lab[tools > 0] == 0).all() and tools.any()
    corners = np.zeros_like(dark)
    corners[:12, :12] = corners[:12, -12:] = corners[-12:, :12] = corners[-12:, -12:] = True
    assert dark[corners].all() and not tools[corners].any()           # no instrument outside the scope
    assert np.array_equal(synth.render_frame(5, (320, 180))[1], lab)


def test_instruments_vary_in_tip_and_finish():
    """Every tip kind is drawn, at several widths, and always labelled background."""
    shares = []
    for kind in synth.INSTRUMENT_TIPS:
        for seed in range(3):
            rng = np.random.default_rng(seed)
            img = np.full((180, 320, 3), 0.5, np.float32)
            lab = np.ones((180, 320), np.uint8)
            tools = np.zeros((180, 320), np.uint8)
            synth._instrument(rng, img, lab, tip=(160, 90), kind=kind, instruments=tools)
            on = tools > 0
            assert on[90, 160] and (lab[on] == 0).all(), kind
            shares.append(on.mean())
    assert max(shares) > 2 * min(shares)                              # near and far instruments


def test_classes_overlap_in_colour():
    """A colour-only classifier must fail: per-class mean colours over many frames overlap."""
    feats, ys = [], []
    for seed in range(24):
        img, lab = synth.render_frame(seed, (192, 108))
        keep = img.max(axis=2) > 25          # inside the scope: the black surround is trivially background
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        feats.append(np.concatenate([img, hsv], axis=2)[keep][::7].astype(np.float32))
        ys.append(lab[keep][::7])
    x, y = np.concatenate(feats), np.concatenate(ys)
    from sklearn.naive_bayes import GaussianNB
    half = len(x) // 2
    clf = GaussianNB().fit(x[:half], y[:half])
    acc = (clf.predict(x[half:]) == y[half:]).mean()
    assert acc < 0.6, f"per-pixel colour separates the classes too well ({acc:.2f})"
    assert set(np.unique(y)) == {0, 1, 2, 3}


def test_dataset_cli_writes_images_labels_split_and_contact_sheet(tmp_path):
    out = tmp_path / "ds"
    assert main(["synth", "--out", str(out), "--images", "30", "--seed", "3", "--size", "160x96",
                 "--contact-sheet", str(tmp_path / "sheet.png")]) == 0
    imgs = sorted(p.name for p in (out / "images").glob("*.png"))
    labs = sorted(p.name for p in (out / "labels").glob("*.png"))
    assert len(imgs) == 30 and imgs == labs
    lines = {s: (out / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert sum(len(v) for v in lines.values()) == 2 * 30
    patients = {s: {p.split("/")[1].split("_")[0] for p in v[::2]} for s, v in lines.items()}
    assert not (patients["train"] & patients["test"]) and not (patients["train"] & patients["val"])
    assert cv2.imread(str(tmp_path / "sheet.png")).shape[0] > 96


def test_video_cli_writes_h264_with_matching_label_frames(tmp_path):
    clip, labels = tmp_path / "c.mp4", tmp_path / "labels"
    assert main(["synth", "--video", str(clip), "--seconds", "0.5", "--fps", "20", "--size", "256x144",
                 "--seed", "4", "--labels-dir", str(labels)]) == 0
    with av.open(str(clip)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(frames) == 10 == len(list(labels.glob("*.png")))
    assert frames[0].shape == (144, 256, 3)
    assert not np.array_equal(frames[0], frames[-1])      # the camera moves


def test_bad_sizes_are_user_errors(capsys):
    assert main(["synth", "--video", "x.mp4", "--size", "255x144"]) == 2
    assert "must be even" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "--out", "x", "--size", "big"])
