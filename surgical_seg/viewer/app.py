"""The theatre viewer: `surgical-seg view`.

The window is a sink of the pipeline (surgical_seg.realtime.pipeline): the source, the model and the
compositor run on their own threads; the compositor wakes the UI thread with each new frame (a queued
signal; a 66 Hz poll beside it handles events and freezes), which paints it and, after painting, feeds
the "display" span to the stats (video latency and overlay age run to the screen). Tables and plots refresh at 4 Hz. Nothing on the UI thread
waits for capture or inference.

Fail-safe: the raw video keeps playing whatever the model does; when no overlay is drawn for a
reason the HUD turns red: "AI OVERLAY OFF — <cause>", one of source lost, source frozen, model error,
model stalled, model late (viewer/failsafe.py). The overlay is a separate layer composed at paint time
(viewer/layer.py), asked for at every paint, so a frame that stops changing loses it within 3 frame
intervals (`viewer.frozen_ms`) and shows FROZEN. Opening sources, stopping pipelines and recordings and
writing snapshots run on background threads (viewer/background.py): the UI thread never waits for them.
"""
from __future__ import annotations

import collections
import dataclasses
import gc
import math
import shlex
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import (QApplication, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QMainWindow,
                             QMessageBox, QPushButton, QSlider, QVBoxLayout, QWidget)

from ..realtime import heap
from ..config import AppConfig, load_app_config, replace_section
from ..engine.confidence import ConfidenceShading, overlay_low_share
from ..errors import ConfigError, SurgicalSegError
from ..realtime.overlay import MaskAnnotator
from ..packet import FramePacket
from ..realtime.pipeline import Pipeline, stall_bounds
from ..realtime.priority import restore_thread_priority, set_opencv_threads, set_thread_nice
from ..realtime.stats import StatsRecorder, describe
from ..watchdog import GuardedSegmenter
from .background import Background
from .controls import OverlayChoice, OverlayControls
from .devices import DeviceProber
from .explain_panel import ExplainPanel
from .failsafe import FreezeDetector, overlay_verdict
from .hud import Hud
from .latency import LatencyPanel
from .layer import MaskLayer
from .playback import PlaybackSource
from .recorder import Recorder
from .screen import ThreadCPU, screen_figures, source_cpu_ms_per_frame
from .privacy_view import privacy_alarm, screen_frame, snapshot_allowed, viewer_gate
from .recording import RecordTap, folder_name
from .remembered import model_key, pick_model, source_available, source_key
from .settings import load_settings, save_settings
from .video import VideoWidget, paint_copy

# The clip shipped with the project (scripts/build_assets.sh makes it); opened when no source is given.
SAMPLE_CLIP = Path(__file__).resolve().parents[2] / "weights" / "samples" / "spine_synth_720p.mp4"
POLL_MS = 15            # events, freeze and playback poll; new frames wake the UI thread themselves (_Wake)
STATS_MS = 250          # latency panel + HUD refresh (4 Hz)
SIDE_WIDTH = 360


def sample_source() -> str:
    if not SAMPLE_CLIP.is_file():
        raise ConfigError(f"no source given and the sample clip {SAMPLE_CLIP} is missing "
                          "(run scripts/build_assets.sh, or give a file, URL or device index)")
    return str(SAMPLE_CLIP)


class _Wake(QObject):
    """Carries 'a new frame is ready' from the compositor thread to the UI thread (a queued signal)."""
    frame = pyqtSignal(object)         # the FramePacket


