"""Viewer, offscreen: the low-confidence key, HUD share and remembered setting; E explains off the UI thread.

(Named to run before test_viewer.py: after its `view --quit-after` test has called QApplication.quit(),
this Qt no longer fires a new window's timers in qtbot's waits.)"""
from __future__ import annotations

import pytest
from PyQt6.QtCore import Qt

from surgical_seg.engine import load_segmenter
from surgical_seg.viewer.settings import ENV_VAR, load_settings
from test_viewer import WAIT_MS, open_window, wait_overlaid


@pytest.fixture(autouse=True)
def temp_settings(tmp_path, monkeypatch):
    path = tmp_path / "viewer.ini"
    monkeypatch.setenv(ENV_VAR, str(path))
    return path


@pytest.fixture()
def segmenter(tiny_model_dir):
    return load_segmenter(str(tiny_model_dir))


def test_confidence_key_hud_and_settings(qtbot, segmenter, clip_path, temp_settings):
    win = open_window(qtbot, segmenter, clip_path, register=False)       # closed (and deleted) below
    wait_overlaid(qtbot, win)
    assert win.controls.choice().confidence == "off" and not segmenter.with_confidence
    assert win.current.segmentation.confidence is None
    qtbot.keyClick(win, Qt.Key.Key_C)
    assert win.controls.choice().confidence == "fade" and segmenter.with_confidence
    assert win._annotator.confidence.threshold == segmenter.card.confidence_threshold
    qtbot.waitUntil(lambda: win.current is not None and win.current.segmentation is not None
                    and win.current.segmentation.confidence is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "unsure" in win.hud.text(), timeout=WAIT_MS)
    assert "% of overlay" in win.hud.text()
    qtbot.keyClick(win, Qt.Key.Key_C)
    assert win.controls.choice().confidence == "hatch"
    win.close()
    assert load_settings(str(temp_settings)).confidence == "hatch"
    win2 = open_window(qtbot, segmenter, clip_path)
    assert win2.controls.choice().confidence == "hatch" and segmenter.with_confidence
    win2.controls.cycle_confidence()                    # (the key itself was pressed above)
    assert win2.controls.choice().confidence == "off" and not segmenter.with_confidence


def test_explain_freezes_a_frame_while_the_video_runs(qtbot, segmenter, clip_path):
    win = open_window(qtbot, segmenter, clip_path)
    wait_overlaid(qtbot, win)
    panel = win.explain_panel
    assert not panel.isVisible()
    panel.class_box.setCurrentText("bone")
    qtbot.keyClick(win, Qt.Key.Key_E)
    assert panel.isVisible() and panel.busy and "FROZEN frame" in panel.title.text()
    frozen = panel.frozen_index
    assert not win.explain_current(), "one explanation at a time"
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)
    assert panel.last_image is not None, panel.title.text()
    wait_overlaid(qtbot, win, frozen + 2)               # the live view went on
    panel.refresh_title()
    title = panel.title.text()
    assert title.startswith(f"FROZEN frame {frozen} at ") and "s ago" in title and "bone" in title
    assert "not guidance" in panel.caption.text()
    assert panel.image.pixmap() is not None and not panel.image.pixmap().isNull()
