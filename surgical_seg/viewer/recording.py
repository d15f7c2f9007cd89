"""What a recording says about itself: its folder name, its tags, and why it failed.

* `folder_name(pattern)`: the recording folder's name from `recorder.folder_pattern` (strftime codes),
  a plain name (no path, no patient data unless someone types it into the pattern).
* `PRIVATE_MUX_OPTIONS` / `strip_tags(container, stream)`: recordings carry no creation time, host,
  user or encoder-version tags (`fflags +bitexact`: no `encoder` tag, no creation time; tags emptied).
* `RecordTap`: which recorder a frame the privacy gate releases (writer_delay_ms late) belongs to, so a
  recording holds exactly the frames captured between REC on and REC off.
* `failure_reason(exc)`: a writer error said in two or three words for the HUD's red
  "REC FAILED — <reason>" (disk full, disk quota, read-only disk, permission denied, I/O error, ...).
"""
from __future__ import annotations

import errno
import threading
import time
from typing import Any, Callable

PRIVATE_MUX_OPTIONS = {"fflags": "+bitexact"}     # no "encoder: Lavf..." tag, no creation_time

_ERRNO_WORDS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only disk",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "I/O error",
    errno.EFBIG: "file too large",
    errno.ENOENT: "folder gone",
}


def folder_name(pattern: str, when: float | None = None) -> str:
    """`pattern` filled in by strftime at `when` (now); a plain folder name."""
    name = time.strftime(pattern, time.localtime(when))
    return name.replace("/", "_").replace("\\", "_").strip() or "recording"


def strip_tags(container, *streams) -> None:
    """Empty the container's and streams' metadata (no creation_time, host, user, encoder)."""
    for obj in (container, *streams):
        md = obj.metadata
        for key in list(md):
            del md[key]


def failure_reason(exc: BaseException) -> str:
    """A short reason for a failed write: 'disk full' for ENOSPC, else the errno's words or the error type."""
    code = getattr(exc, "errno", None)
    if code in _ERRNO_WORDS:
        return _ERRNO_WORDS[code]
    text = str(exc).lower()
    if "no space left" in text:
        return "disk full"
    if "quota" in text:
        return "disk quota exceeded"
    if isinstance(exc, OSError) and getattr(exc, "strerror", None):
        return exc.strerror.lower()
    return f"{type(exc).__name__}"


class RecordTap:
    """One pipeline's sink to its recorders, by frame index. The gate hands frames on writer_delay_ms
    after capture, so stopping a recorder at REC off lost the last writer_delay_ms of frames (and REC on
    took frames from before it). A recorder takes the frames after the newest one at REC on, and after REC
    off the frames up to the newest one then; it is stopped after that frame, or by `close()` once the
    pipeline has stopped (the gate flushed: every frame decided, undecided ones blanked)."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self.draw = draw                       # packet -> what Recorder.submit takes as `overlaid`
        self._lock = threading.Lock()
        self._recs: list[list] = []            # [recorder, first index, last index or None]

    def add(self, rec: Any, newest: int) -> None:
        with self._lock:
            self._recs.append([rec, newest + 1, None])

    def finish(self, rec: Any, newest: int) -> None:
        """REC off: `rec` takes the frames up to `newest`, then stops."""
        with self._lock:
            for item in self._recs:
                if item[0] is rec:
                    item[2] = newest
                    if newest < item[1]:
                        self._recs.remove(item)
                        rec.stop(wait=False)
                    return

    def submit(self, packet: Any) -> None:            # compositor thread
        with self._lock:
            items = list(self._recs)
        for item in items:
            rec, first, last = item
            if packet.index >= first and (last is None or packet.index <= last):
                rec.submit(packet, self.draw(packet))
            if last is not None and packet.index >= last:
                with self._lock:
                    if item in self._recs:
                        self._recs.remove(item)
                rec.stop(wait=False)

    def close(self) -> None:
        with self._lock:
            items, self._recs = self._recs, []
        for rec, *_ in items:
            rec.stop(wait=False)


__all__ = ["RecordTap", "folder_name", "strip_tags", "failure_reason", "PRIVATE_MUX_OPTIONS"]
