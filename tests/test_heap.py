"""heap: glibc's free-but-held memory is seen by malloc_mb() and handed back by trim()."""
from __future__ import annotations

import threading

import psutil
import pytest

from surgical_seg import heap

pytestmark = pytest.mark.skipif(not heap.malloc_mb(), reason="glibc only")


def test_trim_hands_freed_arena_memory_back_to_the_system():
    """A thread frees 30 MB of blocks under the mmap threshold but keeps the last one, so glibc cannot
    shrink the arena from its top by itself: the memory stays resident until trim()."""
    kept = []

    def churn():
        blocks = [bytearray(100_000) for _ in range(300)]    # zero-filled: every page touched
        kept.append(blocks[-1])

    t = threading.Thread(target=churn)
    t.start()
    t.join()
    proc = psutil.Process()
    in_use, free_held, _ = heap.malloc_mb()
    assert free_held >= 25                                   # glibc holds what the thread freed
    before = proc.memory_info().rss
    ms = heap.trim()
    after = proc.memory_info().rss
    assert ms is not None and ms >= 0
    assert before - after >= 20 * 2**20, f"RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MB"
