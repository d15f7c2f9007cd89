"""The theatre viewer: `surgical-seg view`.

The window is a sink of the pipeline (surgical_seg.pipeline): the source, the model and the
compositor run on their own threads; the UI thread only polls `pipeline.latest()` on a 60 Hz timer,
paints the newest composited frame and, after painting, feeds the "display" span to the stats
(video latency and overlay age run to the screen). Tables and plots refresh at 4 Hz. Nothing on the UI thread
waits for capture or inference.

Fail-safe: the raw video keeps playing whatever the model does; when no overlay is drawn for a
reason (stale mask, model error, source lost) the HUD turns red: "AI OVERLAY OFF — <reason>".
"""
from __future__ import annotations

import collections
import dataclasses
import time
from pathlib import Path

import cv2
import numpy as np
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import (QApplication, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QMainWindow,
                             QMessageBox, QPushButton, QSlider, QVBoxLayout, QWidget)

from ..config import AppConfig, load_app_config, replace_section
from ..errors import ConfigError, SurgicalSegError
from ..overlay import MaskAnnotator
from ..packet import FramePacket
from ..pipeline import Pipeline
from ..stats import StatsRecorder, describe
from .controls import OverlayChoice, OverlayControls
from .devices import DeviceProber
from .hud import Hud
from .latency import LatencyPanel
from .playback import PlaybackSource
from .recorder import Recorder
from .settings import load_settings, save_settings
from .video import VideoWidget

# The clip shipped with the project (scripts/build_assets.sh makes it); opened when no source is given.
SAMPLE_CLIP = Path(__file__).resolve().parents[2] / "weights" / "samples" / "spine_synth_720p.mp4"
POLL_MS = 15            # newest-frame poll (≈ 66 Hz: never the limit for 30/60 fps video)
STATS_MS = 250          # latency panel + HUD refresh (4 Hz)
SIDE_WIDTH = 360


def sample_source() -> str:
    if not SAMPLE_CLIP.is_file():
        raise ConfigError(f"no source given and the sample clip {SAMPLE_CLIP} is missing "
                          "(run scripts/build_assets.sh, or give a file, URL or device index)")
    return str(SAMPLE_CLIP)


