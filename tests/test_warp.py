"""MaskWarper: a mask moves with a known image shift (real DIS optical flow on a textured scene)."""
from __future__ import annotations

import numpy as np
import pytest

from surgical_seg.packet import Segmentation
from surgical_seg.data.synth import render_frame
from surgical_seg.realtime.warp import MaskWarper, work_size

W, H = 480, 270


@pytest.fixture(scope="module")
def scene():
    img, _ = render_frame(5, (W + 80, H + 60))
    return img


def view(img, dx, dy):
    """The scene seen by a camera moved by (dx, dy) pixels: content shifts by (-dx, -dy)."""
    return np.ascontiguousarray(img[20 + dy:20 + dy + H, 30 + dx:30 + dx + W])


def square_labels(x0, y0):
    lab = np.zeros((H, W), np.uint8)
    lab[y0:y0 + 90, x0:x0 + 120] = 2
    return lab


def centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def test_work_size_fits_the_model_input():
    assert work_size(1280, 720, (320, 192)) == (320, 180)
    assert work_size(1920, 1080, (320, 192)) == (320, 180)
    assert work_size(200, 100, (320, 192)) == (200, 100)       # never upscaled


def test_warped_mask_follows_a_known_shift(scene):
    a, b = view(scene, 0, 0), view(scene, 14, 6)                 # the camera moved right 14, down 6
    labels_a = square_labels(150, 80)
    expected = square_labels(150 - 14, 80 - 6)                   # so the tissue moved left 14, up 6
    out = MaskWarper().warp_labels(labels_a, a, b)
    assert out.dtype == np.uint8 and out.shape == labels_a.shape and set(np.unique(out)) <= {0, 2}
    iou = lambda x, y: ((x > 0) & (y > 0)).sum() / ((x > 0) | (y > 0)).sum()   # noqa: E731
    assert iou(labels_a, expected) < 0.85                       # unwarped: misregistered
    assert iou(out, expected) > 0.93
    cx, cy = centroid(out > 0)
    ex, ey = centroid(expected > 0)
    assert abs(cx - ex) < 2.0 and abs(cy - ey) < 2.0


def test_no_motion_leaves_the_mask_alone(scene):
    a = view(scene, 0, 0)
    labels = square_labels(100, 50)
    out = MaskWarper().warp_labels(labels, a, a.copy())
    assert (out == labels).mean() > 0.995


def test_warp_keeps_the_masks_own_frame_and_time(scene):
    a, b = view(scene, 0, 0), view(scene, 8, 0)
    seg = Segmentation(square_labels(100, 50), ("background", "x", "y"), ((0, 0, 0), (1, 1, 1), (2, 2, 2)),
                       frame_index=7, t_capture_ns=123)
    out = MaskWarper().warp(seg, a, b)
    assert out.frame_index == 7 and out.t_capture_ns == 123     # its age is the age of frame 7
    assert not np.array_equal(out.labels, seg.labels)


def test_frames_of_another_size_are_refused(scene):
    with pytest.raises(ValueError, match="one size"):
        MaskWarper().warp_labels(square_labels(0, 0), view(scene, 0, 0), view(scene, 0, 0)[:100])


def test_a_small_label_map_is_warped_at_its_own_size(scene):
    """The live viewer's masks stay near model resolution: the warp never makes a frame-size map."""
    import cv2
    a, b = view(scene, 0, 0), view(scene, 14, 6)
    small = cv2.resize(square_labels(150, 80), (W // 3, H // 3), interpolation=cv2.INTER_NEAREST)
    warper = MaskWarper()
    out = warper.warp_labels(small, a, b)
    assert out.shape == small.shape and warper.last_ms is not None and warper.last_ms > 0
    expected = cv2.resize(square_labels(150 - 14, 80 - 6), (W // 3, H // 3), interpolation=cv2.INTER_NEAREST)
    iou = lambda x, y: ((x > 0) & (y > 0)).sum() / ((x > 0) | (y > 0)).sum()   # noqa: E731
    assert iou(out, expected) > 0.85 > iou(small, expected)
