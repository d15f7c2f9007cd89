"""Remembered settings never lock the viewer out: gone model or source -> default + one-line notice."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from surgical_seg.viewer.remembered import model_key, pick_model, source_available, source_key
from surgical_seg.viewer.settings import ViewerSettings, load_settings, save_settings


def test_a_remembered_model_that_is_gone_falls_back_with_a_notice(tmp_path):
    model, notice = pick_model(None, "weights/x_deleted", "fastscnn_spine")
    assert model == "fastscnn_spine" and notice == ("remembered model 'weights/x_deleted' is gone; "
                                                     "using the default 'fastscnn_spine'")
    assert pick_model("weights/typed_now", "whatever", "d") == ("weights/typed_now", None)   # explicit: as given
    assert pick_model(None, "", "d") == ("d", None)


def test_models_and_sources_are_remembered_so_they_mean_the_same_from_any_folder(tmp_path, monkeypatch,
                                                                                tiny_model_dir):
    assert model_key("fastscnn_spine") == "fastscnn_spine"                 # a shipped model: by name
    monkeypatch.chdir(tiny_model_dir.parent)
    key = model_key(tiny_model_dir.name)                                   # a relative folder: absolute
    assert Path(key).is_absolute() and Path(key) == tiny_model_dir.resolve()
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert source_key("a.mp4") == str(clip.resolve())
    assert source_key("rtsp://cam/1") == "rtsp://cam/1" and source_key("0") == "0"
    assert source_available(str(clip)) and not source_available(str(tmp_path / "gone.mp4"))
    assert source_available("udp://@:5000")


def test_view_starts_when_the_remembered_model_and_source_are_gone(tmp_path, clip_path):
    ini = tmp_path / "viewer.ini"
    save_settings(ViewerSettings(source="clips/gone.mp4", model="weights/x"), str(ini))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SURGICAL_SEG_SETTINGS": str(ini),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-m", "surgical_seg", "view", str(clip_path), "--quit-after", "2"],
                          capture_output=True, text=True, timeout=300, cwd=elsewhere, env=env)
    assert proc.returncode == 0, proc.stderr[-800:]
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
    assert notes == ["note: remembered model 'weights/x' is gone; using the default 'fastscnn_spine'"]
    s = load_settings(str(ini))
    assert s.model == "fastscnn_spine" and s.source == str(Path(clip_path).resolve())