class MainWindow(QMainWindow):
    """Video + HUD on the left; overlay controls, latency panel, record/snapshot on the right."""

    def __init__(self, cfg: AppConfig, segmenter, source: str | None = None, *, record_dir: str | None = None,
                 settings_path: str | None = None, snapshot_dir: str | None = None) -> None:
        super().__init__()
        self.cfg, self.segmenter = cfg, segmenter
        self.card = segmenter.card
        self.settings_path = settings_path
        self.settings = load_settings(settings_path)
        self.snapshot_dir = Path(snapshot_dir or record_dir or "snapshots")
        self.record_dir = Path(record_dir) if record_dir else None
        self.pipeline: Pipeline | None = None
        self.stats: StatsRecorder | None = None
        self.recorder: Recorder | None = None
        self.source_spec = ""
        self.source_state: str | None = None       # "source lost" / "source ended" / error text
        self.current: FramePacket | None = None
        self._shown_index = -1
        self._last_new_frame = time.monotonic()
        self._painted_times: collections.deque[int] = collections.deque(maxlen=240)
        self.display_latency_ms: collections.deque[float] = collections.deque(maxlen=100_000)
        self.events_log: list[str] = []

        # closing deletes the Qt side at once, children in order: left to interpreter exit, pyqtgraph's
        # items can be asked for size hints after their Python half is gone (tracebacks on exit)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("surgical-seg — theatre viewer")
        self._build_ui()
        self._apply_overlay(self.controls.choice())
        self.latency.set_model(self.card.name, f"{segmenter.backend_name} ({segmenter.device}, {segmenter.precision})")

        self.poll_timer = QTimer(self, interval=POLL_MS, timerType=Qt.TimerType.PreciseTimer)
        self.poll_timer.timeout.connect(self._poll)
        self.poll_timer.start()
        self.stats_timer = QTimer(self, interval=STATS_MS)
        self.stats_timer.timeout.connect(self._refresh_stats)
        self.stats_timer.start()
        if source is not None:
            self.open_source(source)

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        s, ov = self.settings, self.cfg.overlay
        hidden = s.hidden_classes if s.hidden_classes is not None else ov.hidden_classes
        hidden = tuple(n for n in hidden if n in self.card.classes)
        self.video = VideoWidget()
        self.video.painted.connect(self._on_painted)
        self.hud = Hud(self.video)
        self.hud.show_state(0.0, None, "waiting for video")

        self.play_button = QPushButton("Pause")
        self.step_button = QPushButton("Step ▶|")
        self.seek_slider = QSlider(Qt.Orientation.Horizontal)
        self.seek_slider.setRange(0, 1000)
        self.position_label = QLabel("–")
        self.play_button.clicked.connect(self.toggle_pause)
        self.step_button.clicked.connect(self.step)
        self.seek_slider.sliderReleased.connect(self._seek_from_slider)
        self.play_bar = QWidget()
        row = QHBoxLayout(self.play_bar)
        row.setContentsMargins(4, 2, 4, 2)
        for w in (self.play_button, self.step_button):
            row.addWidget(w)
        row.addWidget(self.seek_slider, 1)
        row.addWidget(self.position_label)

        left = QWidget()
        col = QVBoxLayout(left)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.video, 1)
        col.addWidget(self.play_bar)

        self.controls = OverlayControls(self.card.classes, self.card.colors_rgb,
                                        opacity=s.opacity if s.opacity is not None else ov.opacity,
                                        style=s.style or ov.style, hidden=hidden)
        self.controls.changed.connect(self._apply_overlay)
        self.latency = LatencyPanel(budget_ms=self.cfg.pipeline.stale_ms)
        self.record_button = QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self.set_recording)
        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.clicked.connect(self.snapshot)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.source_label = QLabel("source: –")
        self.source_label.setWordWrap(True)

        self.side = QWidget()
        self.side.setFixedWidth(SIDE_WIDTH)
        side = QVBoxLayout(self.side)
        side.addWidget(self.source_label)
        side.addWidget(self.controls)
        buttons = QHBoxLayout()
        buttons.addWidget(self.record_button)
        buttons.addWidget(self.snapshot_button)
        side.addLayout(buttons)
        side.addWidget(self.status_label)
        side.addWidget(self.latency, 1)

        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(left, 1)
        lay.addWidget(self.side)
        self.setCentralWidget(central)
        self.resize(1400, 800)

        menu = self.menuBar().addMenu("&Source")
        for text, slot in (("Open &file…", self.choose_file), ("Capture &device…", self.choose_device),
                           ("Stream &URL…", self.choose_url), ("&Sample clip", self.open_sample)):
            act = QAction(text, self)
            act.triggered.connect(slot)
            menu.addAction(act)
        if self.settings.source:
            act = QAction(f"&Last: {self.settings.source}", self)
            act.triggered.connect(lambda: self.open_source(self.settings.source))
            menu.addAction(act)
        self.prober = DeviceProber(self)
        self.prober.finished.connect(self._devices_found)

        keys = {"O": lambda: self.controls.enabled_box.toggle(),
                "1": lambda: self.controls.toggle_class(1), "2": lambda: self.controls.toggle_class(2),
                "3": lambda: self.controls.toggle_class(3), "Space": self.toggle_pause,
                "Right": self.step, "F11": self.toggle_fullscreen, "Esc": self.leave_fullscreen}
        for key, fn in keys.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.ApplicationShortcut)
            sc.activated.connect(fn)

    # ------------------------------------------------------------------ sources
    def open_source(self, spec: str) -> None:
        """Stop the running pipeline (if any) and play `spec`; errors go to a dialog, not a crash."""
        from ..sources import open_source
        try:
            src_cfg = dataclasses.replace(self.cfg.source, realtime=True, loop=True)
            source = open_source(spec, src_cfg)
        except SurgicalSegError as e:
            self._error(str(e))
            return
        if not source.live:
            source = PlaybackSource(source)
        self.close_pipeline()
        self.segmenter.reset()
        self.stats = StatsRecorder(window_s=self.cfg.viewer.stats_window_s)
        self.pipeline = Pipeline(source, self.segmenter, self._annotator, mode="live",
                                 stale_ms=self.cfg.pipeline.stale_ms, align_ms=self.cfg.pipeline.align_ms,
                                 warp=self.cfg.pipeline.warp, stats=self.stats, sinks=[self._record_sink])
        self.source_spec, self.source_state = str(spec), None
        self._shown_index, self._last_new_frame = -1, time.monotonic()
        self.play_bar.setVisible(isinstance(source, PlaybackSource))
        self.play_button.setText("Pause")
        self.source_label.setText(f"source: {source.describe()}")
        self.settings.source = str(spec)
        self._save_settings()
        self.pipeline.start()
        if self.record_button.isChecked():
            self.set_recording(True)

    def close_pipeline(self) -> None:
        self.set_recording(False, keep_button=True)
        if self.pipeline is not None:
            self.pipeline.stop(timeout=3.0)
            self.pipeline = None

    def choose_file(self) -> None:
        start = str(Path(self.settings.source).parent) if self.settings.source else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open video", start,
                                              "Video (*.mp4 *.mkv *.avi *.mov *.ts *.webm);;All files (*)")
        if path:
            self.open_source(path)

    def choose_device(self) -> None:
        self.status_label.setText("looking for capture devices…")
        self.prober.start()                 # off the UI thread; _devices_found gets the answer

    def _devices_found(self, found: list) -> None:
        if not found:
            self.status_label.setText("no capture device answered on indexes 0–4")
            return
        self.status_label.setText("")
        names = [d for _, d in found]
        name, ok = QInputDialog.getItem(self, "Capture device", "Device:", names, 0, False)
        if ok:
            self.open_source(str(found[names.index(name)][0]))

    def choose_url(self) -> None:
        url, ok = QInputDialog.getText(self, "Stream", "URL (rtsp://, udp://, http://):")
        if ok and url.strip():
            self.open_source(url.strip())

    def open_sample(self) -> None:
        try:
            self.open_source(sample_source())
        except SurgicalSegError as e:
            self._error(str(e))

    # ------------------------------------------------------------------ playback (files)
    def _playback(self) -> PlaybackSource | None:
        src = self.pipeline.source if self.pipeline else None
        return src if isinstance(src, PlaybackSource) else None

    def toggle_pause(self) -> None:
        pb = self._playback()
        if pb is not None:
            pb.set_paused(not pb.paused)
            self.play_button.setText("Play" if pb.paused else "Pause")

    def step(self) -> None:
        pb = self._playback()
        if pb is not None:
            pb.step()
            self.play_button.setText("Play")

    def seek(self, seconds: float) -> None:
        pb = self._playback()
        if pb is not None:
            pb.seek(seconds)

    def _seek_from_slider(self) -> None:
        pb = self._playback()
        if pb is not None and pb.duration_s:
            self.seek(self.seek_slider.value() / 1000 * pb.duration_s)

    # ------------------------------------------------------------------ overlay
    @property
    def overlay_choice(self) -> OverlayChoice:
        return self.controls.choice()

    def _apply_overlay(self, choice: OverlayChoice) -> None:
        """Restyle the compositor (a new annotator; the old one may be mid-frame on its thread)."""
        self._annotator = (MaskAnnotator(self.card.colors_rgb, opacity=choice.opacity, style=choice.style,
                                         hidden=choice.hidden_classes, class_names=self.card.classes)
                           if choice.enabled else None)
        if self.pipeline is not None:
            self.pipeline.set_annotator(self._annotator)
        self.settings.opacity, self.settings.style = choice.opacity, choice.style
        self.settings.hidden_classes = choice.hidden_classes
        self._save_settings()

    # ------------------------------------------------------------------ the loop (UI thread)
    def _poll(self) -> None:
        pipe = self.pipeline
        if pipe is None:
            return
        for ev in pipe.events():
            self._on_event(ev)
        if pipe.latest_index != self._shown_index:
            packet = pipe.latest()
            if packet is not None:
                self._shown_index = packet.index
                self._last_new_frame = time.monotonic()
                self.current = packet
                self.video.set_frame(self._picture(packet), packet)
                if self.source_state == "source lost":
                    self.source_state = None
        pb = self._playback()
        frozen = pb is None or not pb.paused
        if frozen and self.current is not None and time.monotonic() - self._last_new_frame > self.cfg.source.read_timeout_s:
            self.source_state = self.source_state or "source lost"
        self.video.set_banner("SIGNAL LOST" if self.source_state else "")
        if pb is not None and pb.duration_s and not self.seek_slider.isSliderDown():
            self.seek_slider.setValue(int(1000 * min(1.0, pb.position_s / pb.duration_s)))
            self.position_label.setText(f"{pb.position_s:6.2f} / {pb.duration_s:.2f} s")

    def _picture(self, packet: FramePacket):
        """The composited frame, or the raw one when its overlay is already older than stale_ms now
        (staleness is judged at paint time: a busy UI thread can age an overlay that was fresh)."""
        seg = packet.segmentation
        if packet.composited is None or packet.composited is packet.frame or seg is None:
            return packet.frame if packet.composited is None else packet.composited
        age_ms = (time.perf_counter_ns() - seg.t_capture_ns) / 1e6
        if age_ms <= self.cfg.pipeline.stale_ms:
            return packet.composited
        packet.overlay_off_reason, packet.mask_source = f"stale at paint ({age_ms:.0f} ms)", "off"
        return packet.frame

    def _on_event(self, ev) -> None:
        self.events_log.append(str(ev))
        if ev.kind in ("signal_lost", "retrying"):
            self.source_state = "source lost"
        elif ev.kind == "reconnected":
            self.source_state = None
        elif ev.kind in ("end", "error") and ev.origin == "source":
            self.source_state = "source ended" if ev.kind == "end" else f"source error: {ev.message}"
        elif ev.kind == "error":
            self.source_state = ev.message
        if ev.kind in ("error", "model_error", "signal_lost", "warning"):
            self.status_label.setText(ev.message)

    def _on_painted(self, packet: FramePacket) -> None:
        """Close the frame's latency record: capture → painted."""
        self._painted_times.append(packet.spans["display"][1])
        lat = packet.latency_ms("display")
        if lat is not None:
            self.display_latency_ms.append(lat)
        if self.stats is not None:
            self.stats.add(packet)

    def off_reason(self) -> str | None:
        """Why the AI overlay is not on screen now (None when it is, or when the user hid it)."""
        if self.source_state:
            return self.source_state
        if self.current is None:
            return "waiting for video"
        return self.current.overlay_off_reason

    def display_fps(self) -> float:
        t = self._painted_times
        if len(t) < 2 or (time.perf_counter_ns() - t[-1]) > 1e9:
            return 0.0
        return (len(t) - 1) / ((t[-1] - t[0]) / 1e9)

    def _refresh_stats(self) -> None:
        reason = self.off_reason()
        extra = ""
        if self._annotator is None and reason is None:
            extra = "overlay hidden [O]"
        if self.recorder is not None:
            extra = (extra + " REC").strip()
        if self.segmenter.precision != "f32":          # reduced precision is never silent
            extra = (extra + f" {self.segmenter.precision}").strip()
        w = self.stats.window() if self.stats is not None else None
        e2e = age = None
        if w is not None:
            named = dict((r[0], r) for r in w.rows)
            e2e = named.get("video latency", (None, None))[1]
            age = named.get("overlay age", (None, None))[1]
            self.latency.refresh(w.fps_in, self.display_fps(), w.dropped, w.rows, w.t_s, w.e2e_ms, w.infer_ms,
                                 w.overlay_ms)
        fps = self.display_fps()
        self.hud.show_state(fps, e2e if fps > 0 else None, reason, extra, overlay_age_ms=age if fps > 0 else None)
        if self.recorder is not None:
            self.status_label.setText(self.recorder.status())

    # ------------------------------------------------------------------ recording, snapshots
    def _record_sink(self, packet: FramePacket) -> None:
        rec = self.recorder                  # compositor thread: only a non-blocking put
        if rec is not None:
            rec.submit(packet)

    def set_recording(self, on: bool, keep_button: bool = False) -> None:
        if on and self.recorder is None and self.pipeline is not None:
            fps = self.pipeline.source.fps or 30.0
            out = (self.record_dir or Path("recordings")) / time.strftime("rec_%Y%m%d_%H%M%S")
            try:
                self.recorder = Recorder(out, fps=fps, queue_frames=self.cfg.recorder.queue_frames,
                                         codec=self.cfg.recorder.codec).start()
            except SurgicalSegError as e:
                self._error(str(e))
                self.record_button.setChecked(False)
                return
            self.status_label.setText(f"recording to {out}")
        elif not on and self.recorder is not None:
            rec, self.recorder = self.recorder, None
            rec.stop()
            self.status_label.setText(f"{rec.status()} → {rec.out_dir}")
            self.last_recording = rec
        if not keep_button and self.record_button.isChecked() != on:
            self.record_button.blockSignals(True)
            self.record_button.setChecked(on)
            self.record_button.blockSignals(False)

    def snapshot(self) -> list[Path]:
        """Save the frame on screen: raw, overlaid, class-id mask and coloured mask PNGs."""
        p = self.current
        if p is None:
            return []
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        stem = self.snapshot_dir / f"snap_{time.strftime('%Y%m%d_%H%M%S')}_{p.index:06d}"
        files = {"frame": p.frame, "overlay": p.composited if p.composited is not None else p.frame}
        if p.segmentation is not None:
            labels = p.segmentation.labels
            files["mask"] = labels
            lut = np.zeros((256, 3), np.uint8)
            lut[: len(self.card.colors_rgb)] = np.array(self.card.colors_rgb, np.uint8)[:, ::-1]
            files["mask_color"] = lut[labels]
        out = []
        for name, img in files.items():
            path = Path(f"{stem}_{name}.png")
            cv2.imwrite(str(path), img)
            out.append(path)
        note = "" if p.segmentation is not None else " (no mask: overlay was off)"
        self.status_label.setText(f"snapshot {stem.name}{note}")
        return out

    # ------------------------------------------------------------------ theatre mode
    def toggle_fullscreen(self) -> None:
        self.set_theatre(not self.isFullScreen())

    def leave_fullscreen(self) -> None:
        if self.isFullScreen():
            self.set_theatre(False)

    def set_theatre(self, on: bool) -> None:
        """Video fills the monitor; only the corner HUD stays, in large type."""
        self.side.setVisible(not on)
        self.menuBar().setVisible(not on)
        self.play_bar.setVisible(not on and self._playback() is not None)
        self.hud.set_large(on)
        self.showFullScreen() if on else self.showNormal()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.hud.relayout()

    # ------------------------------------------------------------------ misc
    def _error(self, text: str) -> None:
        self.status_label.setText(text)
        if QApplication.platformName() != "offscreen":
            QMessageBox.warning(self, "surgical-seg", text)

    def _save_settings(self) -> None:
        save_settings(self.settings, self.settings_path)

    def write_stats(self, out_dir: str | Path) -> Path:
        """frames.csv + summary.json of this run, plus display fps and the recorder's figures."""
        rows = [r for r in self.stats.rows() if "display" in r.spans]
        ends = sorted(r.spans["display"][1] for r in rows)
        fps = (len(ends) - 1) / ((ends[-1] - ends[0]) / 1e9) if len(ends) > 1 else None
        extra = {"source": self.source_spec, "model": self.card.name, "backend": self.segmenter.backend_name,
                 "precision": self.segmenter.precision,
                 "frames_displayed": len(rows), "display_fps": fps,
                 "display_latency_ms": describe(r.latency_ms("display") for r in rows),
                 "paint_ms_last": self.video.last_paint_ms}
        rec = self.recorder or getattr(self, "last_recording", None)
        if rec is not None:
            extra["recorder"] = {"written": rec.written, "dropped": rec.dropped, "error": rec.error}
        return self.stats.write(out_dir, **extra)[1]

    def closeEvent(self, event) -> None:  # noqa: N802
        self.poll_timer.stop()
        self.stats_timer.stop()
        self.close_pipeline()
        self._save_settings()
        super().closeEvent(event)


