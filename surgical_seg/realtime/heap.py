"""The C heap under a long session: what glibc holds, and giving freed frame buffers back.

Live video churns megabyte-sized frame buffers through several threads. By default glibc serves the
first such block by mmap, then raises its mmap threshold to the size of any mmapped block freed, so
from then on frames are carved out of per-thread arenas, which keep what is freed: RSS climbs for
minutes while the memory in use stays flat (10-minute soaks here: free-but-held 48 -> 104 MB with the
default, 12 -> 55 MB with a fixed 1 MiB threshold). A fixed threshold (`mmap_large_blocks`) gives each
frame back the moment it is freed, but every new frame is then fresh pages: at 1080p60 on 2 cores that
cost 3.4 s of kernel time per 10 s against 1.3 s (page faults, and unmaps that interrupt the other core)
and the model fell behind. So frames stay in the arenas, and `trim()` every few seconds hands their free
pages back (malloc_trim). Elsewhere than glibc all three do nothing.
"""
from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3          # mallopt parameter (malloc.h); setting it also stops the dynamic raise


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()


def malloc_mb() -> tuple[float, float, float] | tuple[()]:
    """glibc's view in MB: (in use in arenas, free but still held, mmapped); () without glibc.
    It tells a leak (in use grows) from fragmentation (free-but-held grows) when RSS rises."""
    if _LIBC is None:
        return ()
    info = _LIBC.mallinfo2()
    return (round(info.uordblks / 2**20, 1), round(info.fordblks / 2**20, 1), round(info.hblkhd / 2**20, 1))


def mmap_large_blocks(kib: int) -> bool:
    """Serve every block of `kib` KiB or more by mmap, unmapped when freed; False where not applied
    (kib 0 keeps glibc's default, or no glibc)."""
    if _LIBC is None or kib <= 0:
        return False
    return bool(_LIBC.mallopt(M_MMAP_THRESHOLD, kib * 1024))


def trim() -> bool:
    """Give the free pages of every arena back to the system (malloc_trim(0)); False without glibc."""
    return bool(_LIBC.malloc_trim(0)) if _LIBC is not None else False


__all__ = ["malloc_mb", "mmap_large_blocks", "trim"]
