"""The C heap under a long session: what glibc holds, and handing freed memory back.

Live video churns megabyte-sized frame buffers through several threads. glibc keeps what they free in
per-thread arenas, so RSS climbs for minutes while the memory actually in use stays flat (measured in a
10-minute soak: in use ~100-120 MB throughout, free-but-held 48 -> 104 MB). `trim()` (malloc_trim)
returns those free pages to the system; the viewer calls it from a background thread every
`viewer.trim_heap_s`. Elsewhere than glibc both functions do nothing.
"""
from __future__ import annotations

import ctypes
import time


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()


def malloc_mb() -> tuple[float, float, float] | tuple[()]:
    """glibc's view in MB: (in use, free but still held, mmapped); () without glibc.
    It tells a leak (in use grows) from fragmentation (free-but-held grows) when RSS rises."""
    if _LIBC is None:
        return ()
    info = _LIBC.mallinfo2()
    return (round(info.uordblks / 2**20, 1), round(info.fordblks / 2**20, 1), round(info.hblkhd / 2**20, 1))


def trim() -> float | None:
    """Give free heap pages back to the system; the milliseconds it took, None without glibc."""
    if _LIBC is None:
        return None
    t0 = time.perf_counter_ns()
    _LIBC.malloc_trim(0)
    return (time.perf_counter_ns() - t0) / 1e6


__all__ = ["malloc_mb", "trim"]
