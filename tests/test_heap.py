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
