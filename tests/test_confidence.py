"""Confidence map (temperature on softmax outputs), fade/hatch overlay, low-confidence share, engine wiring."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from surgical_seg.modelcard import CLASS_COLORS_RGB, CLASS_NAMES
from surgical_seg.config import load_app_config
from surgical_seg.engine.confidence import (FADE_FACTOR, ConfidenceShading, apply_temperature, confidence_map,
                                     hatch_pattern, low_confidence, low_share)
from surgical_seg.errors import ConfigError, ModelError
from surgical_seg.realtime.overlay import MaskAnnotator
from surgical_seg.packet import Segmentation


def softmax(z, axis=0):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.7, 4.0])
def test_temperature_on_probabilities_equals_softmax_of_scaled_logits(temperature):
    z = np.random.default_rng(1).normal(scale=3.0, size=(4, 30, 50))
    p = softmax(z).astype(np.float32)
    want = softmax(z / temperature)
    np.testing.assert_allclose(apply_temperature(p, temperature), want, atol=2e-5)
    np.testing.assert_allclose(confidence_map(p, temperature), want.max(axis=0), atol=2e-5)
    assert (apply_temperature(p, temperature).argmax(0) == p.argmax(0)).all(), "labels never move with T"


def test_higher_temperature_lowers_confidence():
    p = softmax(np.random.default_rng(2).normal(scale=2.0, size=(4, 20, 20))).astype(np.float32)
    c1, c2 = confidence_map(p, 1.0), confidence_map(p, 2.0)
    assert (c2 <= c1 + 1e-6).all() and c2.mean() < c1.mean() - 0.05
    assert c2.min() >= 0.25 - 1e-6


def scene(low_right: bool = True):
    """Bone everywhere below row 10; the confidence map (model resolution, half size) is low on the right half."""
    frame = np.full((40, 60, 3), (10, 100, 201), np.uint8)
    labels = np.zeros((40, 60), np.uint8)
    labels[10:] = 1
    conf = np.full((20, 30), 0.95, np.float32)
    if low_right:
        conf[:, 15:] = 0.4
    return frame, labels, Segmentation(labels, CLASS_NAMES, CLASS_COLORS_RGB, confidence=conf)


def blend(pixel, opacity):
    r, g, b = CLASS_COLORS_RGB[1]
    return [int(round(p * (1 - opacity) + c * opacity)) for p, c in zip(pixel, (b, g, r))]


def test_fade_blends_low_confidence_pixels_at_a_fraction_of_the_opacity():
    frame, labels, seg = scene()
    ann = MaskAnnotator(CLASS_COLORS_RGB, opacity=0.5, class_names=CLASS_NAMES,
                        confidence=ConfidenceShading("fade", 0.6))
    out = ann.annotate(frame, seg)
    assert np.abs(out[20, 5].astype(int) - blend(frame[20, 5], 0.5)).max() <= 1          # sure: full opacity
    assert np.abs(out[20, 45].astype(int) - blend(frame[20, 45], 0.5 * FADE_FACTOR)).max() <= 1   # unsure: faded
    assert np.array_equal(out[:10], frame[:10])
    # without a confidence map (engine did not compute one) nothing changes
    plain = MaskAnnotator(CLASS_COLORS_RGB, opacity=0.5, class_names=CLASS_NAMES)
    no_map = dataclasses.replace(seg, confidence=None)
    assert np.array_equal(ann.annotate(frame, no_map), plain.annotate(frame, seg))


def test_hatch_draws_low_confidence_pixels_on_stripes_only():
    frame, labels, seg = scene()
    ann = MaskAnnotator(CLASS_COLORS_RGB, opacity=0.5, class_names=CLASS_NAMES,
                        confidence=ConfidenceShading("hatch", 0.6))
    out = ann.annotate(frame, seg)
    right = out[10:, 30:]
    stripes = hatch_pattern((40, 60))[10:, 30:].astype(bool)
    assert np.array_equal(right[~stripes], frame[10:, 30:][~stripes]), "between stripes the tissue shows"
    assert (right[stripes] != frame[10:, 30:][stripes]).any(axis=-1).all(), "stripes carry the colour"
    assert 0.4 < stripes.mean() < 0.6
    left = out[10:, :30]
    assert (left != frame[10:, :30]).any(axis=-1).all(), "confident pixels drawn in full"


def test_low_share_of_the_drawn_overlay():
    frame, labels, seg = scene()
    ann = MaskAnnotator(CLASS_COLORS_RGB, opacity=0.5, class_names=CLASS_NAMES)
    drawn = ann.draw_mask(labels)
    low = low_confidence(seg.confidence, 0.6, labels.shape)
    assert low.shape == labels.shape and low[:, 30:].all() and not low[:, :30].any()
    assert low_share(drawn, low) == pytest.approx(0.5)
    assert low_share(np.zeros_like(drawn), low) is None
    hidden = MaskAnnotator(CLASS_COLORS_RGB, class_names=CLASS_NAMES, hidden=("bone",)).draw_mask(labels)
    assert low_share(hidden, low) is None


def test_shading_rejects_bad_settings():
    with pytest.raises(ValueError, match="fade, hatch, off"):
        ConfidenceShading("blink")
    with pytest.raises(ValueError, match="threshold"):
        ConfidenceShading("fade", 0.0)


def test_config_key(tmp_path):
    assert load_app_config().overlay.confidence == "off"
    bad = tmp_path / "app.yml"
    bad.write_text("overlay:\n  confidence: blink\n")
    with pytest.raises(ConfigError, match="overlay.confidence"):
        load_app_config(bad)
    good = tmp_path / "good.yml"
    good.write_text("overlay:\n  confidence: hatch\n")
    assert load_app_config(good).overlay.confidence == "hatch"


def test_engine_confidence_at_model_resolution(tiny_model_dir, tmp_path):
    import shutil

    from surgical_seg.engine import load_segmenter
    from surgical_seg.modelcard import ModelCard
    from surgical_seg.training.export import synthetic_frame
    frame = synthetic_frame(5, (640, 360))
    seg = load_segmenter(tiny_model_dir, backend="onnxruntime", confidence=True)
    tensor, box = seg.preprocess(frame)
    probs = seg.infer(tensor)
    out = seg.postprocess(probs, box)
    assert out.confidence.shape == (box.h, box.w) and out.confidence.dtype == np.float32
    region = seg.region_probabilities(probs, box)      # the frame region's softmax at model input resolution
    assert region.shape == (4, box.h, box.w)
    want = region.max(axis=0)
    if box.dark is not None:
        want = np.where(box.dark, 1.0, want)
    np.testing.assert_allclose(out.confidence, want, atol=1e-6)
    assert seg.segment(frame).confidence is not None
    assert load_segmenter(tiny_model_dir, backend="onnxruntime").segment(frame).confidence is None

    # a calibrated card: the engine applies its temperature to the map and the probabilities, not the labels
    hot = tmp_path / "hot"
    shutil.copytree(tiny_model_dir, hot)
    card = ModelCard.load(hot)
    dataclasses.replace(card, temperature=2.5).save(hot)
    seg_t = load_segmenter(hot, backend="onnxruntime", confidence=True)
    a, b = seg.segment(frame, probabilities=True), seg_t.segment(frame, probabilities=True)
    assert np.array_equal(a.labels, b.labels)
    np.testing.assert_allclose(b.confidence, np.where(box.dark, 1.0, confidence_map(region, 2.5))
                               if box.dark is not None else confidence_map(region, 2.5), atol=1e-5)
    np.testing.assert_allclose(b.probabilities, apply_temperature(a.probabilities, 2.5), atol=1e-5)
    dataclasses.replace(card, temperature=-1.0).save(hot)
    with pytest.raises(ModelError, match="temperature"):
        load_segmenter(hot, backend="onnxruntime")
