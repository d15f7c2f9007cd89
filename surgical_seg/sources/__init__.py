"""Video sources: one class per kind, one capture thread per source, events instead of exceptions.

`open_source(spec, cfg)` asks each kind in `KINDS` whether it takes the spec, first match wins:
    0, "1", "opencv:<path|url>"   → OpenCV VideoCapture (device index, or forced OpenCV)
    "synthetic:640x360@30"        → SyntheticSource (no hardware needed)
    "rtsp://…", "udp://…", "http://…" → PyAVStreamSource (open/read timeouts, signal lost → retry)
    a folder                      → FolderSource (images in name order)
    anything else                 → PyAVFileSource (any codec/container FFmpeg reads)
Opening problems (missing file, empty folder, zero bytes, not a video, bad URL scheme) raise
SourceError with one line, before any thread starts.
"""
from __future__ import annotations

from ..config import SourceConfig
from ..errors import SourceError
from .base import EVENT_KINDS, Event, Source
from .folder import FolderSource
from .opencv import OpenCVFileSource, OpenCVSource
from .pyav import PyAVFileSource, PyAVStreamSource
from .synthetic import SyntheticSource

KINDS: tuple[type[Source], ...] = (OpenCVFileSource, OpenCVSource, SyntheticSource, PyAVStreamSource,
                                   FolderSource, PyAVFileSource)


def open_source(spec: str | int, cfg: SourceConfig | None = None, max_frames: int | None = None) -> Source:
    """Open (not start) the source named by `spec`; raises SourceError when it cannot be opened."""
    text = str(spec).strip()
    if not text:
        raise SourceError("empty source: give a file, folder, URL, device index or synthetic:WxH")
    if max_frames is not None and max_frames <= 0:
        raise SourceError(f"{text}: frame limit must be > 0, not {max_frames}")
    for kind in KINDS:
        if kind.accepts(text):
            return kind(text, cfg or SourceConfig(), max_frames=max_frames)
    raise SourceError(f"{text}: not a file, folder, URL, device index or synthetic:WxH")


__all__ = ["open_source", "Source", "Event", "EVENT_KINDS", "KINDS", "SourceError", "OpenCVSource",
           "OpenCVFileSource", "SyntheticSource", "PyAVStreamSource", "FolderSource", "PyAVFileSource"]
