"""Pause / step / seek for file sources, for engineers reviewing a clip in the viewer.

`PlaybackSource` wraps an opened (not started) file source and runs in its place: the capture
thread blocks in `_read()` while paused, lets exactly one frame through per `step()`, and seeks
with PyAV's container seek when asked. Pacing in the base loop runs on the pts it is given, so the
wrapper hands out a continuous clock (`pts_s` of packets = play time, which grows through pauses,
seeks and loops) and keeps the position in the file in `position_s`.
"""
from __future__ import annotations

import threading
import time

from ..sources.base import Source


class PlaybackSource(Source):
    live = False

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.kind = inner.kind
        self._cond = threading.Condition()
        self._paused = False
        self._steps = 0
        self._seek_to: float | None = None
        self._clock = 0.0                # pts handed to the base loop
        self._last_pts: float | None = None
        self._pause_started: float | None = None
        self.position_s = 0.0
        self._opened_once = False
        super().__init__(inner.spec, inner.cfg, inner.max_frames)
        self.frame_count = None          # seeks make delivered != container frames: no false "truncated"

    # ---- controls (any thread)
    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def duration_s(self) -> float | None:
        n, fps = self.inner.frame_count, self.inner.fps
        return n / fps if n and fps else None

    def set_paused(self, paused: bool) -> None:
        with self._cond:
            self._paused = paused
            self._cond.notify_all()

    def step(self) -> None:
        """Pause, then let one frame through."""
        with self._cond:
            self._paused = True
            self._steps += 1
            self._cond.notify_all()

    def seek(self, seconds: float) -> None:
        with self._cond:
            self._seek_to = max(0.0, float(seconds))
            if self._paused:
                self._steps = max(self._steps, 1)    # show where we landed
            self._cond.notify_all()

    # ---- Source implementation
    @classmethod
    def accepts(cls, spec: str) -> bool:
        return False                     # never chosen by open_source; the viewer wraps explicitly

    def _open(self) -> None:
        if self._opened_once:            # the inner source opened itself when it was made
            self.inner._open()
        self._opened_once = True
        self.fps, self.size = self.inner.fps, self.inner.size
        self._last_pts = None

    def _close(self) -> None:
        self.inner._close()

    def _read(self):
        with self._cond:
            while self._paused and self._steps == 0 and self._seek_to is None and not self.stopping:
                if self._pause_started is None:
                    self._pause_started = time.monotonic()
                self._cond.wait(0.05)
            if self._pause_started is not None:      # the clock runs on through the pause
                self._clock += time.monotonic() - self._pause_started
                self._pause_started = None if not self._paused else time.monotonic()
            if self._steps:
                self._steps -= 1
            seek_to, self._seek_to = self._seek_to, None
        if seek_to is not None:
            self._do_seek(seek_to)
        item = self.inner._read()
        if item is None:
            return None
        frame, pts = item[:2]
        yuv = item[3] if len(item) > 3 else None
        if pts is None:
            pts = (self._last_pts + 1 / self.fps) if (self._last_pts is not None and self.fps) else 0.0
        step = 1 / self.fps if self.fps else 1 / 30
        if self._last_pts is not None and 0 < pts - self._last_pts < 1.0:
            step = pts - self._last_pts
        if self._last_pts is not None:
            self._clock += step
        self._last_pts = pts
        self.position_s = pts
        return frame, self._clock, None, yuv

    def _do_seek(self, seconds: float) -> None:
        """PyAV files: container seek to the keyframe before `seconds`, decode forward to it.
        Other kinds (folders, OpenCV files) go back to the start."""
        inner = self.inner
        self._last_pts = None
        container, stream = getattr(inner, "_container", None), getattr(inner, "_stream", None)
        if container is None or stream is None or not hasattr(inner, "_decode") or not stream.time_base:
            inner._close()
            inner._open()
            return
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True, any_frame=False)
        inner._frames = inner._decode()
        inner._pending = []
        half = 0.5 / self.fps if self.fps else 0.0
        for frame in inner._frames:
            if frame.time is None or frame.time >= seconds - half:
                inner._pending = [frame]
                return


__all__ = ["PlaybackSource"]
