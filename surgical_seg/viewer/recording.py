"""What a recording says about itself: its folder name, its tags, and why it failed.

* `folder_name(pattern)`: the recording folder's name from `recorder.folder_pattern` (strftime codes),
  a plain name (no path, no patient data unless someone types it into the pattern).
* `PRIVATE_MUX_OPTIONS` / `strip_tags(container, stream)`: recordings carry no creation time, host,
  user or encoder-version tags (`fflags +bitexact`: no `encoder` tag, no creation time; tags emptied).
* `failure_reason(exc)`: a writer error said in two or three words for the HUD's red
  "REC FAILED — <reason>" (disk full, disk quota, read-only disk, permission denied, I/O error, ...).
"""
from __future__ import annotations

import errno
import time

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


__all__ = ["folder_name", "strip_tags", "failure_reason", "PRIVATE_MUX_OPTIONS"]
