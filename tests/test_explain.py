"""Seg-Grad-CAM on the tiny exported model: dygraph weights, the heatmap against its closed form, the CLI."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import paddle
import pytest

from surgical_seg.apps.cli import main
from surgical_seg.engine import load_segmenter
from surgical_seg.errors import DataError
from surgical_seg.training.explain import SegGradCam, load_dygraph, mass_inside, read_frame
from surgical_seg.training.export import LogitsHead, synthetic_frame


@pytest.fixture(scope="module")
def cam(tiny_model_dir):
    model, card = load_dygraph(tiny_model_dir)
    return SegGradCam(model, card)


def test_dygraph_weights_reproduce_the_exported_model(tiny_model_dir, tmp_path):
    frame = synthetic_frame(4, (640, 360))
    seg = load_segmenter(tiny_model_dir, backend="onnxruntime")
    tensor, _ = seg.preprocess(frame)
    want = seg.infer(tensor)
    # from model.pdparams (written by export), and recovered from the PIR files alone (older exports)
    old = tmp_path / "old"
    shutil.copytree(tiny_model_dir, old)
    (old / "model.pdparams").unlink()
    for folder in (tiny_model_dir, old):
        model, _ = load_dygraph(folder)
        with paddle.no_grad():
            got = LogitsHead(model, "FastSCNN")(paddle.to_tensor(tensor)).numpy()    # the exported graph's output
        assert got.shape == want.shape == (1, 4, 12, 16)
        assert np.abs(got - want).max() < 1e-4 * max(1.0, float(np.abs(want).max())), folder


def test_heatmap_equals_its_closed_form(cam, tiny_model_dir):
    """FastSCNN's class head is a 1x1 conv then bilinear upsampling, both linear: Seg-Grad-CAM's channel
    weights are W_c * |region| / (h*w), so the map is ReLU(W_c . A) (bias-free logit at low resolution)."""
    frame = synthetic_frame(2, (640, 360))
    ex = cam.explain(frame, "bone")
    feats = {}
    head = cam.model.classifier.conv

    def keep(layer, inputs):            # returns None: a pre-hook's return value would replace the input
        feats["a"] = inputs[0].numpy()

    hook = head.register_forward_pre_hook(keep)
    tensor, box = cam._pre(frame)
    with paddle.no_grad():
        cam.model(paddle.to_tensor(tensor))
    hook.remove()
    w = head.weight.numpy()[1, :, 0, 0]
    low = np.maximum(np.tensordot(w, feats["a"][0], axes=1), 0).astype(np.float32)
    up = cv2.resize(low, (cam.card.input_width, cam.card.input_height), interpolation=cv2.INTER_LINEAR)
    up = up[box.y:box.y + box.h, box.x:box.x + box.w]
    if box.dark is not None:
        up[box.dark] = 0
    want = cv2.resize(up, (640, 360), interpolation=cv2.INTER_LINEAR)
    want /= want.max()
    assert ex.region.any() and ex.heat.shape == (360, 640)
    assert np.abs(ex.heat - want).max() < 1e-3
    # the explained region is what the engine draws for bone
    labels = load_segmenter(tiny_model_dir, backend="onnxruntime").segment(frame).labels
    assert ((labels == 1) == ex.region).mean() > 0.99


def test_black_surround_and_absent_class(cam):
    """With a legacy card's dark_below the surround gets no heat; an absent class gets none anywhere."""
    import dataclasses
    legacy = SegGradCam(cam.model, dataclasses.replace(cam.card, dark_below=12))
    frame = synthetic_frame(2, (640, 360))
    ex = legacy.explain(frame, "disc")
    dark = (cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) < 12).astype(np.uint8)
    inner = cv2.erode(dark, np.ones((11, 11), np.uint8)).astype(bool)     # away from the blurred rim
    assert inner.mean() > 0.1 and ex.heat[inner].max() == 0
    black = np.zeros((96, 128, 3), np.uint8)
    empty = legacy.explain(black, "bone")
    assert not empty.region.any() and empty.heat.max() == 0
    with pytest.raises(DataError, match="not in the model"):
        cam.explain(frame, "tumour")


def test_mass_inside():
    heat = np.zeros((10, 10), np.float32)
    heat[:5] = 1.0
    heat[5:] = 0.25
    region = np.zeros((10, 10), bool)
    region[:5] = True
    share, ratio = mass_inside(heat, region)
    assert share == pytest.approx(0.8) and ratio == pytest.approx(4.0)
    assert mass_inside(np.zeros((4, 4)), region[:4, :4]) == (None, None)


def test_read_frame_from_video_and_image(tmp_path, clip_path):
    frame, what = read_frame(f"{clip_path}@3")
    assert frame.ndim == 3 and "frame 3" in what
    first, _ = read_frame(str(clip_path))
    assert not np.array_equal(first, frame)
    with pytest.raises(DataError, match="has no frame 100000"):
        read_frame(f"{clip_path}@100000")
    with pytest.raises(DataError, match="not found"):
        read_frame(str(tmp_path / "none.png"))


def test_cli_explain_writes_a_labelled_png(tmp_path, tiny_model_dir, capsys):
    img = tmp_path / "f.png"
    cv2.imwrite(str(img), synthetic_frame(2, (640, 360)))
    out = tmp_path / "heat.png"
    assert main(["explain", str(img), "--class", "bone", "--out", str(out), "--model", str(tiny_model_dir)]) == 0
    pic = cv2.imread(str(out))
    assert pic.shape[1] == 640 and pic.shape[0] > 360
    printed = capsys.readouterr().out
    assert "Seg-Grad-CAM for bone" in printed and "not guidance" in printed and " ms" in printed
    assert main(["explain", str(img), "--class", "tumour", "--out", str(out), "--model", str(tiny_model_dir)]) == 2
    assert "tumour" in capsys.readouterr().err
