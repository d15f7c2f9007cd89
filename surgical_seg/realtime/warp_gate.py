"""Warp only when it fits: the gate that keeps the warp fallback from feeding an overload.

A frame whose own mask is late gets the newest mask warped onto it (realtime/warp.py). On a machine
short of CPU that fallback used to cost more than inference (19-26 ms per 720p frame, DESIGN §3) and
ran on every frame once one was late, which starved the (niced) model further: a bistable overload.

`WarpGate` keeps the last few warps' measured costs and the frames' capture interval, and allows a
warp only while the typical (median) cost stays under `share` of the frame interval. When it does not
fit, the compositor draws the newest mask as is ("latest"); every `probe_s` one warp is let through to
measure again, so the gate opens again when the CPU comes back. Nothing here depends on whether the
model is behind, only on what a warp costs: the verdict does not flip with the model's lateness.
"""
from __future__ import annotations

import collections
import time
from typing import Callable

RECENT = 8               # costs and intervals remembered (medians of these)
DEFAULT_SHARE = 0.25     # a warp may take at most this share of a frame interval (8 ms at 30 fps, 4 ms at 60)
DEFAULT_PROBE_S = 2.0    # a closed gate lets one warp through this often, to measure again


class WarpGate:
    """allow(t_capture_ns) -> bool before a warp; record(ms) after it. One thread (the compositor)."""

    def __init__(self, share: float = DEFAULT_SHARE, probe_s: float = DEFAULT_PROBE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be in (0, 1], not {share}")
        self.share, self.probe_s, self._clock = share, probe_s, clock
        self._costs: collections.deque[float] = collections.deque(maxlen=RECENT)
        self._intervals: collections.deque[float] = collections.deque(maxlen=RECENT)
        self._last_capture_ns: int | None = None
        self._last_try = float("-inf")
        self.refused = 0                 # warps the gate turned down (drawn as "latest" instead)

    def frame(self, t_capture_ns: int) -> None:
        """Every composited frame: its capture time, for the frame interval."""
        if self._last_capture_ns is not None and t_capture_ns > self._last_capture_ns:
            self._intervals.append((t_capture_ns - self._last_capture_ns) / 1e6)
        self._last_capture_ns = t_capture_ns

    @staticmethod
    def _median(values) -> float | None:
        if not values:
            return None
        s = sorted(values)
        return s[len(s) // 2]

    @property
    def budget_ms(self) -> float | None:
        """What one warp may cost now (None before two frames were seen)."""
        interval = self._median(self._intervals)
        return None if interval is None else self.share * interval

    @property
    def cost_ms(self) -> float | None:
        return self._median(self._costs)

    def allow(self) -> bool:
        cost, budget = self.cost_ms, self.budget_ms
        if cost is None or budget is None or cost <= budget:
            return True
        if self._clock() - self._last_try >= self.probe_s:     # measure again now and then
            return True
        self.refused += 1
        return False

    def record(self, ms: float) -> None:
        self._costs.append(float(ms))
        self._last_try = self._clock()


__all__ = ["WarpGate", "DEFAULT_SHARE", "DEFAULT_PROBE_S"]
