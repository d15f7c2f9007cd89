"""Recorder sink: raw video, overlaid video (two MP4s, PyAV/libx264) and a per-frame CSV.

It must never stall the display: `submit()` only puts into a bounded queue and, when the disk or
encoder cannot keep up, drops the frame and counts it. One item carries the raw frame, the overlaid
frame and the CSV row, and the writer thread writes all three or none, so the two videos and the CSV
always have the same number of frames.
"""
from __future__ import annotations

import csv
import queue
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..errors import ConfigError
from ..packet import STAGES, FramePacket

CSV_COLUMNS = ("frame_index", "t_capture_ns", "pts_s", *(f"{s}_ms" for s in STAGES),
               "latency_ms", "overlay_off_reason")
RAW_NAME, OVERLAY_NAME, CSV_NAME = "raw.mp4", "overlay.mp4", "frames.csv"


def csv_row(packet: FramePacket) -> list:
    """One CSV line: the packet's index, times, per-stage durations and end-to-end latency."""
    stages = [packet.stage_ms(s) for s in STAGES]
    latency = packet.latency_ms("display") or packet.latency_ms("composite")
    fmt = (lambda v: "" if v is None else f"{v:.3f}")
    return [packet.index, packet.t_capture_ns, "" if packet.pts_s is None else f"{packet.pts_s:.4f}",
            *(fmt(v) for v in stages), fmt(latency), packet.overlay_off_reason or ""]


class _Mp4:
    """One H.264 file fed with BGR frames at a constant frame rate."""

    def __init__(self, path: Path, width: int, height: int, fps: float, codec: str) -> None:
        self.container = av.open(str(path), "w")
        self.stream = self.container.add_stream(codec, rate=Fraction(round(fps * 1000), 1000))
        self.stream.width, self.stream.height = width - width % 2, height - height % 2   # yuv420p
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        self.n = 0

    def write(self, bgr: np.ndarray) -> None:
        h, w = self.stream.height, self.stream.width
        # OpenCV's BGR -> I420 rounds correctly; swscale's default path darkens by ~2 levels per
        # generation (a recording of a recording drifts), and it is slower
        i420 = cv2.cvtColor(np.ascontiguousarray(bgr[:h, :w]), cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        frame.pts = self.n
        self.n += 1
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


class Recorder:
    """`start()`, `submit(packet)` from the UI thread (never blocks), `stop()` flushes and closes."""

    def __init__(self, out_dir: str | Path, fps: float = 30.0, queue_frames: int = 60,
                 codec: str = "libx264") -> None:
        self.out_dir = Path(out_dir)
        self.fps = fps if fps and fps > 0 else 30.0
        self.codec = codec
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_frames))
        self._thread: threading.Thread | None = None
        self._size: tuple[int, int] | None = None
        self.written = 0
        self.dropped = 0
        self.error: str | None = None

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
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()
        return self

    def submit(self, packet: FramePacket) -> bool:
        """Queue the packet's raw + overlaid frame; False (and dropped += 1) if the writer is behind."""
        if self._thread is None or self.error:
            return False
        overlaid = packet.composited if packet.composited is not None else packet.frame
        size = packet.frame.shape[1::-1]
        if self._size is None:
            self._size = size
        if size != self._size or overlaid.shape != packet.frame.shape:
            self.dropped += 1            # a source change mid-recording: the files keep one size
            return False
        try:
            self._queue.put_nowait((packet.frame, overlaid, csv_row(packet)))
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        self._queue.put(None)            # the writer drains what is queued, then closes
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        raw = over = None
        f = None
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                frame, overlaid, row = item
                if raw is None:
                    h, w = frame.shape[:2]
                    raw = _Mp4(self.paths[0], w, h, self.fps, self.codec)
                    over = _Mp4(self.paths[1], w, h, self.fps, self.codec)
                    f = open(self.paths[2], "w", newline="")
                    writer = csv.writer(f)
                    writer.writerow(CSV_COLUMNS)
                raw.write(frame)
                over.write(overlaid)
                writer.writerow(row)
                self.written += 1
        except Exception as e:           # disk full, encoder error: say so in the UI, stop recording
            self.error = f"{type(e).__name__}: {e}"
        finally:
            for closer in (raw, over):
                if closer is not None:
                    try:
                        closer.close()
                    except Exception as e:
                        self.error = self.error or f"{type(e).__name__}: {e}"
            if f is not None:
                f.close()

    def status(self) -> str:
        if self.error:
            return f"REC error: {self.error}"
        text = f"REC {self.written} frames"
        return text + (f", {self.dropped} dropped (disk too slow)" if self.dropped else "")


__all__ = ["Recorder", "CSV_COLUMNS", "csv_row", "RAW_NAME", "OVERLAY_NAME", "CSV_NAME"]
