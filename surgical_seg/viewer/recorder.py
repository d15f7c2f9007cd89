"""Recorder sink: raw video, each frame's label map, a per-frame CSV and (where it fits) the overlaid
video, all surviving a crash.

It must never stall the display: `submit()` only puts into a bounded queue and, when the disk or
encoder cannot keep up, drops the frame and counts it; `stop(wait=False)` returns at once and the
writer finishes what is queued on its own thread. A writer that falls behind the source for good (x264
at 1080p60 costs ~11-13 ms of CPU a frame on a 2-core machine already running the live view) would drop
every other frame or so at random, a jerky video; instead the recorder then keeps an even cadence:
every 2nd frame, then every 3rd... up to `thinning` (`every`; a step at most once a second of video,
never back within a recording, so its frame rate stays steady), and says so in its status.

One item carries the raw frame, the overlay, the label map and the CSV row, and the writer writes them
all or none. `overlay`: "live" burns the overlay in and encodes overlay.mp4 as it records; "later" leaves
that to `surgical-seg compose` (maskstream.py: at 1080p60 the second encode and burn-in do not fit beside
the live view); "auto" picks by format.

Crash safety (kill -9, power cut after the OS wrote its cache): the videos are fragmented MP4
(`empty_moov` + a `moof`/`mdat` fragment at least every FRAGMENT_S, flushed as it completes), so a
file cut anywhere plays up to its last whole fragment; no `moov` at the end is needed. The CSV is
flushed after every row. Frame timestamps are the frames' real capture times (ms since the first
recorded frame), so a frame the pipeline or the recorder dropped shows as a gap, not as a speed-up.
"""
from __future__ import annotations

import csv
import queue
import threading
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
from av.video.frame import PictureType
import cv2
import numpy as np

from ..errors import ConfigError
from ..packet import STAGES, FramePacket
from ..realtime.priority import restore_thread_priority, shift_thread_priority
from .maskstream import LABELS_NAME, STYLE_NAME, LabelWriter, overlay_mode, save_style
from .recording import PRIVATE_MUX_OPTIONS, failure_reason, strip_tags

CSV_COLUMNS = ("frame_index", "t_capture_ns", "pts_s", *(f"{s}_ms" for s in STAGES),
               "latency_ms", "overlay_off_reason", "privacy", "oob_score")
RAW_NAME, OVERLAY_NAME, CSV_NAME = "raw.mp4", "overlay.mp4", "frames.csv"
FRAGMENT_S = 0.5                    # at most this much video is lost when the process dies
TIME_BASE = Fraction(1, 1000)       # frame pts in ms of capture time
# the cadence steps at most once a second of video: a niced writer runs in bursts, and its queue can still
# be full a few frames after a step that will hold (measured at 1080p60: 2 -> 3 -> 4 within 50 ms)
STEP_EVERY_NS = 1_000_000_000


def csv_row(packet: FramePacket) -> list:
    """One CSV line: the packet's index, times, per-stage durations and video latency."""
    stages = [packet.stage_ms(s) for s in STAGES]
    latency = packet.latency_ms("display") or packet.latency_ms("composite")
    fmt = (lambda v: "" if v is None else f"{v:.3f}")
    return [packet.index, packet.t_capture_ns, "" if packet.pts_s is None else f"{packet.pts_s:.4f}",
            *(fmt(v) for v in stages), fmt(latency), packet.overlay_off_reason or "", packet.privacy or "",
            "" if packet.oob_score is None else f"{packet.oob_score:.4f}"]


class _FragmentedMp4:
    """One H.264 fragmented MP4 fed with BGR frames stamped with their capture time."""

    def __init__(self, path: Path, width: int, height: int, fps: float, codec: str, threads: int = 1) -> None:
        self.container = av.open(str(path), "w", options={
            "movflags": "frag_keyframe+empty_moov+default_base_moof",
            "frag_duration": str(int(FRAGMENT_S * 1e6)),      # µs; cuts between keyframes too
            "flush_packets": "1",                               # each fragment reaches the OS at once
            **PRIVATE_MUX_OPTIONS})                             # no creation time, no encoder tag
        self.stream = self.container.add_stream(codec, rate=Fraction(round(fps * 1000), 1000))
        strip_tags(self.container, self.stream)
        self.stream.width, self.stream.height = width - width % 2, height - height % 2   # yuv420p
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = TIME_BASE
        # zerolatency: no lookahead or B-frames, so a frame is in the file one fragment after capture;
        # a keyframe a second keeps seeking in a long recording cheap
        self.stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(max(1, round(fps)))}
        if threads > 0:                 # 0: the encoder's own choice
            self.stream.codec_context.thread_count = threads
        self.last_pts = -1

    def write(self, bgr: np.ndarray | None, t_ms: int, yuv=None) -> None:
        """`yuv`: the same picture as the decoder gave it, of the stream's size (Recorder.submit checks),
        encoded as is; else `bgr` is converted."""
        h, w = self.stream.height, self.stream.width
        if yuv is not None:
            frame = yuv
            frame.pict_type = PictureType.NONE      # a decoded I/P/B type would force x264's frame types
        else:
            # OpenCV's BGR -> I420 rounds correctly; swscale's default path darkens by ~2 levels per
            # generation (a recording of a recording drifts), and it is slower
            i420 = cv2.cvtColor(np.ascontiguousarray(bgr[:h, :w]), cv2.COLOR_BGR2YUV_I420)
            frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        frame.pts = self.last_pts = max(int(t_ms), self.last_pts + 1)    # strictly increasing
        frame.time_base = TIME_BASE
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