class MainWindow(QMainWindow):
    """Video + HUD on the left; overlay controls, latency panel, record/snapshot on the right."""

    def __init__(self, cfg: AppConfig, segmenter, source: str | None = None, *, record_dir: str | None = None,
                 settings_path: str | None = None, snapshot_dir: str | None = None,
                 segmenter_factory=None, keep_frame_rows: bool = False) -> None:
        super().__init__()
        self.cfg, self.segmenter = cfg, segmenter
        heap.mmap_large_blocks(cfg.viewer.heap_mmap_kib)   # 0 (default): frames reuse the heap's pages ...
        self._trimmed_at = time.monotonic()                # ... and its free pages go back every heap_trim_s
        self.keep_frame_rows = keep_frame_rows         # --stats: per-frame rows for frames.csv (viewer.max_stats_rows)
        self.thread_cpu = ThreadCPU()                  # --stats: CPU per thread from the first painted frame
        self.segmenter_factory = segmenter_factory     # a new inference session after a hang
        self.card = segmenter.card
        self.settings_path = settings_path
        self.settings = load_settings(settings_path)
        self.snapshot_dir = Path(snapshot_dir or record_dir or "snapshots")
        self.record_dir = Path(record_dir) if record_dir else None
        self.pipeline: Pipeline | None = None
        self.stats: StatsRecorder | None = None
        self.recorder: Recorder | None = None
        self.record_tap: RecordTap | None = None       # the running pipeline's sink to its recorders
        self.source_spec = ""
        self.source_state: str | None = None       # "source lost" / "source ended" / error text
        self.current: FramePacket | None = None
        self._shown_index = -1
        self._last_new_frame = time.monotonic()
        self._painted_times: collections.deque[int] = collections.deque(maxlen=240)
        self.display_latency_ms: collections.deque[float] = collections.deque(maxlen=10_000)
        self.events_log: collections.deque = collections.deque(maxlen=cfg.viewer.max_events)   # Events, newest last
        self.freeze = FreezeDetector(cfg.viewer.frozen_ms)
        self.layer_maker: MaskLayer | None = None
        self.source_tasks, self.file_tasks = Background("source"), Background("files")
        # the UI thread gets a CPU before decode and compositor: at every long stall of the 720p soak on
        # 2 cores it had been runnable, waiting for one, for 17-34 ms (threads it starts reset their own)
        self.ui_nice: int | None = cfg.viewer.ui_nice if set_thread_nice(cfg.viewer.ui_nice) else None
        self._opencv_threads_before = set_opencv_threads(cfg.pipeline.opencv_threads)
        self._open_generation = 0
        self._hud_reason: object = object()
        self.frozen_flagged_age_ms: float | None = None   # the frame's age when FROZEN last went up (soak reads it)

        # closing deletes the Qt side at once, children in order: left to interpreter exit, pyqtgraph's
        # items can be asked for size hints after their Python half is gone (tracebacks on exit)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("surgical-seg — theatre viewer")
        self._build_ui()
        self._apply_overlay(self.controls.choice())
        self.latency.set_model(self.card.name, f"{segmenter.backend_name} ({segmenter.device}, {segmenter.precision}: {getattr(segmenter, 'precision_why', '')})")

        # the compositor wakes the UI thread with each new frame: painted at once, and at 60 fps no frame
        # is skipped by a poll that beats against the frame rate
        self._wake = _Wake()
        self._wake.frame.connect(self._poll, Qt.ConnectionType.QueuedConnection)
        self.poll_timer = QTimer(self, interval=POLL_MS, timerType=Qt.TimerType.PreciseTimer)
        self.poll_timer.timeout.connect(self._poll)
        self.poll_timer.start()
        # fires just past the freeze bound after each new frame: FROZEN and the overlay's removal come at
        # the bound itself, not up to one poll interval later
        self.freeze_timer = QTimer(self, singleShot=True, timerType=Qt.TimerType.PreciseTimer)
        self.freeze_timer.timeout.connect(self._poll)
        self.stats_timer = QTimer(self, interval=STATS_MS)
        self.stats_timer.timeout.connect(self._refresh_stats)
        self.stats_timer.start()
        # Everything alive now (Qt, numpy, runtimes, the model: ~70k objects) lives as long as the window.
        # Moved out of the collector's sight, a full collection no longer walks it: 17-56 ms of UI thread
        # per gen-2 collection before, ~0 after (measured on this 2-core machine).
        gc.freeze()
        if source is not None:
            self.open_source(source)

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        s, ov = self.settings, self.cfg.overlay
        hidden = s.hidden_classes if s.hidden_classes is not None else ov.hidden_classes
        hidden = tuple(n for n in hidden if n in self.card.classes)
        self.video = VideoWidget()
        self.video.painted.connect(self._on_painted)
        self.video.overlay_gate = self._overlay_allowed
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
        self.explain_panel = ExplainPanel(getattr(self.segmenter, "model_dir", None), self.card.classes)
        view_row = QHBoxLayout()
        view_row.addWidget(self.video, 1)
        view_row.addWidget(self.explain_panel)
        col.addLayout(view_row, 1)
        col.addWidget(self.play_bar)

        self.controls = OverlayControls(self.card.classes, self.card.colors_rgb,
                                        opacity=s.opacity if s.opacity is not None else ov.opacity,
                                        style=s.style or ov.style, hidden=hidden,
                                        confidence=s.confidence or ov.confidence)
        self.controls.changed.connect(self._apply_overlay)
        self.latency = LatencyPanel(budget_ms=self.cfg.pipeline.stale_ms, window_s=self.cfg.viewer.stats_window_s)
        self.record_button = QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self.set_recording)
        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.clicked.connect(self.snapshot)
        self.status_label = QLabel("" if self.ui_nice is not None else
                                   f"viewer.ui_nice {self.cfg.viewer.ui_nice}: not permitted (needs CAP_SYS_NICE); "
                                   "the UI thread keeps its priority")
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
        if self.settings.source and not source_available(self.settings.source):
            self.status_label.setText(f"remembered source {self.settings.source!r} is gone; choose another")
            self.settings.source = ""
        if self.settings.source:
            act = QAction(f"&Last: {self.settings.source}", self)
            act.triggered.connect(lambda: self.open_source(self.settings.source))
            menu.addAction(act)
        self.prober = DeviceProber(self)
        self.prober.finished.connect(self._devices_found)

        keys = {"O": lambda: self.controls.enabled_box.toggle(), "Space": self.toggle_pause,
                "Right": self.step, "F11": self.toggle_fullscreen, "Esc": self.leave_fullscreen,
                "C": self.controls.cycle_confidence, "E": self.explain_current}
        for n in range(1, min(9, len(self.card.classes) - 1) + 1):      # keys 1-9: the card's classes
            keys[str(n)] = lambda n=n: self.controls.toggle_class(n)
        for key, fn in keys.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.ApplicationShortcut)
            sc.activated.connect(fn)

    # ------------------------------------------------------------------ sources
    def open_source(self, spec: str, wait: bool = False) -> None:
        """Stop the running pipeline (if any) and play `spec`, off the UI thread; errors go to the status
        line (and a dialog), not a crash. `wait=True` (start-up, tests) returns once it is playing or failed."""
        from ..sources import open_source
        self._open_generation += 1
        generation = self._open_generation
        self.close_pipeline()
        self.source_label.setText(f"opening {spec} …")
        src_cfg = dataclasses.replace(self.cfg.source, realtime=True, loop=True)
        tap = RecordTap(self._drawn_later)             # this pipeline's recorders (viewer/recording.py)

        def build():                                   # background thread: may wait on a network open
            source = open_source(spec, src_cfg)
            if not source.live:
                source = PlaybackSource(source)
            self.segmenter.reset()
            self.segmenter.frame_labels = False        # small label maps: the painter scales the layer
            # without --stats only the HUD's window needs rows: 2 windows at 60 fps, not 5 minutes (~12 MB)
            window_s = self.cfg.viewer.stats_window_s
            rows = self.cfg.viewer.max_stats_rows if self.keep_frame_rows else int(window_s * 2 * 60)
            stats = StatsRecorder(window_s=window_s, max_rows=rows)
            pipe = Pipeline(source, self.segmenter, self._annotator, mode="live",
                            stale_ms=self.cfg.pipeline.stale_ms, align_ms=self.cfg.pipeline.align_ms,
                            warp=self.cfg.pipeline.warp, stats=stats, sinks=[tap.submit],
                            watchdog=stall_bounds(self.cfg), segmenter_factory=self.segmenter_factory,
                            model_nice=self.cfg.pipeline.model_nice, burn_in=False,
                            privacy=viewer_gate(self.cfg), on_output=self._wake_ui)
            pipe.set_annotator(self._annotator, self._layer_builder())   # the first frames get their layer too
            pipe.start()
            return pipe

        def install(pipe, error) -> None:              # UI thread
            if error is not None:
                if not isinstance(error, SurgicalSegError):
                    error = f"{spec}: {type(error).__name__}: {error}"
                self.source_label.setText("source: –")
                self._error(str(error))
                return
            if generation != self._open_generation:    # a newer choice came in meanwhile
                self.source_tasks.submit(lambda: pipe.stop(timeout=3.0))
                return
            source = pipe.source
            pipe.set_annotator(self._annotator, self._layer_builder())
            self.pipeline, self.stats, self.record_tap = pipe, pipe.stats, tap
            self.source_spec, self.source_state, self.current = str(spec), None, None
            self._shown_index = -1
            self._last_new_frame = time.monotonic()
            self.freeze = FreezeDetector(self.cfg.viewer.frozen_ms, source.fps)
            self.video.frozen_ms = self.freeze.threshold_ms
            self.play_bar.setVisible(isinstance(source, PlaybackSource))
            self.play_button.setText("Pause")
            self.source_label.setText(f"source: {source.describe()}")
            self.settings.source = source_key(str(spec))
            self._save_settings()
            if self.record_button.isChecked():
                self.set_recording(True)

        self.source_tasks.submit(build, install)
        if wait:
            self.source_tasks.wait_idle()
            self.source_tasks.drain()

    def close_pipeline(self, wait: bool = False) -> None:
        """Hand the running pipeline to a background thread to stop (the UI never waits on a join)."""
        self.set_recording(False, keep_button=True)
        old, self.pipeline = self.pipeline, None
        tap, self.record_tap = self.record_tap, None
        if old is not None:
            if isinstance(old.segmenter, GuardedSegmenter):   # keep the session a watchdog restart made
                self.segmenter = old.segmenter.inner

            def stop_old() -> None:
                old.stop(timeout=3.0)    # the gate's last writer_delay_ms of frames go to the recorders
                old.wait(5.0)            # (its compositor may outlive the join on a loaded machine),
                tap.close()              # then they close
                old.sinks = []           # a stopped pipeline (kept alive by gc cycles) must not hold the window
            self.source_tasks.submit(stop_old)
        if wait:
            self.source_tasks.wait_idle(10.0)

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
        shading = (ConfidenceShading(choice.confidence, self.card.confidence_threshold)
                   if choice.confidence != "off" else None)
        self.segmenter.with_confidence = shading is not None       # read once per frame by the inference thread
        self._annotator = (MaskAnnotator(self.card.colors_rgb, opacity=choice.opacity, style=choice.style,
                                         hidden=choice.hidden_classes, class_names=self.card.classes,
                                         confidence=shading)
                           if choice.enabled else None)
        self.layer_maker = MaskLayer(self._annotator) if self._annotator is not None else None
        if self.pipeline is not None:
            self.pipeline.set_annotator(self._annotator, self._layer_builder())
        self.settings.opacity, self.settings.style = choice.opacity, choice.style
        self.settings.hidden_classes = choice.hidden_classes
        self.settings.confidence = choice.confidence
        self._save_settings()

    def _layer_builder(self):
        """The compositor thread's layer maker for the current style (None: overlay off)."""
        return self.layer_maker.build if self.layer_maker is not None else None

    def explain_current(self) -> bool:
        """E: freeze the frame on screen and explain it beside the live view (off the UI thread)."""
        if self.current is None:
            return False
        return self.explain_panel.request(self.current.frame, self.current.index)

    # ------------------------------------------------------------------ the loop (UI thread)
    def _wake_ui(self, packet: FramePacket) -> None:
        """Compositor thread: `packet` is ready; the UI thread paints it (a queued signal), from a copy
        shrunk to the paint size here, off the UI thread (viewer.video.paint_copy)."""
        packet.screen = paint_copy(packet.frame, self.video.paint_size)
        self._wake.frame.emit(packet)

    def _show(self, packet: FramePacket) -> None:
        self._shown_index = packet.index
        self._last_new_frame = time.monotonic()
        self.freeze.new_frame()
        self.freeze_timer.start(math.floor(self.freeze.threshold_ms) + 1)
        self.current = packet
        frame = screen_frame(packet, self.cfg)                        # raw: the overlay is a separate layer
        small, packet.screen = packet.screen, None                    # the widget keeps what it paints
        self.video.set_frame(frame, packet, small if frame is packet.frame else None)
        drawn = packet.overlay_off_reason is None and self.layer_maker is not None
        self.video.set_layer(packet.layer if drawn else None)      # built on the compositor thread
        if self.source_state == "source lost":
            self.source_state = None

    def _poll(self, woken: FramePacket | None = None) -> None:
        """The UI loop: on each compositor wake (`woken`: the frame it made), the poll timer and the freeze timer."""
        self.source_tasks.drain()
        self.file_tasks.drain()
        pipe = self.pipeline
        if pipe is None:
            return
        for ev in pipe.events():
            self._on_event(ev)
        newest = pipe.latest_index
        if woken is not None and woken.index > self._shown_index and woken.index >= newest - 1:
            self._show(woken)                          # every frame, unless the UI thread fell behind
        elif newest > self._shown_index:               # behind, or a wake missed: the newest now
            packet = pipe.latest()
            if packet is not None:
                self._show(packet)
        if woken is not None:                          # not shown: packets held for the privacy delay and the
            woken.screen = None                        # recorder do not keep its paint-size copy
        pb = self._playback()
        playing = pb is None or not pb.paused
        if playing and self.current is not None and time.monotonic() - self._last_new_frame > self.cfg.source.read_timeout_s:
            self.source_state = self.source_state or "source lost"
        frozen = playing and self.current is not None and self.freeze.frozen()
        if frozen and not self.video.banner:             # the moment FROZEN goes up: how old the frame was
            self.frozen_flagged_age_ms = self.freeze.age_ms()
        self.video.set_banner("SIGNAL LOST" if self.source_state else "FROZEN" if frozen else "")
        reason = self.off_reason()
        if reason is not None and self.video.layer_painted:
            self.video.update()                  # repaint now: the gate takes the layer off this frame
        if _cause(reason) != _cause(self._hud_reason):   # a new failure shows now, not at the 4 Hz refresh
            self._show_hud(reason)
        if pb is not None and pb.duration_s and not self.seek_slider.isSliderDown():
            self.seek_slider.setValue(int(1000 * min(1.0, pb.position_s / pb.duration_s)))
            self.position_label.setText(f"{pb.position_s:6.2f} / {pb.duration_s:.2f} s")

    def _stale_at_paint(self, packet: FramePacket) -> str | None:
        """Staleness judged now, at paint time (a busy UI thread can age an overlay that was fresh at
        compositing): a mask older than pipeline.stale_ms is not drawn."""
        seg = packet.segmentation
        if seg is None or packet.overlay_off_reason is not None:
            return None
        age_ms = (time.perf_counter_ns() - seg.t_capture_ns) / 1e6
        return f"model late (overlay {age_ms:.0f} ms old at paint)" if age_ms > self.cfg.pipeline.stale_ms else None

    def _on_event(self, ev) -> None:
        self.events_log.append(ev)
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
        if not self.thread_cpu.started:
            self.thread_cpu.start()                     # the screen's CPU from its first painted frame
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
        pb = self._playback()
        frozen = (pb is None or not pb.paused) and self.freeze.frozen()
        return (overlay_verdict(None, self.freeze.age_ms() if frozen else None, self.current.overlay_off_reason)
                or self._stale_at_paint(self.current))

    def _overlay_allowed(self) -> bool:
        """The paint-time gate: asked by the video widget in every paint, with the clock of that moment."""
        return self.off_reason() is None

    def display_fps(self) -> float:
        t = self._painted_times
        if len(t) < 2 or (time.perf_counter_ns() - t[-1]) > 1e9:
            return 0.0
        return (len(t) - 1) / ((t[-1] - t[0]) / 1e9)

    def _refresh_stats(self) -> None:
        guarded = self.pipeline.segmenter if self.pipeline is not None else None
        if isinstance(guarded, GuardedSegmenter) and guarded.inner is not self.segmenter:
            self.segmenter = guarded.inner       # after a watchdog restart: let the abandoned session go
            self.segmenter.frame_labels = False  # and paint its small label maps too
        w = self.stats.window() if self.stats is not None else None
        if w is not None:
            self.latency.refresh(w.fps_in, self.display_fps(), w.dropped, w.rows, w.t_s, w.e2e_ms, w.infer_ms,
                                 w.overlay_ms)
        self._show_hud(self.off_reason(), w)
        if self.recorder is not None:
            self.status_label.setText(self.recorder.status())
        trim_s = self.cfg.viewer.heap_trim_s
        if trim_s and time.monotonic() - self._trimmed_at >= trim_s:
            self._trimmed_at = time.monotonic()
            self.file_tasks.submit(heap.trim)             # off the UI thread: a few ms

    def _show_hud(self, reason: str | None, w=None) -> None:
        self._hud_reason = reason
        extra = ""
        if self._annotator is None and reason is None:
            extra = "overlay hidden [O]"
        alarms = self._alarms()
        if self.recorder is not None and not self.recorder.failed:
            extra = (extra + " REC").strip()
        share = overlay_low_share(self._annotator, self.current.segmentation if self.current else None)
        if share is not None:
            extra = (extra + f" unsure {share * 100:.0f} % of overlay").strip()
        self.explain_panel.refresh_title()
        if self.segmenter.precision != "f32":          # reduced precision is never silent
            extra = (extra + f" {self.segmenter.precision}").strip()
        if w is not None:                        # the 4 Hz refresh brings new figures; a cause change reuses them
            named = dict((r[0], r) for r in w.rows)
            self._hud_times = (named.get("video latency", (None, None))[1], named.get("overlay age", (None, None))[1])
        e2e, age = getattr(self, "_hud_times", (None, None))
        fps = self.display_fps()
        self.hud.show_state(fps, e2e if fps > 0 else None, reason, extra, overlay_age_ms=age if fps > 0 else None,
                            alarms=alarms)

    def _alarms(self) -> tuple[str, ...]:
        """Red HUD lines that are not about the overlay: a failed recording, the privacy gate."""
        rec = self.recorder
        alarms = (f"REC FAILED — {rec.failed}",) if rec is not None and rec.failed else ()
        return alarms + privacy_alarm(self.pipeline)

    # ------------------------------------------------------------------ recording, snapshots
    def _drawn_later(self, packet: FramePacket):
        """The recorder's overlaid picture, drawn on the writer's thread (the compositor only queues)."""
        return lambda a=self._annotator: self.overlaid(packet, a)

    def overlaid(self, p: FramePacket, annotator=False) -> np.ndarray:
        """The packet's picture with its overlay drawn in, for the recorder and snapshots. The viewer's
        pipeline does not burn in (the screen gets a layer): 4.9 ms per 720p frame, measured, that nobody
        looked at unless recording; the recorder does it on its own (niced) thread."""
        annotator = self._annotator if annotator is False else annotator
        if p.composited is None and p.segmentation is not None and annotator is not None:
            return annotator.annotate(p.frame, p.segmentation)
        return p.composited if p.composited is not None else p.frame

    def set_recording(self, on: bool, keep_button: bool = False) -> None:
        if on and self.recorder is None and self.pipeline is not None:
            fps = self.pipeline.source.fps or 30.0
            out = (self.record_dir or Path("recordings")) / folder_name(self.cfg.recorder.folder_pattern)
            try:
                rec = dataclasses.asdict(self.cfg.recorder)
                rec.pop("folder_pattern")                   # the folder's name, used above
                self.recorder = Recorder(out, fps=fps, annotator=self._annotator, **rec).start()
                self.record_tap.add(self.recorder, self.pipeline.latest_index)
            except SurgicalSegError as e:
                self._error(str(e))
                self.record_button.setChecked(False)
                return
            self.status_label.setText(f"recording to {out}")
        elif not on and self.recorder is not None:
            rec, self.recorder = self.recorder, None
            self.record_tap.finish(rec, self.pipeline.latest_index)   # it takes the frames the gate still holds
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
        files = {"frame": p.frame, "overlay": self.overlaid(p)}
        if p.segmentation is not None:
            labels = p.segmentation.labels_at(p.frame.shape[1], p.frame.shape[0])
            files["mask"] = labels
            lut = np.zeros((256, 3), np.uint8)
            lut[: len(self.card.colors_rgb)] = np.array(self.card.colors_rgb, np.uint8)[:, ::-1]
            files["mask_color"] = lut[labels]
        out = [Path(f"{stem}_{name}.png") for name in files]

        gate = self.pipeline.privacy if self.pipeline is not None else None

        def write() -> None:                     # PNG encoding of 4 pictures: tens of ms, off the UI thread
            if not snapshot_allowed(gate, p.index):          # out of the body (or undecided): nothing written
                raise OSError(f"frame {p.index} out of body: not saved")
            for path, img in zip(out, files.values()):
                if not cv2.imwrite(str(path), img):
                    raise OSError(f"cannot write {path}")

        self.file_tasks.submit(write, lambda _, err: err is not None and self._error(f"snapshot: {err}"))
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

    def write_stats(self, out_dir: str | Path, **more) -> Path:
        """frames.csv + summary.json of this run, plus display fps, the recorder's and the screen's figures."""
        rows = [r for r in self.stats.rows() if "display" in r.spans]
        rec = self.recorder or getattr(self, "last_recording", None)
        screen = screen_figures(rows, self.freeze.fps, self.cfg.pipeline.stale_ms, recording=rec is not None)
        screen["thread_cpu"] = self.thread_cpu.cores()
        screen["source_cpu_ms_per_frame"] = source_cpu_ms_per_frame(screen["thread_cpu"], screen["source_fps"])
        extra = {"source": self.source_spec, "model": self.card.name, "backend": self.segmenter.backend_name,
                 "precision": self.segmenter.precision, "frames_displayed": len(rows),
                 "display_fps": screen["painted_fps"], "screen": screen,
                 "display_latency_ms": describe(r.latency_ms("display") for r in rows),
                 "paint_ms_last": self.video.last_paint_ms}
        if rec is not None:
            extra["recorder"] = {"written": rec.written, "dropped": rec.dropped, "every": rec.every,
                                 "skipped": rec.skipped, "error": rec.error, "overlay": rec.overlay}
        return self.stats.write(out_dir, **extra, **more)[1]

    def closeEvent(self, event) -> None:  # noqa: N802
        self.thread_cpu.stop()                   # while the pipeline's threads still run
        self.poll_timer.stop()
        self.stats_timer.stop()
        self.close_pipeline(wait=True)           # quitting: now it is right to wait (bounded)
        rec = getattr(self, "last_recording", None)
        if rec is not None:
            rec.stop(timeout=10.0)
        self.file_tasks.wait_idle(10.0)
        self._save_settings()
        if self.ui_nice is not None:
            restore_thread_priority()            # the thread may go on (tests, an embedding app)
        set_opencv_threads(self._opencv_threads_before)
        super().closeEvent(event)


