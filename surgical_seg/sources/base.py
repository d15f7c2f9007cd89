"""What every source kind shares: the event type and the capture thread's lifecycle.

A kind is a subclass that opens in `_open()` (raising SourceError with one line, before any thread
runs), returns one `(bgr, pts_s[, t_arrived_ns[, yuv]])` per `_read()` (None at the end; the optional
two as FramePacket has them) and closes in `_close()`. The base class owns the thread: pacing at native
fps, packets and their "capture" span, end of stream, "truncated at frame N" for files, and signal-lost
→ retry with backoff for live sources. Nothing that goes wrong after start() raises: it becomes an Event.
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np

from ..config import SourceConfig
from ..errors import SourceError
from ..packet import FramePacket
from ..watchdog import CallGuard, StageHung

# Event kinds a source reports, in the order they can happen.
EVENT_KINDS = ("opened", "warning", "read_hung", "signal_lost", "retrying", "reconnected", "end", "error",
               "stopped")


@dataclass(frozen=True)
class Event:
    """Something a consumer should know about: shown in the UI, logged by bench, never raised."""
    kind: str                      # one of EVENT_KINDS, or the pipeline's ("model_error", "model_ok", ...)
    message: str                   # one line for people
    frame_index: int | None = None
    origin: str = "source"         # "source" | "pipeline"
    t_ns: int = field(default_factory=time.perf_counter_ns)

    def __str__(self) -> str:
        return f"[{self.origin}] {self.kind}: {self.message}"


FrameCallback = Callable[[FramePacket], None]
EventCallback = Callable[[Event], None]


class Source:
    """One capture thread: `start(on_frame, on_event)`, `stop()`, `join(timeout)`.

    `on_frame` is called on the source thread for every frame, in order; it may block (replay
    back-pressure) but then must return once `stop()` is called. `on_event` gets Events; the last
    one is always "stopped".
    """

    kind: ClassVar[str] = "source"
    live: ClassVar[bool] = False        # camera / stream: no end, and silence means signal lost

    def __init__(self, spec: str, cfg: SourceConfig | None = None, max_frames: int | None = None) -> None:
        self.spec = str(spec)
        self.cfg = cfg or SourceConfig()
        self.max_frames = max_frames
        self.fps: float | None = None           # native rate, when known
        self.size: tuple[int, int] | None = None  # (width, height) of delivered frames, when known
        self.frame_count: int | None = None     # frames the container says it holds, when known
        self.frames_delivered = 0
        self.read_cpu_ns = 0                    # CPU time the reads took (decode and conversion), on their thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_frame: FrameCallback | None = None
        self._on_event: EventCallback | None = None
        self._read_guard = CallGuard(f"source-{self.kind}-read")   # watchdog: see _read_watched
        self._handle_hung = False        # a read on the current handle never returned: do not close it
        self._open()

    # ---- what a kind implements
    @classmethod
    def accepts(cls, spec: str) -> bool:
        """Whether this kind handles `spec` (open_source asks each kind in turn)."""
        raise NotImplementedError

    def _open(self) -> None:
        raise NotImplementedError

    def _read(self) -> tuple[np.ndarray, float | None] | None:
        """The next BGR frame and its presentation time (and, optionally, the perf_counter_ns at which
        its data arrived, before decoding: the capture time of a live stream); None at the end."""
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def paced(self) -> bool:
        """Whether the base loop sleeps to deliver frames at their timestamps."""
        return self.cfg.realtime and not self.live

    def describe(self) -> str:
        size = f"{self.size[0]}x{self.size[1]}" if self.size else "?x?"
        fps = f"{self.fps:.3g} fps" if self.fps else "? fps"
        return f"{self.kind} {self.spec} ({size}, {fps})"

    # ---- lifecycle
    def start(self, on_frame: FrameCallback, on_event: EventCallback | None = None) -> None:
        if self._thread is not None:
            raise RuntimeError("a source can be started once")
        self._on_frame, self._on_event = on_frame, on_event
        self._thread = threading.Thread(target=self._run, name=f"source-{self.kind}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> bool:
        """Ask the thread to end and wait for it; True when it has ended."""
        self._stop.set()
        return self.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        """Release a source that was opened but never started (a started one closes itself)."""
        if self._thread is None:
            self._close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ---- the thread
    def _emit(self, kind: str, message: str, index: int | None = None) -> None:
        if self._on_event is not None:
            try:
                self._on_event(Event(kind, message, index))
            except Exception:   # a consumer's bug must not kill capture
                pass

    def _where(self, index: int, last_pts: float | None) -> str:
        if last_pts is not None and self.fps:
            t = last_pts + 1.0 / self.fps
        elif last_pts is not None:
            t = last_pts
        else:
            t = index / self.fps if self.fps else 0.0
        return f"frame {index} / t={t:.2f}s"

    def _run(self) -> None:
        index, last_pts = 0, None
        t0_ns, pts0 = None, None
        self._emit("opened", self.describe())
        try:
            while not self._stop.is_set():
                if self.max_frames is not None and index >= self.max_frames:
                    self._emit("end", f"reached {index} frames", index)
                    break
                t_read = time.perf_counter_ns()
                try:
                    item = self._read_watched()
                except Exception as e:  # noqa: BLE001 - every decoder error becomes an event
                    reason = _reason(e)
                    if isinstance(e, StageHung):
                        self._handle_hung = True
                        self._emit("read_hung", f"capture read hung {e.seconds:.1f} s at frame {index}; abandoned "
                                                f"({e.leaked} stuck thread(s)), opening a new handle", index)
                    if self.live:
                        if self._recover(index, reason):
                            t0_ns = None
                            continue
                        break
                    self._emit("error", f"truncated at {self._where(index, last_pts)}: {reason}", index)
                    break
                if self._stop.is_set():
                    break
                if item is None:
                    if self.live:
                        if self._recover(index, "no frames"):
                            t0_ns = None
                            continue
                        break
                    if self.cfg.loop and index > 0:
                        self._close()
                        self._open()
                        t0_ns = None
                        continue
                    if self.frame_count and self.max_frames is None and self.frames_delivered < self.frame_count:
                        self._emit("error", f"truncated at {self._where(index, last_pts)}: stream ends after "
                                            f"{self.frames_delivered} of {self.frame_count} frames", index)
                    else:
                        self._emit("end", f"end of stream after {index} frames", index)
                    break
                frame, pts = item[:2]
                t_arrived = item[2] if len(item) > 2 else None     # a stream packet's arrival, when known
                yuv = item[3] if len(item) > 3 else None           # the decoded picture itself (PyAV)
                t_read_end = time.perf_counter_ns()
                if pts is None and self.fps:
                    pts = index / self.fps
                if self.paced() and pts is not None:
                    if t0_ns is None:
                        t0_ns, pts0 = t_read_end, pts
                    delay = (t0_ns + (pts - pts0) * 1e9 - time.perf_counter_ns()) / 1e9
                    if delay > 0 and self._stop.wait(delay):
                        break
                packet = FramePacket(index=index, frame=frame, t_capture_ns=t_arrived or time.perf_counter_ns(),
                                     pts_s=pts, yuv=yuv)
                packet.mark("capture", t_read, t_read_end)
                self._on_frame(packet)
                index += 1
                self.frames_delivered += 1
                last_pts = pts
        except Exception as e:  # noqa: BLE001 - last resort: say so instead of dying silently
            self._emit("error", f"source failed at frame {index}: {_reason(e)}", index)
        finally:
            try:
                if not self._handle_hung:
                    self._close()
            except Exception:  # noqa: BLE001
                pass
            self._read_guard.close()
            self._emit("stopped", f"{self.kind} stopped after {index} frames", index)

    @property
    def leaked_reads(self) -> int:
        """Capture threads abandoned by the watchdog and still stuck in their read."""
        return self._read_guard.leaked

    def _read_watched(self):
        """`_read()` under the watchdog: a read stuck past cfg.read_abandon_s raises StageHung."""
        bound = self.cfg.read_abandon_s
        if not bound or bound <= 0:
            return self._timed_read()
        return self._read_guard.call(self._timed_read, stall_s=bound, abandon_s=bound)

    def _timed_read(self):
        """`_read()`, its CPU time counted on the thread that runs it: decode (on that thread with
        `source.decode_threads` 1, the default) and conversion are the same work in every run of a clip, so
        their CPU per frame says how fast the machine ran (`read_cpu_ms_per_frame`; bench's summary)."""
        t0 = time.thread_time_ns()
        try:
            return self._read()
        finally:
            self.read_cpu_ns += time.thread_time_ns() - t0

    @property
    def read_cpu_ms_per_frame(self) -> float | None:
        return self.read_cpu_ns / self.frames_delivered / 1e6 if self.frames_delivered else None

    def _recover(self, index: int, reason: str) -> bool:
        """Live source went quiet: report, then reopen with the backoff list (last value repeats)."""
        self._emit("signal_lost", f"signal lost at frame {index}: {reason}", index)
        backoff = self.cfg.retry_backoff_s or (1.0,)
        delays = itertools.chain(backoff, itertools.repeat(backoff[-1]))
        for attempt, delay in enumerate(delays, start=1):
            self._emit("retrying", f"reconnecting in {delay:.1f} s (attempt {attempt})", index)
            if self._stop.wait(delay):
                return False
            try:
                if not self._handle_hung:    # a handle stuck in a read is dropped, never closed under it
                    self._close()
                self._handle_hung = False
                self._open()
            except Exception as e:  # noqa: BLE001
                self._emit("retrying", f"attempt {attempt} failed: {_reason(e)}", index)
                continue
            self._emit("reconnected", f"signal back after {attempt} attempt(s)", index)
            return True
        return False


def _reason(e: BaseException) -> str:
    """'InvalidDataError: Invalid data found ...' (FFmpeg errors without their errno and path)."""
    text = getattr(e, "strerror", None) or str(e)
    text = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def check_not_empty_file(path, what: str = "video file") -> None:
    """Zero-byte files fail fast with a clear line instead of a decoder's riddle."""
    from pathlib import Path
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such file")
    if p.is_file() and p.stat().st_size == 0:
        raise SourceError(f"{p}: empty file (0 bytes), not a {what}")


__all__ = ["Event", "EVENT_KINDS", "Source", "FrameCallback", "EventCallback", "check_not_empty_file"]
