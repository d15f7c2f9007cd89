"""engine.min_region: small predicted regions go to the class around them, on the model's own grid,
in the one place every consumer's labels come from (Segmenter.postprocess)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from surgical_seg.config import load_app_config
from surgical_seg.engine import load_segmenter
from surgical_seg.engine.regions import suppress_small_regions
from surgical_seg.errors import ConfigError


def _scores(h: int, w: int) -> np.ndarray:
    """1x4xhxw logits: bone on the left half, one cell of disc inside it, a large ligament block right."""
    z = np.zeros((1, 4, h, w), np.float32)
    z[0, 0] = 1.0
    z[0, 1, :, : w // 2] = 3.0
    z[0, 3, h // 2 - 2, w // 4] = 5.0                    # 1 cell of disc in bone
    z[0, 2, h // 2:, w // 2 + 2:] = 4.0                  # ligament: a quarter of the grid
    return z


def test_tiny_blob_takes_the_class_around_it_and_large_regions_stay():
    z = _scores(28, 48)
    out = suppress_small_regions(z, 0.002, slice(0, 28), slice(0, 48))     # 3 cells minimum
    before, after = z[0].argmax(0), out[0].argmax(0)
    assert before[12, 12] == 3 and after[12, 12] == 1                     # disc blob -> bone around it
    assert (before != after).sum() == 1                                   # no other label moves
    assert (after[14:, 26:] == 2).all() and (after[:, :24] == 1).all()
    assert out[0, 1, 12, 12] == 5.0                                       # bone took the disc's score there
    assert (out[0, 3] == out[0].min(0)).all()                             # disc, with no large region, wins nowhere
    np.testing.assert_array_equal(out[0, 2], z[0, 2])                     # ligament's large region: untouched
    assert z[0, 3, 12, 12] == 5.0                                         # the input is not changed
    assert suppress_small_regions(z, 0.0, slice(0, 28), slice(0, 48)) is z
    assert suppress_small_regions(out, 0.002, slice(0, 28), slice(0, 48)) is out      # nothing left to move


def test_no_sliver_where_no_cell_wins():
    """Bone | disc, ligament second on both sides: resized bilinearly, ligament wins along the boundary."""
    z = np.zeros((4, 10, 10), np.float32)
    z[1, :, :5], z[3, :, 5:], z[2] = 3.0, 3.0, 2.5
    fine = lambda s: cv2.resize(np.ascontiguousarray(s.transpose(1, 2, 0)), (80, 80)).argmax(2)  # noqa: E731
    assert 2 not in z.argmax(0) and (fine(z) == 2).sum() > 0
    out = suppress_small_regions(z, 0.002, slice(0, 10), slice(0, 10))
    assert (fine(out) == 2).sum() == 0
    np.testing.assert_array_equal(out.argmax(0), z.argmax(0))


def test_only_the_frames_cells_count():
    z = _scores(28, 48)
    z[0, 3, 0, 40:] = 5.0                                # 8 cells of disc in the letterbox's top row
    out = suppress_small_regions(z, 0.002, slice(1, 27), slice(0, 48))
    assert (out[0, :, 0] == z[0, :, 0]).all()            # outside the frame: untouched
    assert out[0].argmax(0)[12, 12] == 1


class _Fixed:
    """A backend that always hands out the same logits."""

    def __init__(self, z):
        self.z = z

    def infer(self, tensor):
        return self.z


@pytest.mark.parametrize("frame_labels", [True, False])
def test_segmenter_labels_lose_the_blob(tiny_model_dir, frame_labels):
    frame = np.full((720, 1280, 3), 120, np.uint8)
    labels = {}
    for frac in (0.0, 0.02):                             # the tiny model's frame is 16x10 cells: 3 cells minimum
        seg = load_segmenter(tiny_model_dir, backend="openvino", precision="f32", upsample="bilinear",
                             min_region=frac, smoothing=0.5)
        s = seg.card.output_stride
        seg.backend = _Fixed(_scores(seg.card.input_height // s, seg.card.input_width // s))
        seg.frame_labels = frame_labels
        out = seg.segment(frame)
        labels[frac] = out.labels_at(1280, 720)
        assert set(np.unique(seg.segment(frame).labels)) == set(np.unique(out.labels))   # smoothing state kept
    assert 3 in labels[0.0] and 3 not in labels[0.02]
    for k in (1, 2):                                     # large regions keep their area (within the blob's)
        assert abs(int((labels[0.0] == k).sum()) - int((labels[0.02] == k).sum())) < 0.01 * labels[0.0].size


def test_setting_is_validated_in_one_line(tmp_path):
    assert 0.0 <= load_app_config().engine.min_region < 0.5
    bad = tmp_path / "app.yml"
    bad.write_text("engine:\n  min_region: 0.7\n")
    with pytest.raises(ConfigError, match="engine.min_region") as e:
        load_app_config(bad)
    assert "\n" not in str(e.value)
    good = tmp_path / "good.yml"
    good.write_text("engine:\n  min_region: 0.001\n")
    assert load_app_config(good).engine.min_region == 0.001
    with pytest.raises(ConfigError, match="engine.min_region"):
        load_segmenter("nowhere", min_region=-0.1)

