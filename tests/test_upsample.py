"""engine.upsample: bilinear class scores remove the model-pixel staircase; nearest keeps the old labels."""
from __future__ import annotations

import numpy as np
import pytest

from surgical_seg.engine import load_segmenter
from surgical_seg.errors import ConfigError
from surgical_seg.data.synth import render_frame


def blocks_constant(labels, k):
    h, w = labels.shape
    b = labels[: h - h % k, : w - w % k].reshape(h // k, k, w // k, k)
    return (b == b[:, :1, :, :1]).all(axis=(1, 3))


@pytest.fixture(scope="module")
def frame():
    img, _ = render_frame(8, (1024, 768))      # 8x the tiny model's 128x96 input: one model pixel = 8x8
    return img


def test_nearest_is_blocky_bilinear_is_not_and_they_agree(tiny_model_dir, frame):
    near = load_segmenter(tiny_model_dir, backend="onnxruntime", threads=1).segment(frame).labels
    smooth = load_segmenter(tiny_model_dir, backend="onnxruntime", threads=1, upsample="bilinear").segment(frame).labels
    assert near.shape == smooth.shape == frame.shape[:2] and smooth.dtype == np.uint8
    assert blocks_constant(near, 8).all()                       # the model-pixel staircase
    mixed = ~blocks_constant(smooth, 8)
    cells = near[::8, ::8]                                       # one label per model pixel
    edge = np.zeros(cells.shape, bool)
    edge[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    edge[:-1, :] |= cells[:-1, :] != cells[1:, :]
    assert edge.sum() > 20 and mixed.sum() > 0.3 * edge.sum()   # edges now cut through model pixels
    assert (near == smooth).mean() > 0.9
    assert set(np.unique(smooth)) <= set(range(4))


def test_upsample_setting_is_checked(tiny_model_dir):
    with pytest.raises(ConfigError, match="engine.upsample"):
        load_segmenter(tiny_model_dir, backend="onnxruntime", upsample="cubic")
