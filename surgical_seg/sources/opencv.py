"""OpenCV VideoCapture: capture cards and UVC endoscope towers by device index (or "opencv:<path|url>").

cv2 already hands out BGR; grey or BGRA devices are converted here. Open and read timeouts are set
where the capture backend honours them (FFmpeg/GStreamer/V4L2), so a dead cable reads as silence and
the base class reports "signal lost" and retries.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import SourceError
from .base import Source

PREFIX = "opencv:"


class OpenCVSource(Source):
    kind = "camera"
    live = True

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return spec.strip().isdigit() or spec.startswith(PREFIX)

    def _target(self) -> int | str:
        s = self.spec[len(PREFIX):] if self.spec.startswith(PREFIX) else self.spec.strip()
        return int(s) if s.isdigit() else s

    def _open(self) -> None:
        target = self._target()
        open_ms, read_ms = int(self.cfg.open_timeout_s * 1000), int(self.cfg.read_timeout_s * 1000)
        level = cv2.getLogLevel()
        cv2.setLogLevel(0)   # our one line says it
        try:
            if isinstance(target, int):   # device backends reject unknown open params: set them after
                cap = cv2.VideoCapture(target)
                cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_ms)
            else:
                cap = cv2.VideoCapture(target, cv2.CAP_ANY, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, open_ms,
                                                             cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_ms])
        finally:
            cv2.setLogLevel(level)
        if not cap.isOpened():
            cap.release()
            what = f"camera {target}" if isinstance(target, int) else str(target)
            raise SourceError(f"{what}: cannot open with OpenCV (no such device, busy, or unreadable)")
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.size = (w, h) if w and h else None
        if isinstance(target, str):           # a file through OpenCV has an end, no signal to lose
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.frame_count = n if n > 0 else None

    def _read(self):
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        pos = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        return np.ascontiguousarray(frame), (pos / 1000.0 if pos and pos > 0 else None)

    def _close(self) -> None:
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()
            self._cap = None

    @property
    def is_device(self) -> bool:
        return isinstance(self._target(), int)

    def paced(self) -> bool:
        return self.cfg.realtime and not self.is_device


class OpenCVFileSource(OpenCVSource):
    """`opencv:<file>`: a file read through VideoCapture (ends; truncation is an error event)."""
    kind = "opencv-file"
    live = False

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return spec.startswith(PREFIX) and not spec[len(PREFIX):].strip().isdigit() and "://" not in spec

    def _open(self) -> None:
        from pathlib import Path
        from .base import check_not_empty_file
        check_not_empty_file(self.spec[len(PREFIX):])
        if Path(self.spec[len(PREFIX):]).is_dir():
            raise SourceError(f"{self.spec}: is a folder, not a video file")
        super()._open()


__all__ = ["OpenCVSource", "OpenCVFileSource", "PREFIX"]
