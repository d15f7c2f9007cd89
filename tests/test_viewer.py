"""The theatre viewer, offscreen: a real window, a real clip (PyAV) and the tiny exported model."""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage

from fixtures_media import CLIP_FRAMES, CLIP_SIZE, read_index
from surgical_seg.apps import cli
from surgical_seg.config import AppConfig, PipelineConfig, SourceConfig, WatchdogConfig, PrivacyConfig
NO_GATE = PrivacyConfig(enabled=False)     # these clips are test patterns, not endoscopy: the privacy gate is tested in test_privacy.py
from surgical_seg.engine import load_segmenter
from surgical_seg.viewer.app import MainWindow
from surgical_seg.viewer.recorder import CSV_COLUMNS
from surgical_seg.viewer.settings import ENV_VAR, load_settings
from surgical_seg.viewer.video import letterbox_rect

WAIT_MS = 20_000


@pytest.fixture(autouse=True)
def temp_settings(tmp_path, monkeypatch):
    """Never read or write the user's QSettings."""
    path = tmp_path / "viewer.ini"
    monkeypatch.setenv(ENV_VAR, str(path))
    return path


@pytest.fixture(scope="module")
def segmenter(tiny_model_dir):
    return load_segmenter(str(tiny_model_dir))


class SlowSegmenter:
    """The real segmenter, slowed down past the staleness budget (or made to fail)."""

    def __init__(self, inner, delay_s: float = 0.0, fail: bool = False):
        self.inner, self.delay_s, self.fail = inner, delay_s, fail
        self.card, self.backend_name = inner.card, inner.backend_name
        self.device, self.precision = inner.device, inner.precision

    def reset(self):
        self.inner.reset()

    def process(self, packet):
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("boom")
        return self.inner.process(packet)


def open_window(qtbot, segmenter, source, cfg: AppConfig | None = None, register: bool = True,
                **kw) -> MainWindow:
    # a generous staleness budget: the shared 2-core machine must not turn the overlay off by itself
    cfg = cfg or AppConfig(privacy=NO_GATE, pipeline=PipelineConfig(stale_ms=5000.0))
    win = MainWindow(cfg, segmenter, str(source), **kw)
    if register:                                    # (a window the test closes itself is deleted on close)
        qtbot.addWidget(win)
    win.resize(1000, 600)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.pipeline is not None, timeout=WAIT_MS)    # opened off the UI thread
    return win


def wait_overlaid(qtbot, win, after: int = -1):
    """The next painted packet (index > after) that has a mask drawn."""
    def ok():
        p = win.current
        return p is not None and p.index > after and p.segmentation is not None and "display" in p.spans
    qtbot.waitUntil(ok, timeout=WAIT_MS)
    return win.current


def next_overlaid_after_change(qtbot, win):
    """A packet composited after the annotator changed (skip the one that may be in flight)."""
    start = win.current.index if win.current is not None else -1
    if win.pipeline is not None:              # the compositor may be several frames ahead of the painter
        start = max(start, win.pipeline.latest_index)
    p = wait_overlaid(qtbot, win, start + 2)
    return p