def main(args) -> int:
    """`surgical-seg view`: load config + model, open the window, run until closed (or --quit-after)."""
    from ..engine import load_segmenter
    if args.screenshot and not args.quit_after:
        raise ConfigError("--screenshot needs --quit-after SECONDS (the time to run before the picture)")
    if args.quit_after is not None and args.quit_after <= 0:
        raise ConfigError("--quit-after must be > 0 seconds")
    cfg = load_app_config(args.config)
    settings = load_settings()
    model = args.model or settings.model or cfg.engine.model
    cfg = replace_section(cfg, "engine", model=model, backend=args.backend, precision=args.precision)
    e = cfg.engine
    segmenter = load_segmenter(e.model, backend=e.backend, threads=e.threads, device=e.device, smoothing=e.smoothing,
                               precision=e.precision, upsample=e.upsample)
    source = args.source if args.source is not None else sample_source()

    app = QApplication.instance() or QApplication([])
    settings.model = model
    save_settings(settings)
    win = MainWindow(cfg, segmenter, None, record_dir=args.record)
    win.show()
    win.open_source(source)
    if win.pipeline is None:            # could not open: the message is in the status line
        message = win.status_label.text()
        win.close()
        raise ConfigError(message)
    if args.record:
        win.record_button.setChecked(True)
    if args.fullscreen or cfg.viewer.fullscreen:
        win.set_theatre(True)
    result = {"rc": 0}
    if args.quit_after:
        def finish() -> None:
            if args.screenshot:
                Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
                if not win.grab().save(args.screenshot):
                    result["rc"] = 1
            win.close()                 # stops the pipeline and flushes the recorder first
            if getattr(args, "stats", None) and win.stats is not None:
                print(f"stats: {win.write_stats(args.stats)}")
            app.quit()
        QTimer.singleShot(int(args.quit_after * 1000), finish)
    app.exec()
    return result["rc"]



__all__ = ["MainWindow", "main", "SAMPLE_CLIP", "sample_source"]
