"""Recordings say nothing about when, where or who (no tags), and a failed one is shown as failed."""
from __future__ import annotations

import errno
import time

import av
import numpy as np
import pytest

from surgical_seg.config import AppConfig, PipelineConfig, RecorderConfig, replace_section
from surgical_seg.errors import ConfigError
from surgical_seg.config import from_dict, _check_app
from surgical_seg.packet import FramePacket
from surgical_seg.viewer import recorder as recorder_mod
from surgical_seg.viewer.recorder import Recorder, decodable_times
from surgical_seg.viewer.recording import failure_reason, folder_name


def _packets(n: int, size=(160, 96)):
    t0 = time.perf_counter_ns()
    for i in range(n):
        p = FramePacket(i, np.full((size[1], size[0], 3), (i * 13) % 256, np.uint8), t0 + i * 33_000_000)
        p.composited = 255 - p.frame
        yield p


def test_recordings_carry_no_creation_time_host_or_encoder_tags(tmp_path):
    rec = Recorder(tmp_path / "rec", fps=30).start()
    for p in _packets(12):
        assert rec.submit(p)
    assert rec.stop(timeout=60) and rec.error is None
    for path in rec.paths[:2]:
        with av.open(str(path)) as c:
            tags = {**c.metadata, **c.streams.video[0].metadata}
            assert "creation_time" not in tags and "encoder" not in tags
            assert not any(k in tags for k in ("hostname", "author", "artist", "comment", "title"))
            assert len(list(c.decode(video=0))) == 12
        assert b"Lavf" not in path.read_bytes()          # no muxer version string either


def test_folder_name_follows_the_pattern_and_stays_one_plain_name():
    when = time.mktime((2026, 3, 4, 5, 6, 7, 0, 0, -1))
    assert folder_name("rec_%Y%m%d_%H%M%S", when) == "rec_20260304_050607"
    assert folder_name("case-%j", when) == "case-063"
    with pytest.raises(ConfigError, match="recorder.folder_pattern"):
        _check_app(replace_section(AppConfig(), "recorder", folder_pattern="../%Y"), "app.yml")
    assert from_dict(RecorderConfig, {"folder_pattern": "x_%H"}).folder_pattern == "x_%H"


def test_failure_reason_says_disk_full_for_enospc():
    assert failure_reason(OSError(errno.ENOSPC, "No space left on device")) == "disk full"
    assert failure_reason(OSError(errno.EROFS, "Read-only file system")) == "read-only disk"
    assert failure_reason(RuntimeError("encoder exploded")) == "RuntimeError"


def test_a_writer_that_hits_a_full_disk_fails_visibly_and_keeps_what_it_wrote(tmp_path, monkeypatch):
    real_write = recorder_mod._FragmentedMp4.write
    calls = {"n": 0}

    def write(self, bgr, t_ms, yuv=None):
        calls["n"] += 1
        if calls["n"] > 40:                  # 20 frames (raw + overlay each) then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, bgr, t_ms, yuv)

    monkeypatch.setattr(recorder_mod._FragmentedMp4, "write", write)
    rec = Recorder(tmp_path / "rec", fps=30).start()
    for p in _packets(60):
        rec.submit(p)
        time.sleep(0.002)
    assert rec.stop(timeout=60)
    assert rec.failed == "disk full" and rec.status().startswith("REC FAILED — disk full")
    assert not rec.submit(next(_packets(1)))             # no more frames taken: nothing blocks the caller
    assert rec.written == 20
    assert len(decodable_times(rec.paths[0])) == 20 and len(decodable_times(rec.paths[1])) >= 20


def test_the_hud_says_rec_failed_in_red(qtbot, tmp_path, monkeypatch, tiny_model_dir, clip_path):
    from surgical_seg.engine import load_segmenter
    from surgical_seg.viewer.app import MainWindow
    from surgical_seg.viewer.hud import OFF_COLORS
    from surgical_seg.viewer.settings import ENV_VAR
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "viewer.ini"))

    def write(self, bgr, t_ms, yuv=None):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recorder_mod._FragmentedMp4, "write", write)
    cfg = AppConfig(pipeline=PipelineConfig(stale_ms=5000.0))
    cfg = replace_section(cfg, "privacy", enabled=False)
    win = MainWindow(cfg, load_segmenter(str(tiny_model_dir)), str(clip_path), record_dir=str(tmp_path / "recs"))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.pipeline is not None, timeout=20_000)
    win.record_button.setChecked(True)
    qtbot.waitUntil(lambda: win.recorder is not None and win.recorder.failed == "disk full", timeout=20_000)
    qtbot.waitUntil(lambda: win.current is not None, timeout=20_000)   # (the writer may fail before a paint)
    shown = win.current.index
    qtbot.waitUntil(lambda: "REC FAILED — disk full" in win.hud.text(), timeout=5_000)
    assert win.hud.background == OFF_COLORS[0]
    qtbot.waitUntil(lambda: win.current.index > shown + 5, timeout=20_000)   # the live view goes on
    assert win.record_button.isChecked()