def grab_rgb(widget) -> np.ndarray:
    """The widget as rendered now, HxWx3 RGB."""
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(img.constBits().asstring(img.sizeInBytes()), np.uint8).reshape(img.height(), -1)
    return rows[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()


def test_a_frame_shrunk_off_the_ui_thread_paints_as_the_frame_would(qtbot):
    """paint_copy: at the size the last paint used, the copy is painted in the frame's place and the screen
    shows the same picture; snapshots still get the whole frame."""
    from surgical_seg.viewer.video import VideoWidget, paint_copy
    w = VideoWidget()
    qtbot.addWidget(w)
    w.resize(640, 400)
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[:540, :960], frame[540:, 960:], frame[:, 900:1000, 1] = (0, 0, 255), (255, 0, 0), 200
    assert paint_copy(frame, w.paint_size) is None                     # nothing painted yet
    w.set_frame(frame)
    whole = grab_rgb(w)
    (fw, fh), (rw, rh) = w.paint_size
    assert (fw, fh) == (1920, 1080) and (rw, rh) == (640, 360)
    small = paint_copy(frame, w.paint_size)
    assert small.shape == (360, 640, 4)
    assert paint_copy(frame[:, :1000], w.paint_size) is None           # another frame size
    assert paint_copy(frame, ((1920, 1080), (1920, 1080))) is None     # not smaller
    w.set_frame(frame, at_paint_size=small)
    assert w.frame() is frame
    assert (np.abs(grab_rgb(w).astype(int) - whole).max(axis=2) > 0).mean() < 0.005
    w.set_frame(frame, at_paint_size=np.full_like(small, (0, 255, 0, 255)))  # what is painted is the copy
    assert (grab_rgb(w)[20:380] == (0, 255, 0)).all()
    w.resize(800, 500)                                                   # resized while paused: the frame again
    assert (np.abs(grab_rgb(w)[25:475].astype(int) - cv2.resize(frame, (800, 450))[..., ::-1]).max(axis=2) > 0).mean() < 0.01
    w.devicePixelRatioF = lambda: 2.0                                    # a HiDPI screen: its pixels, not the layout's
    grab_rgb(w)
    assert w.paint_size == ((1920, 1080), (1600, 900)) and paint_copy(frame, w.paint_size).shape == (900, 1600, 4)


def test_only_the_letterbox_bars_are_filled_and_they_stay_black_when_the_aspect_changes(qtbot):
    from surgical_seg.viewer.video import VideoWidget
    w = VideoWidget()
    qtbot.addWidget(w)
    w.resize(640, 400)
    w.set_frame(np.full((720, 1280, 3), 255, np.uint8))           # 16:9: bars above and below
    shot = grab_rgb(w)
    assert (shot[:20] == 0).all() and (shot[380:] == 0).all() and (shot[20:380] == 255).all()
    w.set_frame(np.full((480, 480, 3), 255, np.uint8))            # square: bars left and right now
    shot = grab_rgb(w)
    assert (shot[:, :120] == 0).all() and (shot[:, 520:] == 0).all() and (shot[:, 120:520] == 255).all()


def shown_index(win) -> int:
    """The clip frame number written in the pixels of the raw frame now on screen."""
    return read_index(win.current.frame)


def main_class(labels: np.ndarray) -> int:
    counts = np.bincount(labels.ravel(), minlength=4)
    counts[0] = 0
    return int(counts.argmax())


def test_overlay_follows_toggles_and_opacity(qtbot, segmenter, clip_path):
    import gc
    gc.unfreeze()
    win = open_window(qtbot, segmenter, clip_path)
    assert gc.get_freeze_count() > 10_000               # start-up objects out of the collector's walk (UI stalls)
    p = wait_overlaid(qtbot, win)
    assert win.video.frame() is p.frame                 # the raw frame: the overlay is a layer at paint time
    assert p.composited is None                         # not burnt into a picture: nothing is recording
    assert p.layer is not None and win.video._layer is p.layer     # the layer came built from the compositor
    k = main_class(p.segmentation.labels)
    assert p.segmentation.labels.shape[0] < p.frame.shape[0]   # live: the label map stays small, the painter scales it
    assert k > 0, "the tiny model should label some foreground"

    # opacity 100 %: class pixels take the class colour exactly; background stays raw
    win.controls.opacity_slider.setValue(100)
    p = next_overlaid_after_change(qtbot, win)
    labels, raw, out = p.segmentation.labels_at(p.frame.shape[1], p.frame.shape[0]), p.frame, win.overlaid(p)
    k = main_class(labels)
    bgr = np.array(win.card.colors_rgb[k][::-1], np.uint8)
    assert (out[labels == k] == bgr).all()
    assert (out[labels == 0] == raw[labels == 0]).all()

    # what is painted is raw frame + layer = the composited picture: grab the widget, compare in the letterbox
    win.poll_timer.stop()                           # hold this frame on screen while we grab it
    qtbot.waitUntil(lambda: win.current is not None and win.current.segmentation is not None
                    and win.off_reason() is None, timeout=WAIT_MS)
    p = win.current
    grabbed = grab_rgb(win.video)
    assert win.video.layer_painted
    img_h, img_w = grabbed.shape[:2]
    r = letterbox_rect(p.frame.shape[1], p.frame.shape[0], img_w, img_h)
    painted = grabbed[r.y(): r.y() + r.height(), r.x(): r.x() + r.width(), ::-1].astype(int)   # RGB -> BGR
    expect = cv2.resize(win.overlaid(p), (r.width(), r.height()), interpolation=cv2.INTER_NEAREST).astype(int)
    below_hud = max(0, win.hud.geometry().bottom() + 1 - r.y())
    same = (np.abs(painted - expect) <= 2).all(axis=-1)[below_hud:]   # premultiplied alpha: ±2 levels
    assert same.mean() > 0.97                       # nearest scaling: off-by-one rounding at most
    win.poll_timer.start()
    assert r.y() > 0 and (grabbed[: r.y(), win.hud.geometry().right() + 1:] == 0).all()   # black bars

    # hide that class (keyboard 1/2/3): its pixels are raw now, the other classes still drawn
    qtbot.keyClick(win, {1: Qt.Key.Key_1, 2: Qt.Key.Key_2, 3: Qt.Key.Key_3}[k])
    assert win.controls.choice().hidden_classes == (win.card.classes[k],)
    p = next_overlaid_after_change(qtbot, win)
    labels, raw, out = p.segmentation.labels_at(p.frame.shape[1], p.frame.shape[0]), p.frame, win.overlaid(p)
    assert (out[labels == k] == raw[labels == k]).all()
    others = (labels > 0) & (labels != k)
    if others.any():
        assert (out[others] != raw[others]).any(axis=-1).mean() > 0.5
    qtbot.keyClick(win, {1: Qt.Key.Key_1, 2: Qt.Key.Key_2, 3: Qt.Key.Key_3}[k])

    # opacity 0: nothing changes anywhere
    win.controls.opacity_slider.setValue(0)
    p = next_overlaid_after_change(qtbot, win)
    assert np.array_equal(win.overlaid(p), p.frame)

    # contour at 60 %: fewer pixels drawn than fill
    win.controls.opacity_slider.setValue(60)
    p = next_overlaid_after_change(qtbot, win)
    fill_changed = (win.overlaid(p) != p.frame).any(axis=-1).sum()
    win.controls.contour_radio.setChecked(True)
    p = next_overlaid_after_change(qtbot, win)
    contour_changed = (win.overlaid(p) != p.frame).any(axis=-1).sum()
    assert 0 < contour_changed < fill_changed

    # O turns the overlay off (not an alarm): raw picture, HUD says hidden, not red
    qtbot.keyClick(win, Qt.Key.Key_O)
    assert not win.controls.enabled_box.isChecked()
    start = win.current.index
    qtbot.waitUntil(lambda: win.current.index > start + 2, timeout=WAIT_MS)
    assert np.array_equal(win.current.composited, win.current.frame)
    qtbot.waitUntil(lambda: "overlay hidden" in win.hud.text(), timeout=WAIT_MS)
    assert not win.hud.off


def thread_nice(tid: int) -> int:
    return int(Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have their own nice on Linux only")
def test_ui_thread_gets_a_cpu_first_and_the_threads_it_starts_do_not(qtbot, segmenter, clip_path):
    import threading

    from surgical_seg.realtime.priority import START_NICE
    ui = threading.get_native_id()
    before_cv = cv2.getNumThreads()
    win = open_window(qtbot, segmenter, clip_path, register=False)
    wait_overlaid(qtbot, win)
    if win.ui_nice is None:                          # no CAP_SYS_NICE here: said (ui_nice, then model_nice), and
        assert "-5: not permitted (needs CAP_SYS_NICE)" in win.status_label.text()    # nothing changed
        assert thread_nice(ui) == START_NICE
    else:
        assert thread_nice(ui) == -5
    nice = {t.name: thread_nice(t.native_id) for t in threading.enumerate() if t.native_id}
    assert nice["pipeline-compositor"] == nice["ui-source"] == nice["ui-files"] == START_NICE
    capture = [n for name, n in nice.items() if name.startswith("source-")]
    assert capture and set(capture) == {START_NICE}
    m = win.cfg.pipeline.model_nice                  # below 0: only with the capability ui_nice needs too
    want = START_NICE + m if m >= 0 or win.ui_nice is not None else START_NICE
    assert nice["pipeline-inference"] == max(-20, min(19, want))   # (the kernel's bounds)
    assert cv2.getNumThreads() == win.cfg.pipeline.opencv_threads == 1   # OpenCV's pool: one thread while open
    win.close()
    assert thread_nice(ui) == START_NICE             # given back with the window
    assert cv2.getNumThreads() == before_cv


def test_viewer_runs_without_the_right_to_raise_priorities(qtbot, segmenter, clip_path, monkeypatch):
    """A desktop login has no CAP_SYS_NICE: the viewer opens, paints overlays and says what it could not do."""
    from surgical_seg.realtime import priority
    from surgical_seg.viewer import app as viewer_app
    monkeypatch.setattr(priority, "set_thread_nice", lambda value: False)
    monkeypatch.setattr(viewer_app, "set_thread_nice", lambda value: False)
    win = open_window(qtbot, segmenter, clip_path, register=False)
    wait_overlaid(qtbot, win)
    assert win.ui_nice is None and "-5: not permitted (needs CAP_SYS_NICE)" in win.status_label.text()
    win.close()


def test_stale_model_turns_overlay_off_and_video_keeps_running(qtbot, segmenter, clip_path):
    # calls of 0.4 s finish (the watchdog's stall bound is 1 s here): the masks are late, not stalled
    cfg = AppConfig(privacy=NO_GATE, pipeline=PipelineConfig(stale_ms=150.0),
                    watchdog=WatchdogConfig(infer_stall_ms=1000.0, infer_abandon_s=5.0))
    win = open_window(qtbot, SlowSegmenter(segmenter, delay_s=0.4), clip_path, cfg)
    qtbot.waitUntil(lambda: "AI OVERLAY OFF — model late" in win.hud.text(), timeout=WAIT_MS)
    assert win.hud.off
    hud = win.hud.grab().toImage()
    edge = hud.pixelColor(3, hud.height() // 2)                          # the padding, left of the text
    assert edge.red() > 100 and edge.green() < 60 and edge.blue() < 60, edge.name()   # painted red
    first = win.current.index
    qtbot.waitUntil(lambda: win.current.index >= first + 10, timeout=WAIT_MS)   # video did not wait
    p = win.current
    assert p.overlay_off_reason.startswith("stale") and np.array_equal(p.composited, p.frame)
    assert win.video._layer is None and not win.video.layer_painted
    # a frame that is shown is the raw frame, and its index is written in its pixels
    assert read_index(win.video.frame()) == p.index % CLIP_FRAMES


def test_model_error_and_lost_source(qtbot, segmenter, clip_path):
    cfg = AppConfig(privacy=NO_GATE, source=SourceConfig(read_timeout_s=0.5))
    win = open_window(qtbot, SlowSegmenter(segmenter, fail=True), clip_path, cfg)
    qtbot.waitUntil(lambda: "AI OVERLAY OFF — model error: RuntimeError: boom" in win.hud.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.current.index > 0, timeout=WAIT_MS)     # the video keeps running
    assert win.video.frame() is not None
    # the source goes away: the last frame stays up with SIGNAL LOST, the HUD says why
    win.pipeline.source.stop()
    qtbot.waitUntil(lambda: win.video._banner == "SIGNAL LOST", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "AI OVERLAY OFF — source" in win.hud.text(), timeout=WAIT_MS)
    assert win.video.frame() is not None


def test_recording_writes_equal_frame_counts(qtbot, segmenter, clip_path, tmp_path):
    win = open_window(qtbot, segmenter, clip_path, record_dir=str(tmp_path / "rec"))
    wait_overlaid(qtbot, win)
    win.record_button.setChecked(True)
    rec = win.recorder
    assert rec is not None
    qtbot.waitUntil(lambda: rec.written >= 40, timeout=WAIT_MS)
    win.record_button.setChecked(False)
    assert win.recorder is None
    qtbot.waitUntil(lambda: not rec.running, timeout=WAIT_MS)      # the writer finishes off the UI thread
    assert rec.error is None
    raw_path, over_path, csv_path = rec.paths
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == rec.written >= 40

    def decode(path):
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    raw, over = decode(raw_path), decode(over_path)
    assert len(raw) == len(over) == len(rows)
    assert raw[0].shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)
    # the raw file holds exactly the frames the CSV names, in order
    for frame, row in list(zip(raw, rows))[::7]:
        assert read_index(frame) == int(row["frame_index"]) % CLIP_FRAMES
    drawn = [i for i, r in enumerate(rows) if not r["overlay_off_reason"]]
    assert drawn, "some recorded frames carry the overlay"
    i = drawn[len(drawn) // 2]
    assert np.abs(over[i].astype(int) - raw[i]).mean() > 2 * np.abs(raw[i].astype(int) - raw[i]).mean() + 1
    assert all(float(r["latency_ms"]) > 0 for r in rows)


def test_pause_step_seek_snapshot_theatre(qtbot, segmenter, clip_path, tmp_path):
    win = open_window(qtbot, segmenter, clip_path, snapshot_dir=str(tmp_path / "snaps"))
    wait_overlaid(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_Space)
    assert win._playback().paused
    qtbot.wait(300)
    idx = shown_index(win)
    qtbot.wait(300)
    assert shown_index(win) == idx            # paused: the picture holds still
    qtbot.keyClick(win, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: shown_index(win) == (idx + 1) % CLIP_FRAMES, timeout=WAIT_MS)
    win.seek(1.0)                                          # 30 fps clip: frame 30
    qtbot.waitUntil(lambda: shown_index(win) == 30, timeout=WAIT_MS)
    assert abs(win._playback().position_s - 1.0) < 0.02
    qtbot.waitUntil(lambda: win.current.segmentation is not None, timeout=WAIT_MS)

    files = win.snapshot()
    assert win.file_tasks.wait_idle(10)                    # PNGs are written off the UI thread
    names = sorted(f.name.rsplit("_", 1)[-1] for f in files)
    assert names == ["color.png", "frame.png", "mask.png", "overlay.png"]
    mask = cv2.imread(str(next(f for f in files if f.name.endswith("_mask.png"))), cv2.IMREAD_UNCHANGED)
    cur = win.current
    assert np.array_equal(mask, cur.segmentation.labels_at(cur.frame.shape[1], cur.frame.shape[0]))   # at frame size
    frame = cv2.imread(str(next(f for f in files if f.name.endswith("_frame.png"))))
    assert np.array_equal(frame, win.current.frame)
    overlay = cv2.imread(str(next(f for f in files if f.name.endswith("_overlay.png"))))
    drawn = mask > 0                                       # burnt in for the snapshot (the screen had a layer)
    assert drawn.any() and (overlay != frame).any(axis=-1)[drawn].mean() > 0.5
    assert np.array_equal(overlay[~drawn], frame[~drawn])

    qtbot.keyClick(win, Qt.Key.Key_Space)                  # play again
    assert not win._playback().paused
    small = win.hud.font().pixelSize()
    qtbot.keyClick(win, Qt.Key.Key_F11)
    assert win.isFullScreen() and not win.side.isVisible() and win.hud.large
    assert win.hud.font().pixelSize() > small
    qtbot.keyClick(win, Qt.Key.Key_F11)
    assert not win.isFullScreen() and win.side.isVisible()


def test_settings_remembered(qtbot, segmenter, clip_path, temp_settings):
    win = open_window(qtbot, segmenter, clip_path, register=False)
    win.controls.opacity_slider.setValue(70)
    win.controls.class_boxes["disc"].setChecked(False)
    win.controls.contour_radio.setChecked(True)
    win.close()
    s = load_settings(str(temp_settings))
    assert (s.opacity, s.style, s.hidden_classes, s.source) == (0.7, "contour", ("disc",), str(clip_path))
    win2 = open_window(qtbot, segmenter, clip_path)
    c = win2.controls.choice()
    assert (c.opacity, c.style, c.hidden_classes) == (0.7, "contour", ("disc",))


def test_cli_screenshot_and_stats(tiny_model_dir, clip_path, tmp_path):
    """The real command in its own process (its QApplication.quit() must not end this process's loop)."""
    import os
    import subprocess
    import sys
    shot, stats = tmp_path / "shot.png", tmp_path / "stats"
    out = subprocess.run([sys.executable, "-m", "surgical_seg", "view", str(clip_path), "--model",
                          str(tiny_model_dir), "--quit-after", "5", "--screenshot", str(shot), "--stats", str(stats)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-800:]
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[1] >= 800 and img.std() > 10
    import json
    summary = json.loads((stats / "summary.json").read_text())
    assert summary["frames_displayed"] > 10 and summary["latency_until"] == "display"
    assert summary["display_latency_ms"]["p95"] > 0


@pytest.mark.parametrize("argv, message", [
    (["--screenshot", "x.png"], "--screenshot needs --quit-after"),
    (["--model", "/no/such/model"], "model '/no/such/model' not found"),
    (["/no/such/clip.mp4", "--quit-after", "1"], "/no/such/clip.mp4: no such file"),
])
def test_cli_errors_are_one_line(qtbot, tiny_model_dir, capsys, argv, message):
    if "--model" not in argv:
        argv = argv + ["--model", str(tiny_model_dir)]
    assert cli.main(["view", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_recorder_drops_with_a_counter_when_the_writer_is_behind(tmp_path):
    """A burst into a one-frame queue: the submitter never waits, drops are counted, files stay equal."""
    from surgical_seg.packet import FramePacket
    from surgical_seg.viewer.recorder import Recorder
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8) for _ in range(3)]   # slow to encode
    rec = Recorder(tmp_path / "rec", fps=30, queue_frames=1, thinning=1).start()
    n = 20
    for i in range(n):
        p = FramePacket(i, frames[i % 3], time.perf_counter_ns())
        p.composited = 255 - p.frame
        rec.submit(p)
    rec.stop()
    assert rec.dropped > 0 and rec.written + rec.dropped == n and rec.error is None
    assert "dropped (the writer fell behind: encoder or disk)" in rec.status()
    with av.open(str(rec.paths[0])) as a, av.open(str(rec.paths[1])) as b:
        counts = (sum(1 for _ in a.decode(video=0)), sum(1 for _ in b.decode(video=0)))
    rows = rec.paths[2].read_text().splitlines()[1:]
    assert counts == (rec.written, rec.written) == (len(rows), len(rows))
