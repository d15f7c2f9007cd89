"""Overlay pixels follow opacity, hidden classes and style exactly (expected blends computed by hand)."""
from __future__ import annotations

import numpy as np
import pytest

from surgical_seg.modelcard import CLASS_COLORS_RGB, CLASS_NAMES
from surgical_seg.config import OverlayConfig
from surgical_seg.realtime.overlay import HudAnnotator, MaskAnnotator
from surgical_seg.packet import Segmentation

H, W = 40, 60


def scene():
    """Frame with distinct BGR per region; labels: left third bone(1), middle ligament(2), right disc(3),
    top rows background."""
    frame = np.zeros((H, W, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 10, 100, 201
    frame[:, 20:40] = (77, 33, 150)
    labels = np.zeros((H, W), np.uint8)
    labels[10:, :20], labels[10:, 20:40], labels[10:, 40:] = 1, 2, 3
    seg = Segmentation(labels, CLASS_NAMES, CLASS_COLORS_RGB)
    return frame, labels, seg


def blend(pixel_bgr, class_id, opacity):
    r, g, b = CLASS_COLORS_RGB[class_id]
    return [int(round(p * (1 - opacity) + c * opacity)) for p, c in zip(pixel_bgr, (b, g, r))]


@pytest.mark.parametrize("opacity", [0.3, 0.45, 0.8])
def test_fill_blends_each_class_colour_at_the_opacity(opacity):
    frame, labels, seg = scene()
    before = frame.copy()
    out = MaskAnnotator(CLASS_COLORS_RGB, opacity=opacity, class_names=CLASS_NAMES).annotate(frame, seg)
    assert np.array_equal(frame, before), "annotate must not draw on its input"
    assert out is not frame and out.dtype == np.uint8 and out.shape == frame.shape
    # by hand, e.g. bone over (10, 100, 201) at 0.45: B 10*.55+50*.45=28.0, G 100*.55+220*.45=154, R 201*.55+250*.45=223.05
    for (y, x), k in (((20, 5), 1), ((20, 30), 2), ((30, 50), 3)):
        assert np.abs(out[y, x].astype(int) - blend(frame[y, x], k, opacity)).max() <= 1, (y, x, out[y, x])
    assert np.array_equal(out[:10], frame[:10]), "background is never drawn"
    if opacity == 0.45:
        assert out[20, 5].tolist() == [28, 154, 223]


def test_opacity_zero_and_one():
    frame, labels, seg = scene()
    assert np.array_equal(MaskAnnotator(CLASS_COLORS_RGB, opacity=0.0).annotate(frame, seg), frame)
    full = MaskAnnotator(CLASS_COLORS_RGB, opacity=1.0).annotate(frame, seg)
    r, g, b = CLASS_COLORS_RGB[2]
    assert full[25, 25].tolist() == [b, g, r]
    assert np.array_equal(full[:10], frame[:10])


def test_hidden_classes_are_left_untouched():
    frame, labels, seg = scene()
    ann = MaskAnnotator(CLASS_COLORS_RGB, opacity=0.5, hidden=("ligament",), class_names=CLASS_NAMES)
    out = ann.annotate(frame, seg)
    assert np.array_equal(out[labels == 2], frame[labels == 2])
    assert not np.array_equal(out[labels == 1], frame[labels == 1])
    assert not np.array_equal(out[labels == 3], frame[labels == 3])
    with pytest.raises(ValueError, match="not in the model: tumour"):
        MaskAnnotator(CLASS_COLORS_RGB, hidden=("tumour",), class_names=CLASS_NAMES)


def test_contour_draws_only_region_borders():
    frame, labels, seg = scene()
    out = MaskAnnotator(CLASS_COLORS_RGB, opacity=1.0, style="contour", thickness=1,
                        class_names=CLASS_NAMES).annotate(frame, seg)
    changed = np.any(out != frame, axis=2)
    # 3x3 neighbourhood: a pixel is on a border when a neighbour holds another class
    assert changed[10, 5] and changed[10, 30] and changed[20, 19] and changed[20, 20] and changed[25, 39]
    assert not changed[25, 10] and not changed[30, 30] and not changed[9, 5], "interiors and background stay"
    assert not changed[39, 10], "the picture edge is not a class border"
    r, g, b = CLASS_COLORS_RGB[1]
    assert out[20, 19].tolist() == [b, g, r]
    thick = MaskAnnotator(CLASS_COLORS_RGB, opacity=1.0, style="contour", thickness=3,
                          class_names=CLASS_NAMES).annotate(frame, seg)
    assert np.any(thick != frame, axis=2).sum() > changed.sum()


def test_mask_of_another_size_is_resized_and_raw_labels_work():
    frame = np.full((H * 2, W * 2, 3), 50, np.uint8)
    _, labels, _ = scene()
    out = MaskAnnotator(CLASS_COLORS_RGB, opacity=1.0).annotate(frame, labels)
    r, g, b = CLASS_COLORS_RGB[3]
    assert out[70, 110].tolist() == [b, g, r] and out[5, 5].tolist() == [50, 50, 50]


def test_from_config_and_bad_style():
    ann = MaskAnnotator.from_config(OverlayConfig(opacity=0.2, style="contour", hidden_classes=("disc",)),
                                    CLASS_COLORS_RGB, CLASS_NAMES)
    assert ann.opacity == 0.2 and ann.style == "contour" and ann.visible[3] == 0 and ann.visible[1] == 1
    with pytest.raises(ValueError, match="fill or contour"):
        MaskAnnotator(CLASS_COLORS_RGB, style="outline")
    with pytest.raises(ValueError, match="opacity"):
        MaskAnnotator(CLASS_COLORS_RGB, opacity=1.5)


def test_hud_draws_on_a_copy_and_flags_overlay_off():
    frame = np.zeros((360, 640, 3), np.uint8)
    hud = HudAnnotator(CLASS_NAMES, CLASS_COLORS_RGB)
    on = hud.annotate(frame, fps=29.7, latency_ms=41.0)
    off = hud.annotate(frame, fps=29.7, latency_ms=41.0, off_reason="stale (180 ms)")
    assert not frame.any(), "the HUD must not draw on its input"
    assert on.any() and not np.array_equal(on, off)
    red = (off[..., 2] > 150) & (off[..., 1] < 100) & (off[..., 0] < 100)
    assert red.sum() > 50 and not ((on[..., 2] > 150) & (on[..., 1] < 100) & (on[..., 0] < 100)).any()
    # legend swatches in the class colours (BGR)
    for rgb in CLASS_COLORS_RGB[1:]:
        assert np.all(on == rgb[::-1], axis=2).sum() > 50
