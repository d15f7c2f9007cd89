"""The graph cut at the head's logits: the engine's sampling geometry, old-format cards, and that the
same weights give the same labels through either export (real exports of a tiny FastSCNN)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from fixtures_model import TINY_SIZE
from surgical_seg.engine import load_segmenter
from surgical_seg.engine.preprocess import letterbox_geometry
from surgical_seg.engine.scores import confidence_from_logits, frame_probabilities, sample, softmax
from surgical_seg.errors import ModelError
from surgical_seg.modelcard import ModelCard
from surgical_seg.training.export import synthetic_frame


def test_sample_maps_frame_pixels_through_letterbox_and_stride():
    """A score field linear in the input's x/y is reproduced exactly where bilinear sampling is interior:
    so the half-pixel centres, the letterbox offset and the stride are all where they should be."""
    box = letterbox_geometry(1280, 720, 384, 224)          # 384x216 at y=4
    stride = 8
    gy, gx = np.mgrid[0:224 // stride, 0:384 // stride].astype(np.float32)
    # logit cell (i, j) covers input pixels centred at (j + 0.5) * 8 - 0.5: store that input coordinate
    z = np.stack([(gx + 0.5) * stride - 0.5, (gy + 0.5) * stride - 0.5])[None]
    out = sample(z, box, stride, (640, 360))
    assert out.shape == (2, 360, 640)
    # destination pixel (u, v) centre -> input coordinate box.x + (u + 0.5) * 384/640 - 0.5
    u, v = np.meshgrid(np.arange(640), np.arange(360))
    want_x = box.x + (u + 0.5) * box.w / 640 - 0.5
    want_y = box.y + (v + 0.5) * box.h / 360 - 0.5
    # interior: between the outer cell centres, and inside the crop (its edge rows are replicated, never the padding)
    inner = (want_x > 3.5) & (want_x < 379.5) & (want_y >= box.y) & (want_y <= box.y + box.h - 1)
    assert np.abs(out[0] - want_x)[inner].max() < 1e-3
    assert np.abs(out[1] - want_y)[inner].max() < 1e-3


def test_softmax_and_confidence_from_logits():
    z = np.random.default_rng(0).normal(0, 3, (4, 5, 7)).astype(np.float32)
    for t in (1.0, 1.7):
        p = softmax(z, t)
        ref = np.exp(z / t) / np.exp(z / t).sum(0)
        np.testing.assert_allclose(p, ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(confidence_from_logits(z, t), ref.max(0), rtol=1e-5)


def test_new_export_card_and_backends_agree(tiny_model_dir):
    card = ModelCard.load(tiny_model_dir)
    assert (card.output, card.output_stride) == ("logits", 8)
    frame = synthetic_frame(5, (640, 360))
    labels = [load_segmenter(tiny_model_dir, backend=b, device="cpu", threads=1, precision="f32",
                             upsample="bilinear").segment(frame).labels for b in ("openvino", "onnxruntime", "paddle")]
    assert labels[0].shape == (360, 640)
    assert (labels[0] == labels[1]).mean() > 0.999 and (labels[0] == labels[2]).mean() > 0.999


def test_old_format_card_keeps_working(tiny_old_model_dir):
    raw = yaml.safe_load((tiny_old_model_dir / "model.yml").read_text())
    assert "output" not in raw and "output_stride" not in raw          # written as before the cut
    card = ModelCard.load(tiny_old_model_dir)
    assert (card.output, card.output_stride, card.precisions) == ("probabilities", 1, {})
    seg = load_segmenter(tiny_old_model_dir, backend="openvino", device="cpu", threads=1, precision="auto",
                         upsample="bilinear", confidence=True)
    out = seg.infer(seg.preprocess(synthetic_frame(2))[0])
    assert out.shape == (1, 4, TINY_SIZE[1], TINY_SIZE[0])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-4)         # probabilities at the input size
    s = seg.segment(synthetic_frame(2), probabilities=True)
    assert s.labels.shape == (720, 1280) and s.probabilities.shape == (4, 720, 1280)
    assert seg.precision == "f32" and seg.precision_why.startswith("auto: f32")


@pytest.mark.parametrize("upsample", ["bilinear", "nearest"])
def test_same_weights_same_labels_old_and_new_format(tiny_model_dir, tiny_old_model_dir, upsample):
    """Labels, probabilities and confidence of the cut graph match the old graph's on the same weights
    (only the order of softmax and resize differs, so boundary pixels may flip)."""
    kw = dict(backend="openvino", device="cpu", threads=1, precision="f32", upsample=upsample, confidence=True)
    new, old = load_segmenter(tiny_model_dir, **kw), load_segmenter(tiny_old_model_dir, **kw)
    same = total = 0
    for seed, size in enumerate([(1280, 720), (640, 360), (480, 640), TINY_SIZE]):
        frame = synthetic_frame(seed, size)
        a, b = new.segment(frame, probabilities=True), old.segment(frame, probabilities=True)
        same, total = same + int((a.labels == b.labels).sum()), total + a.labels.size
        assert a.confidence.shape == b.confidence.shape
        assert np.abs(a.probabilities - b.probabilities).mean() < 0.02
        assert np.abs(a.confidence - b.confidence).mean() < 0.02
    assert same / total > 0.99


def test_temperature_scales_logits_as_it_scaled_probabilities(tiny_model_dir):
    seg = load_segmenter(tiny_model_dir, backend="openvino", device="cpu", threads=1, precision="f32")
    frame = synthetic_frame(1, (640, 360))
    tensor, box = seg.preprocess(frame)
    z = seg.infer(tensor)
    raw = frame_probabilities(z, box, 8)
    seg.temperature = 2.0
    hot = seg.segment(frame, probabilities=True).probabilities
    ref = np.power(raw, 0.5)
    ref /= ref.sum(0)
    np.testing.assert_allclose(hot, ref, atol=1e-4)


def test_card_refuses_bad_output_fields(tmp_path, tiny_model_dir):
    import shutil
    for bad, msg in ((("output", "scores"), "output must be"), (("output_stride", 3), "output_stride"),
                     (("output_stride", 0), "output_stride")):
        d = tmp_path / f"m_{bad[0]}_{bad[1]}"
        shutil.copytree(tiny_model_dir, d)
        raw = yaml.safe_load((d / "model.yml").read_text())
        raw[bad[0]] = bad[1]
        (d / "model.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
        with pytest.raises(ModelError, match=msg):
            ModelCard.load(d)


def test_label_sampler_keeps_buffers_but_never_hands_them_out():
    """Buffers are kept per geometry; every call's labels are a new array and equal a plain argmax of the
    resized scores (np.argmax of the same grid), whatever came before."""
    from surgical_seg.engine.scores import LabelSampler, sample
    rng = np.random.default_rng(3)
    sampler = LabelSampler()
    seen = []
    for frame_wh in [(1280, 720), (640, 480), (1280, 720), (1920, 1080)]:
        box = letterbox_geometry(*frame_wh, 384, 224)
        z = rng.normal(0, 3, (1, 4, 28, 48)).astype(np.float32)
        for upsample in ("bilinear", "nearest"):
            got = sampler(z, box, 8, upsample)
            assert got.shape == (frame_wh[1], frame_wh[0]) and got.dtype == np.uint8
            k = max(1, -(-box.frame_w // (2 * box.w))) if upsample == "bilinear" else None
            size = (box.frame_w // k, box.frame_h // k) if k else (box.w, box.h)
            want = sample(z, box, 8, size).argmax(0).astype(np.uint8)
            big = cv2.resize(want, frame_wh, interpolation=cv2.INTER_NEAREST_EXACT) if want.shape != got.shape else want
            assert (got == big).mean() > 0.9999
            assert all(not np.shares_memory(got, s) for s in seen)
            seen.append(got)
