"""The live viewer's label maps stay small: the engine skips the full-resolution resize, the layer is
built at that size and the painter scales it; recordings and snapshots still burn in at frame size."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from surgical_seg.engine import load_segmenter
from surgical_seg.engine.preprocess import labels_to_frame, letterbox_geometry
from surgical_seg.realtime.overlay import MaskAnnotator


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_small_labels_are_the_frame_size_labels_before_their_resize(upsample):
    rng = np.random.default_rng(1)
    probs = cv2.GaussianBlur(rng.random((224, 384, 4), dtype=np.float32), (0, 0), 4).transpose(2, 0, 1)[None]
    box = letterbox_geometry(1920, 1080, 384, 224)
    small = labels_to_frame(probs, box, upsample, to_frame=False)
    full = labels_to_frame(probs, box, upsample)
    assert full.shape == (1080, 1920) and small.shape[0] < 400 and small.dtype == np.uint8
    again = cv2.resize(small, (1920, 1080), interpolation=cv2.INTER_NEAREST_EXACT)
    np.testing.assert_array_equal(again, full)


def test_segmenter_small_labels_layer_and_burn_in(tiny_model_dir):
    from PyQt6.QtWidgets import QApplication
    from surgical_seg.viewer.layer import MaskLayer
    QApplication.instance() or QApplication([])
    seg = load_segmenter(tiny_model_dir, backend="openvino", precision="f32", upsample="bilinear")
    frame = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    full = seg.segment(frame)
    seg.frame_labels = False
    small = seg.segment(frame)
    assert full.labels.shape == (720, 1280) and small.labels.shape[1] < 1280
    np.testing.assert_array_equal(small.labels_at(1280, 720), full.labels)
    annotator = MaskAnnotator(seg.card.colors_rgb, class_names=seg.card.classes)
    np.testing.assert_array_equal(annotator.annotate(frame, small), annotator.annotate(frame, full))
    array, image = MaskLayer(annotator).build(small)
    assert array.shape[:2] == small.labels.shape and (image.width(), image.height()) == small.labels.shape[::-1]
