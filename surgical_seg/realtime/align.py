"""Which mask a live frame is drawn with: its own, the newest one warped to it, the newest as is, or none.

The policy (DESIGN §1): a frame waits for its own mask until `align_ms` after its capture. Here
inference (~10 ms) fits well inside a 33 ms frame, so on time the surgeon sees every frame with the
mask computed from it. A mask that misses the deadline is replaced by the newest mask, moved onto
the frame by optical flow (`warp`, only while a warp's measured cost fits the frame budget:
realtime/warp_gate.py), or drawn as is; a mask older than `stale_ms` is not drawn at all.
Every composited frame records the choice as its `mask_source`:

    own     the frame's own mask
    warped  the newest mask, warped from its frame to this one
    latest  the newest mask as is (warp off)
    off     nothing drawn (no mask yet, stale, model error, overlay turned off)

The video never waits longer than `align_ms`, and not at all for a frame the model will never see
(dropped from the model's slot, or failed): `MaskHistory.skip` wakes the waiter. Nor does it wait
while masks typically arrive later than the deadline (a slow model or machine): waiting would add
align_ms to the video's latency and still end in a warped mask.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..packet import FramePacket, Segmentation
from .warp_gate import WarpGate

MASK_SOURCES = ("own", "warped", "latest", "off")
KEEP_MASKS = 8            # masks remembered (by frame index): a few frames of slack for the compositor
RECENT_MASKS = 8          # the typical capture → mask-ready time is the median of this many


class MaskHistory:
    """The last few masks with the frames they were computed on; thread-safe (model puts, compositor reads)."""

    def __init__(self, keep: int = KEEP_MASKS) -> None:
        self._cond = threading.Condition()
        self._masks: collections.OrderedDict[int, tuple[Segmentation, np.ndarray]] = collections.OrderedDict()
        self._skipped: collections.deque[int] = collections.deque(maxlen=64)
        self._keep = keep
        self._closed = False
        self._ready_ms: collections.deque[float] = collections.deque(maxlen=RECENT_MASKS)

    def put(self, seg: Segmentation, frame: np.ndarray) -> None:
        """The model's answer for `seg.frame_index`, with that frame (read-only) for warping."""
        ms = (time.perf_counter_ns() - seg.t_capture_ns) / 1e6
        with self._cond:
            self._ready_ms.append(ms)
            self._masks[seg.frame_index] = (seg, frame)
            while len(self._masks) > self._keep:
                self._masks.popitem(last=False)
            self._cond.notify_all()

    def skip(self, index: int) -> None:
        """Frame `index` will get no mask (dropped before the model took it, or the model failed)."""
        with self._cond:
            self._skipped.append(index)
            self._cond.notify_all()

    @property
    def typical_ms(self) -> float | None:
        """Median capture → mask-ready time of the last few masks (one slow warm-up call does not count)."""
        with self._cond:
            return float(np.median(self._ready_ms)) if self._ready_ms else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_own(self, index: int, timeout_s: float) -> tuple[Segmentation, np.ndarray] | None:
        """Frame `index`'s own mask, waiting up to timeout_s; None when late, skipped or closed."""
        with self._cond:
            self._cond.wait_for(lambda: index in self._masks or index in self._skipped or self._closed,
                                max(0.0, timeout_s))
            return self._masks.get(index)

    def nearest(self, index: int) -> tuple[Segmentation, np.ndarray] | None:
        """The newest mask computed at or before frame `index`, else the oldest one after it."""
        with self._cond:
            if not self._masks:
                return None
            before = [i for i in self._masks if i <= index]
            return self._masks[max(before) if before else min(self._masks)]


@dataclass(frozen=True)
class Choice:
    segmentation: Segmentation | None
    mask_source: str                      # one of MASK_SOURCES
    off_reason: str | None = None


class Aligner:
    """The policy above, for one live pipeline. `warper` is a surgical_seg.realtime.warp.MaskWarper or None."""

    def __init__(self, history: MaskHistory, align_ms: float = 0.0, warper=None, stale_ms: float = 150.0,
                 gate: WarpGate | None = None) -> None:
        self.history, self.align_ms, self.warper, self.stale_ms = history, align_ms, warper, stale_ms
        self.gate = gate if gate is not None else WarpGate()     # warp only when it fits the frame budget

    def choose(self, packet: FramePacket) -> Choice:
        """Blocks at most until align_ms after the frame's capture."""
        waited_s = (time.perf_counter_ns() - packet.t_capture_ns) / 1e9
        self.gate.frame(packet.t_capture_ns)
        typical = self.history.typical_ms
        budget_s = self.align_ms / 1e3 if typical is None or typical <= self.align_ms else 0.0
        own = self.history.wait_own(packet.index, budget_s - waited_s)
        if own is not None:
            return Choice(own[0], "own")
        got = self.history.nearest(packet.index)
        if got is None:
            return Choice(None, "off", "waiting for the first mask")
        seg, frame = got
        age_ms = (time.perf_counter_ns() - seg.t_capture_ns) / 1e6
        if age_ms > self.stale_ms:
            return Choice(None, "off", f"stale ({age_ms:.0f} ms)")
        if self.warper is not None and frame.shape == packet.frame.shape and self.gate.allow():
            warped = self.warper.warp(seg, frame, packet.frame)
            self.gate.record(self.warper.last_ms)
            return Choice(warped, "warped")
        return Choice(seg, "latest")


__all__ = ["MaskHistory", "Aligner", "Choice", "MASK_SOURCES"]
