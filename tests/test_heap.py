"""heap: with a fixed mmap threshold every frame-sized buffer leaves the heap when freed."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from surgical_seg.realtime import heap

pytestmark = pytest.mark.skipif(not heap.malloc_mb(), reason="glibc only")

# In a fresh interpreter: allocate and free a 720p frame three times; glibc's mmapped MB while each lives.
CHURN = """
import json, sys
import numpy as np
from surgical_seg.realtime import heap
applied = heap.mmap_large_blocks(int(sys.argv[1]))
seen = []
for _ in range(3):
    frame = np.ones((720, 1280, 3), np.uint8)
    seen.append(heap.malloc_mb()[2])
    del frame
print(json.dumps({"applied": applied, "mmapped_mb": seen, "after_mb": heap.malloc_mb()[2]}))
"""


def churn(kib: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHURN, str(kib)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_frame_buffers_stay_out_of_the_arenas_with_a_fixed_threshold():
    default, fixed = churn(0), churn(1024)
    assert not default["applied"] and fixed["applied"]
    # glibc's default: the first frame is mmapped, then the threshold rises past it and the next
    # frames are carved from the heap, which keeps them when freed
    assert default["mmapped_mb"][1] < default["mmapped_mb"][0] - 2
    # fixed at 1 MiB: every frame is mmapped while alive and unmapped when freed
    assert min(fixed["mmapped_mb"]) >= fixed["after_mb"] + 2.5


# In a fresh interpreter, glibc's default: frames freed from several threads stay in the arenas
# (free but held) until trim() gives their pages back; RSS before and after, in MB.
TRIM = """
import json, threading
import numpy as np
from surgical_seg.realtime import heap
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
def churn():
    frames = [np.ones((1080, 1920, 3), np.uint8) for _ in range(6)]
    del frames
first = np.ones((1080, 1920, 3), np.uint8)
del first                                          # glibc raises its mmap threshold past a frame
workers = [threading.Thread(target=churn) for _ in range(3)]
for t in workers:
    t.start()
for t in workers:
    t.join()
held, before = heap.malloc_mb()[1], rss()
trimmed = heap.trim()
print(json.dumps({"held_mb": held, "before": before, "after": rss(), "trimmed": trimmed}))
"""


def test_trim_gives_the_free_pages_of_freed_frames_back():
    out = subprocess.run([sys.executable, "-c", TRIM], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["held_mb"] > 20                      # 1080p frames kept in the threads' arenas after they were freed
    assert r["trimmed"] and r["after"] < r["before"] - 20
