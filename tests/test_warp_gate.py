"""WarpGate: a warp only when its measured cost fits the frame budget; a closed gate probes now and then."""
from __future__ import annotations

import time

import numpy as np
import pytest

from surgical_seg.packet import FramePacket, Segmentation
from surgical_seg.realtime.align import Aligner, MaskHistory
from surgical_seg.realtime.warp_gate import WarpGate


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def frames(gate, n, interval_ms, t0_ns=0):
    for i in range(n):
        gate.frame(t0_ns + int(i * interval_ms * 1e6))


def test_cheap_warps_pass_and_dear_ones_are_refused_until_the_next_probe():
    clock = Clock()
    gate = WarpGate(share=0.25, probe_s=2.0, clock=clock)
    assert gate.allow()                                   # nothing measured yet: try
    frames(gate, 5, 33.3)
    assert gate.budget_ms == pytest.approx(8.3, abs=0.1)
    for _ in range(8):
        gate.record(1.0)
    assert gate.allow() and gate.refused == 0
    for _ in range(8):
        gate.record(20.0)                                 # a loaded CPU: a warp costs more than the budget
    assert not gate.allow() and not gate.allow() and gate.refused == 2
    clock.t = 2.5                                         # probe_s later: one warp to measure again
    assert gate.allow()
    for _ in range(8):
        gate.record(2.0)                                  # the CPU came back
    assert gate.allow()


def test_the_verdict_follows_the_cost_not_the_lateness():
    """Same costs, same frame rate: the same answer every time (no state that flips it)."""
    answers = []
    for _ in range(5):
        gate = WarpGate(clock=Clock())
        frames(gate, 10, 16.7)                            # 60 fps: 4.2 ms budget
        for ms in (3.0, 5.0, 6.0, 5.5, 7.0):
            gate.record(ms)
        answers.append([gate.allow() for _ in range(3)])
    assert answers == [[False, False, False]] * 5


def test_a_closed_gate_makes_the_aligner_draw_the_latest_mask_as_is():
    names, colors = ("background", "a"), ((0, 0, 0), (255, 0, 0))
    hist = MaskHistory()
    now = time.perf_counter_ns()
    first = FramePacket(0, np.zeros((40, 60, 3), np.uint8), now)
    hist.put(Segmentation(np.ones((40, 60), np.uint8), names, colors, 0, now), first.frame)

    class CountingWarper:
        calls = 0
        last_ms = 50.0

        def warp(self, seg, a, b):
            self.calls += 1
            return seg

    clock = Clock()
    gate = WarpGate(clock=clock)
    warper = CountingWarper()
    aligner = Aligner(hist, align_ms=0.0, warper=warper, stale_ms=60_000.0, gate=gate)
    got = [aligner.choose(FramePacket(i, first.frame, now + i * 33_000_000)).mask_source for i in range(1, 6)]
    assert got == ["warped", "latest", "latest", "latest", "latest"] and warper.calls == 1
