"""Viewer timing: the HUD shows the overlay's age, the panel both figures, staleness judged at paint.

Named to run before tests/test_viewer.py: its CLI test calls app.quit(), after which Qt timers in later
windows of the same process no longer fire.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from surgical_seg.config import AppConfig, PipelineConfig, PrivacyConfig
NO_GATE = PrivacyConfig(enabled=False)     # these clips are test patterns, not endoscopy: the privacy gate is tested in test_privacy.py
from surgical_seg.engine import load_segmenter
from surgical_seg.packet import FramePacket, Segmentation
from surgical_seg.viewer.app import MainWindow
from surgical_seg.viewer.settings import ENV_VAR

WAIT_MS = 60_000        # the whole suite runs on 2 shared cores


@pytest.fixture(autouse=True)
def temp_settings(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "viewer.ini"))


@pytest.fixture(scope="module")
def segmenter(tiny_model_dir):
    return load_segmenter(str(tiny_model_dir))


def window(qtbot, segmenter, source, stale_ms):
    win = MainWindow(AppConfig(privacy=NO_GATE, pipeline=PipelineConfig(stale_ms=stale_ms, align_ms=20.0)), segmenter,
                     None if source is None else str(source))
    qtbot.addWidget(win)
    win.resize(1000, 600)
    win.show()
    qtbot.waitExposed(win)
    return win


def test_hud_shows_overlay_age_and_panel_shows_both(qtbot, segmenter):
    win = window(qtbot, segmenter, "synthetic:320x240@30", stale_ms=5000.0)
    try:
        qtbot.waitUntil(lambda: "ms old" in win.hud.text(), timeout=WAIT_MS)
    except Exception:
        pytest.fail(f"HUD says {win.hud.text()!r}; status {win.status_label.text()!r}; "
                    f"events {win.events_log[-5:]}")
    assert "AI overlay ON" in win.hud.text() and "video" in win.hud.text()
    qtbot.waitUntil(lambda: win.latency.table.rowCount() >= 2, timeout=WAIT_MS)
    names = [win.latency.table.item(r, 0).text() for r in range(win.latency.table.rowCount())]
    assert "video latency" in names and "overlay age" in names
    rows = [r for r in win.stats.rows() if "display" in r.spans and r.mask_source not in (None, "off")]
    assert rows and all(r.overlay_age_ms() >= r.latency_ms() - 1e-6 for r in rows if r.mask_frame == r.index)


def test_an_overlay_that_aged_past_the_budget_is_not_painted(qtbot, segmenter):
    win = window(qtbot, segmenter, None, stale_ms=100.0)
    frame = np.zeros((48, 64, 3), np.uint8)
    drawn = np.full_like(frame, 200)
    old_ns = time.perf_counter_ns() - 300_000_000                # its frame was captured 300 ms ago
    labels = np.ones((48, 64), np.uint8)
    seg = Segmentation(labels, tuple(segmenter.card.classes), tuple(segmenter.card.colors_rgb), 3, old_ns)
    p = FramePacket(3, frame, old_ns, segmentation=seg, composited=drawn, mask_source="own")
    assert win._stale_at_paint(p).startswith("model late (overlay ")      # the paint-time gate says no
    fresh = FramePacket(4, frame, time.perf_counter_ns(), composited=drawn, mask_source="own",
                        segmentation=Segmentation(labels, seg.class_names, seg.colors_rgb, 4, time.perf_counter_ns()))
    assert win._stale_at_paint(fresh) is None