class Recorder:
    """`start()`, `submit(packet)` from any thread (never blocks), `stop()` finishes and closes."""

    def __init__(self, out_dir: str | Path, fps: float = 30.0, queue_frames: int = 60,
                 codec: str = "libx264", threads: int = 1, nice: int = 0, overlay: str = "auto",
                 annotator=None, thinning: int = 4) -> None:
        if overlay not in ("auto", "live", "later"):
            raise ConfigError(f"recorder.overlay must be auto, live or later, not {overlay!r}")
        if thinning < 1:
            raise ConfigError(f"recorder.thinning must be >= 1 (1 = every frame or a drop), not {thinning!r}")
        self.out_dir = Path(out_dir)
        self.fps = fps if fps and fps > 0 else 30.0
        self.codec, self.threads, self.nice = codec, threads, nice
        self.overlay = overlay              # auto until the first frame's size decides it
        self.annotator = annotator          # the overlay style at REC on (overlay.json, for compose)
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_frames))
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._size: tuple[int, int] | None = None
        self._t0_ns: int | None = None
        self.written = 0
        self.dropped = 0                    # frames lost because the writer was behind
        self.thinning = thinning
        self.every = 1                      # the cadence: every Nth source frame is recorded
        self.skipped = 0                    # frames left out by that cadence
        self._offered = 0                   # frames offered since the cadence last changed
        self._stepped_ns = -STEP_EVERY_NS   # capture time of that change
        self.error: str | None = None
        self.failed: str | None = None      # the error in a few words for the HUD: "disk full", ...

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        return self.out_dir / RAW_NAME, self.out_dir / OVERLAY_NAME, self.out_dir / CSV_NAME

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "Recorder":
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--record {self.out_dir}: cannot create folder ({e.strerror})") from None
        if self.codec not in av.codecs_available:
            raise ConfigError(f"recorder.codec: {self.codec!r} is not available in PyAV")
        try:
            save_style(self.out_dir / STYLE_NAME, self.annotator)
        except OSError as e:
            raise ConfigError(f"--record {self.out_dir}: cannot write {STYLE_NAME} ({e.strerror})") from None
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()
        return self

    def submit(self, packet: FramePacket, overlaid: np.ndarray | Callable[[], np.ndarray] | None = None) -> bool:
        """Queue the packet's raw + overlaid frame (`overlaid`, else packet.composited, else the raw frame);
        False (and dropped += 1) if the writer is behind. `overlaid` may be a function that draws it: then
        the writer's thread draws, not the caller's (the live viewer's compositor must not spend a
        full-resolution burn-in per frame on the recording)."""
        if self._thread is None or self.error or self._stopping.is_set():
            return False
        size = packet.frame.shape[1::-1]
        if self._size is None:
            self._size = size
            self.overlay = overlay_mode(self.overlay, *size, self.fps)
        yuv = packet.yuv        # encoded as is where it is the stream's picture: even sizes (yuv420p)
        if yuv is not None and ((yuv.width, yuv.height) != size or (size[0] | size[1]) & 1):
            yuv = None
        if self.overlay == "later":      # queue only what is written: no overlay, no BGR where the YUV will do
            overlaid = None
            frame = packet.frame if yuv is None else None
        else:
            frame = packet.frame
            if overlaid is None:
                overlaid = packet.composited if packet.composited is not None else packet.frame
        picture = overlaid is not None and not callable(overlaid)
        if size != self._size or (picture and overlaid.shape != packet.frame.shape):
            self.dropped += 1            # a source change mid-recording: the files keep one size
            return False
        self._offered += 1
        if (self._offered - 1) % self.every:
            self.skipped += 1
            return False
        try:
            labels = packet.segmentation.labels if packet.segmentation is not None else None
            self._queue.put_nowait((frame, yuv, overlaid, labels, csv_row(packet), packet.t_capture_ns))
            return True
        except queue.Full:
            self.dropped += 1
            if self.every < self.thinning:      # behind with a full queue: a slower, even cadence
                if packet.t_capture_ns - self._stepped_ns >= STEP_EVERY_NS:
                    self.every += 1
                    self._offered = 1
                    self._stepped_ns = packet.t_capture_ns
            return False

    def stop(self, wait: bool = True, timeout: float = 30.0) -> bool:
        """Stop taking frames; the writer writes what is queued, then closes the files.

        Never blocks on the queue (a full queue or a dead writer cannot hang the caller); with
        wait=False it returns at once (the UI thread), else after at most `timeout`. True when done.
        """
        self._stopping.set()
        if self._thread is None:
            return True
        if wait:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _next(self):
        """The next queued item; None once stop() was asked and the queue is empty."""
        while True:
            try:
                return self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._stopping.is_set():
                    return None

    def _run(self) -> None:
        restore_thread_priority()           # started from the UI thread (surgical_seg/realtime/priority.py)
        shift_thread_priority(self.nice)    # and below the model: the video and its own masks win the CPU
        raw = over = masks = None
        f = None
        try:
            while (item := self._next()) is not None:
                frame, yuv, overlaid, labels, row, t_capture_ns = item
                if raw is None:
                    w, h = self._size
                    raw = _FragmentedMp4(self.paths[0], w, h, self.fps, self.codec, self.threads)
                    if self.overlay == "live":
                        over = _FragmentedMp4(self.paths[1], w, h, self.fps, self.codec, self.threads)
                    masks = LabelWriter(self.out_dir / LABELS_NAME)
                    f = open(self.paths[2], "w", newline="")
                    writer = csv.writer(f)
                    writer.writerow(CSV_COLUMNS)
                    self._t0_ns = t_capture_ns
                t_ms = (t_capture_ns - self._t0_ns) // 1_000_000
                raw.write(frame, t_ms, yuv)
                if over is not None:
                    over.write(overlaid() if callable(overlaid) else overlaid, t_ms)
                masks.write(row[0], t_ms, labels)
                writer.writerow(row)
                f.flush()                # a crash keeps every row whose frames were encoded
                self.written += 1
        except Exception as e:           # disk full, encoder error: say so in the UI, stop recording
            self.error = f"{type(e).__name__}: {e}"
            self.failed = failure_reason(e)
        finally:
            for closer in (raw, over, masks):
                if closer is not None:
                    try:
                        closer.close()
                    except Exception as e:
                        self.error = self.error or f"{type(e).__name__}: {e}"
                        self.failed = self.failed or failure_reason(e)
            if f is not None:
                try:
                    f.close()
                except OSError as e:         # the CSV's last flush on a full disk
                    self.error = self.error or f"{type(e).__name__}: {e}"
                    self.failed = self.failed or failure_reason(e)

    def status(self) -> str:
        if self.error:
            return f"REC FAILED — {self.failed or 'error'}: {self.error}"
        text = f"REC {self.written} frames" + (" (finishing)" if self._stopping.is_set() and self.running else "")
        if self.every > 1:
            text += (f", every {ordinal(self.every)} frame ({self.fps / self.every:.0f} of {self.fps:.0f} fps: "
                     f"the encoder cannot follow the source here)")
        text += f", {self.dropped} dropped (the writer fell behind: encoder or disk)" if self.dropped else ""
        return text + (" (overlay video: surgical-seg compose)" if self.overlay == "later" else "")


def ordinal(n: int) -> str:
    """2nd, 3rd, 4th: the recorder's cadence in words (up to 20th)."""
    return f"{n}{'nd' if n == 2 else 'rd' if n == 3 else 'th'}"


def decodable_times(path: str | Path) -> list[float]:
    """Capture times (s) of every frame PyAV can decode from a recording, stopping quietly at a cut-off
    end (what is left of a file after a crash)."""
    times: list[float] = []
    try:
        with av.open(str(path)) as c:
            for frame in c.decode(video=0):
                times.append(float(frame.time) if frame.time is not None else float("nan"))
    except (av.error.FFmpegError, EOFError):
        pass
    return times


__all__ = ["decodable_times", "ordinal", "Recorder", "CSV_COLUMNS", "csv_row", "RAW_NAME", "OVERLAY_NAME", "CSV_NAME", "FRAGMENT_S"]