def _cause(reason) -> str | None:
    """'source frozen (no new frame for 120 ms)' -> 'source frozen': what changes the HUD at once."""
    return reason.split(" (")[0] if isinstance(reason, str) else reason


def main(args) -> int:
    """`surgical-seg view`: load config + model, open the window, run until closed (or --quit-after)."""
    from ..engine import load_segmenter
    if args.screenshot and not args.quit_after:
        raise ConfigError("--screenshot needs --quit-after SECONDS (the time to run before the picture)")
    if args.quit_after is not None and args.quit_after <= 0:
        raise ConfigError("--quit-after must be > 0 seconds")
    cfg = load_app_config(args.config)
    settings = load_settings()
    model, notice = pick_model(args.model, settings.model, cfg.engine.model)
    if notice:
        print(f"note: {notice}", file=sys.stderr)
    cfg = replace_section(cfg, "engine", model=model, backend=args.backend, precision=args.precision,
                          device=getattr(args, "device", None))
    e = cfg.engine
    threads = e.pipeline_threads("live")
    segmenter = load_segmenter(e.model, backend=e.backend, threads=threads, device=e.device, smoothing=e.smoothing,
                               precision=e.precision, upsample=e.upsample, min_region=e.min_region)
    source = args.source if args.source is not None else sample_source()

    app = QApplication.instance() or QApplication([])
    settings.model = model_key(model)
    save_settings(settings)
    def new_session():                   # after a hung inference call: a fresh runtime session
        return load_segmenter(e.model, backend=segmenter.backend_name, threads=threads, device=segmenter.device,
                              smoothing=e.smoothing, precision=e.precision, upsample=e.upsample, min_region=e.min_region)

    win = MainWindow(cfg, segmenter, None, record_dir=args.record, segmenter_factory=new_session,
                     keep_frame_rows=bool(getattr(args, "stats", None)))
    win.show()
    win.open_source(source, wait=True)
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
                print(f"stats: {win.write_stats(args.stats, command=shlex.join(['surgical-seg', *getattr(args, 'argv', [])]))}")
            app.quit()
        QTimer.singleShot(int(args.quit_after * 1000), finish)
    app.exec()
    return result["rc"]



__all__ = ["MainWindow", "main", "SAMPLE_CLIP", "sample_source"]
