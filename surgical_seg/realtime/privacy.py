"""The privacy gate: out-of-body frames never reach a recording, a snapshot, a dataset or a stream.

One decision per frame, before every sink (the pipeline hands each composited packet to
`PrivacyGate.submit` instead of to its sinks; the gate passes it on, blanked or not, `writer_delay_ms`
later). How a frame is decided (`Decider`, pure and in frame order):

* **fail closed**: a frame whose score is missing (not scored within `score_timeout_ms`, scoring
  failed, the scorer hung or fell behind) is out of the body;
* **out** when the classifier's p(out) >= threshold, or a cheap rule fires (rules only ever say out);
* **hysteresis**: out at once, back in only after `in_body_ms` of in-body frames;
* **writer delay / look-ahead**: a frame is released `writer_delay_ms` after capture, and any raw
  out-of-body frame within that window after it blanks it too (the frames just before a withdrawal).

A blanked frame is a solid dark frame with a small marker (`blank_like`), same index and timestamps
(gaps stay auditable); packet.privacy ("in" | "out") and packet.oob_score go into frames.csv.
The screen is not delayed: `live_state()` is the scorer's own causal verdict (with the same fail-closed
rules) for the overlay, the HUD and skipping segmentation while out of the body.
"""
from __future__ import annotations

import collections
import dataclasses
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np

from ..packet import FramePacket

BLANK_BGR = (24, 24, 24)
MARKER = "OUT OF BODY"
SCORE_QUEUE = 90               # frames waiting for the scorer; full = it is hung or behind: those frames are out


@dataclass(frozen=True)
class Decision:
    index: int
    t_ms: float
    out: bool
    score: float | None
    why: str                    # in | classifier | rule: ... | not scored | scoring failed: ... | hysteresis | before withdrawal | not final at stop


class Decider:
    """Frame-ordered in/out decisions with fail-closed scores, hysteresis and a look-ahead window."""

    def __init__(self, threshold: float = 0.5, in_body_ms: float = 500.0, delay_ms: float = 500.0) -> None:
        self.threshold, self.in_body_ms, self.delay_ms = threshold, in_body_ms, delay_ms
        self.out = True                       # nothing scored yet: out (fail closed)
        self.in_since: float | None = None
        self.newest_ms = float("-inf")
        self._buf: collections.deque[list] = collections.deque()   # [index, t_ms, out, score, why]

    def raw(self, score: float | None, rule: str | None = None, error: str | None = None) -> str | None:
        """Why one frame alone is out (None: it looks in-body)."""
        if error:
            return error
        if score is None:
            return "not scored"
        if rule:
            return f"rule: {rule}"
        return "classifier" if score >= self.threshold else None

    def push(self, index: int, t_ms: float, score: float | None, rule: str | None = None,
             error: str | None = None) -> list[Decision]:
        why = self.raw(score, rule, error)
        if why is not None:
            self.out, self.in_since = True, None
            for item in self._buf:                      # the look-ahead: frames just before it go out too
                if t_ms - item[1] <= self.delay_ms and not item[2]:
                    item[2], item[4] = True, "before withdrawal"
        elif self.out:
            self.in_since = t_ms if self.in_since is None else self.in_since
            if t_ms - self.in_since >= self.in_body_ms:
                self.out = False
            else:
                why = "hysteresis"
        self._buf.append([index, t_ms, self.out, score, why or "in"])
        self.newest_ms = max(self.newest_ms, t_ms)
        released = []
        while self._buf and self.newest_ms - self._buf[0][1] > self.delay_ms:
            released.append(Decision(*self._buf.popleft()))
        return released

    def flush(self, cut: bool = False) -> list[Decision]:
        """Release everything held. `cut`: capture was stopped while the scene went on, so a frame whose
        look-ahead window is incomplete is not final and goes out (a withdrawal may have been next)."""
        for item in self._buf:
            if cut and self.newest_ms - item[1] < self.delay_ms and not item[2]:
                item[2], item[4] = True, "not final at stop"
        out = [Decision(*item) for item in self._buf]
        self._buf.clear()
        return out


_BLANKS: dict[tuple, np.ndarray] = {}


def blank_like(frame: np.ndarray) -> np.ndarray:
    """A solid dark frame of the same shape with a small 'OUT OF BODY' marker (cached, read-only)."""
    key = frame.shape
    if key not in _BLANKS:
        h, w = frame.shape[:2]
        img = np.empty(frame.shape, np.uint8)
        img[:] = BLANK_BGR
        scale = max(0.3, h / 1000)
        cv2.rectangle(img, (int(8 * scale), int(8 * scale)), (int(170 * scale), int(40 * scale)), (60, 60, 60), -1)
        cv2.putText(img, MARKER, (int(14 * scale), int(31 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale,
                    (200, 200, 200), max(1, int(scale)), cv2.LINE_AA)
        img.setflags(write=False)
        if len(_BLANKS) > 8:
            _BLANKS.clear()
        _BLANKS[key] = img
    return _BLANKS[key]


def blanked(packet: FramePacket, d: Decision) -> FramePacket:
    """The packet as a sink may see it: blanked (new packet, same index and times) when out of the body."""
    if not d.out:
        packet.privacy, packet.oob_score = "in", d.score
        return packet
    blank = blank_like(packet.frame)
    return dataclasses.replace(packet, frame=blank, composited=blank, segmentation=None, layer=None, yuv=None,
                               overlay_off_reason=f"out of body ({d.why})", spans=dict(packet.spans),
                               privacy="out", oob_score=d.score)


class PrivacyGate:
    """Scores frames on its own thread; releases them to `emit` decided and blanked, writer_delay_ms late."""

    def __init__(self, scorer: Any, emit: Callable[[FramePacket], None] | None = None, *, threshold: float = 0.5,
                 in_body_ms: float = 500.0, writer_delay_ms: float = 500.0, score_timeout_ms: float = 200.0,
                 clock: Callable[[], int] = time.perf_counter_ns, keep_verdicts: int = 1200) -> None:
        self.scorer, self.emit = scorer, emit
        self.threshold, self.score_timeout_ms = threshold, score_timeout_ms
        self.decider = Decider(threshold, in_body_ms, writer_delay_ms)
        self._live = Decider(threshold, in_body_ms, 0.0)     # the screen's causal verdict (no look-ahead)
        self.clock = clock
        self._q: queue.Queue = queue.Queue(maxsize=SCORE_QUEUE)
        self._scores: dict[int, tuple[float | None, str | None, str | None]] = {}
        self._pending: collections.deque[FramePacket] = collections.deque()
        self._held: dict[int, FramePacket] = {}
        self.verdicts: collections.OrderedDict[int, Decision] = collections.OrderedDict()
        self._keep = keep_verdicts
        self._verdict_cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fault: str | None = None                 # the scorer's last error, said on the HUD
        self.last_scored_ns: int | None = None
        self.busy_since_ns: int | None = None
        self.cpu_ns = {"submit": 0, "score": 0, "frames": 0}
        self.counts = {"in": 0, "out": 0}

    # ------------------------------------------------------------------ scorer thread
    def start(self) -> "PrivacyGate":
        self._thread = threading.Thread(target=self._score_loop, name="privacy-gate", daemon=True)
        self._thread.start()
        return self

    def _score_loop(self) -> None:
        while not self._stop.is_set():
            try:
                index, t_ms, frame = self._q.get(timeout=0.1)
            except queue.Empty:
                continue
            c0 = time.thread_time_ns()
            self.busy_since_ns = self.clock()
            try:
                p, rule = self.scorer.score(frame)
                result = (float(p), rule, None)
                self.fault = None
            except Exception as e:  # noqa: BLE001 - a failed score is an out-of-body frame, never a crash
                text = str(e).strip().splitlines()[0] if str(e).strip() else ""
                self.fault = f"gate error: {type(e).__name__}{': ' + text if text else ''}"
                result = (None, None, "scoring failed")
            self.busy_since_ns = None
            self._scores[index] = result
            self._live.push(index, t_ms, *result)
            self.last_scored_ns = self.clock()
            self.cpu_ns["score"] += time.thread_time_ns() - c0

    def live_state(self) -> tuple[bool, str | None]:
        """(out of body now, why) for the screen: the newest scores, failing closed when the scorer is
        failing, hung or not yet started."""
        now = self.clock()
        if self.busy_since_ns is not None and (now - self.busy_since_ns) / 1e6 > self.score_timeout_ms:
            return True, f"gate not answering ({(now - self.busy_since_ns) / 1e9:.1f} s)"
        if self.fault:
            return True, self.fault
        if self.last_scored_ns is None:
            return True, "gate starting"
        return (True, None) if self._live.out else (False, None)

    # ------------------------------------------------------------------ compositor thread
    def submit(self, packet: FramePacket) -> None:
        """Hand a composited packet to the gate (never blocks); due packets go on to `emit`."""
        c0 = time.thread_time_ns()
        t_ms = packet.t_capture_ns / 1e6
        try:
            self._q.put_nowait((packet.index, t_ms, packet.frame))
        except queue.Full:
            self._scores[packet.index] = (None, None, "not scored (gate behind or hung)")
        self._pending.append(packet)
        self._pump(self.clock())
        self.cpu_ns["submit"] += time.thread_time_ns() - c0
        self.cpu_ns["frames"] += 1

    def _pump(self, now_ns: int, final: bool = False) -> None:
        while self._pending:
            p = self._pending[0]
            result = self._scores.pop(p.index, None)
            if result is None:
                waited_ms = (now_ns - p.t_capture_ns) / 1e6
                if not final and waited_ms < self.score_timeout_ms:
                    break                                   # its score may still come
                result = (None, None, "not scored")
            self._pending.popleft()
            self._held[p.index] = p
            self._release(self.decider.push(p.index, p.t_capture_ns / 1e6, *result))
        if len(self._scores) > 2 * SCORE_QUEUE:       # scores that came after their frame timed out
            first = self._pending[0].index if self._pending else float("inf")
            for k in [k for k in list(self._scores) if k < first]:
                self._scores.pop(k, None)

    def _release(self, decisions: list[Decision]) -> None:
        for d in decisions:
            packet = self._held.pop(d.index)
            self.counts["out" if d.out else "in"] += 1
            with self._verdict_cond:
                self.verdicts[d.index] = d
                while len(self.verdicts) > self._keep:
                    self.verdicts.popitem(last=False)
                self._verdict_cond.notify_all()
            if self.emit is not None:
                self.emit(blanked(packet, d))

    def flush(self, wait_s: float | None = None, cut: bool = False) -> None:
        """Decide and release everything held (end of stream / stop): unscored frames after
        `wait_s` (score_timeout_ms) are out; with `cut` (stopped, not ended) so are frames whose
        look-ahead is incomplete (Decider.flush)."""
        deadline = time.monotonic() + (self.score_timeout_ms / 1e3 if wait_s is None else wait_s)
        while self._pending and self._pending[-1].index not in self._scores and time.monotonic() < deadline:
            time.sleep(0.005)                       # scores come in frame order: the last one means all
        self._pump(self.clock(), final=True)
        self._release(self.decider.flush(cut))

    def verdict(self, index: int, timeout: float = 0.0) -> Decision | None:
        """The released decision for frame `index` (waits up to `timeout` s for it; None if not known)."""
        with self._verdict_cond:
            self._verdict_cond.wait_for(lambda: index in self.verdicts or self._stop.is_set(), timeout)
            return self.verdicts.get(index)

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        with self._verdict_cond:
            self._verdict_cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def cpu_ms_per_frame(self) -> float | None:
        n = self.cpu_ns["frames"]
        return (self.cpu_ns["submit"] + self.cpu_ns["score"]) / 1e6 / n if n else None


class BoundedScorer:
    """`score(frame) -> (p_out, rule, error)` with a deadline, for callers that wait for each answer
    (predict): scoring runs on its own daemon thread, so a late, hung or failing scorer makes that frame
    out of the body (fail closed) instead of stalling or crashing the caller; while it is still busy with
    an earlier frame, new frames are out at once."""

    def __init__(self, scorer: Any, timeout_ms: float) -> None:
        self.scorer, self.timeout_s = scorer, timeout_ms / 1e3
        self._req: queue.Queue = queue.Queue(maxsize=1)
        self._res: queue.Queue = queue.Queue()
        self._seq = 0
        self._busy = False
        threading.Thread(target=self._loop, name="privacy-score", daemon=True).start()

    def _loop(self) -> None:
        while (item := self._req.get()) is not None:
            seq, frame = item
            try:
                p, rule = self.scorer.score(frame)
                self._res.put((seq, (float(p), rule, None)))
            except Exception as e:  # noqa: BLE001 - a failed score is an out-of-body frame, never a crash
                self._res.put((seq, (None, None, f"scoring failed: {type(e).__name__}")))

    def score(self, frame: np.ndarray) -> tuple[float | None, str | None, str | None]:
        if self._busy:                                   # the late answer to an earlier frame may have come
            try:
                while self._res.get_nowait()[0] != self._seq:
                    pass
                self._busy = False
            except queue.Empty:
                return None, None, "not scored (gate hung)"
        self._seq += 1
        self._req.put((self._seq, frame))
        deadline = time.monotonic() + self.timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                seq, result = self._res.get(timeout=left)
            except queue.Empty:
                break
            if seq == self._seq:
                return result
        self._busy = True
        return None, None, f"not scored within {self.timeout_s * 1e3:g} ms"

    def close(self) -> None:
        """Let the thread end (one per predicted video); a hung one stays hung, as a daemon."""
        try:
            self._req.put_nowait(None)
        except queue.Full:
            pass


def decide_offline(scores: list[tuple[int, float, float | None, str | None, str | None]], threshold: float = 0.5,
                   in_body_ms: float = 500.0, delay_ms: float = 500.0) -> list[Decision]:
    """Decisions for a whole clip at once: scores = [(index, t_ms, p_out, rule, error), ...] in order."""
    d = Decider(threshold, in_body_ms, delay_ms)
    out: list[Decision] = []
    for item in scores:
        out += d.push(*item)
    return out + d.flush()


def gate_from_config(cfg: Any, emit: Callable[[FramePacket], None] | None = None, scorer: Any = None) -> PrivacyGate:
    """A started gate from an AppConfig's `privacy:` section (the scorer loaded from privacy.model)."""
    p = cfg.privacy
    if scorer is None:
        from ..engine.oob import load_scorer
        scorer = load_scorer(p.model, runtime=p.runtime)
    return PrivacyGate(scorer, emit, threshold=p.threshold, in_body_ms=p.in_body_ms,
                       writer_delay_ms=p.writer_delay_ms, score_timeout_ms=p.score_timeout_ms).start()


__all__ = ["BoundedScorer", "Decider", "Decision", "PrivacyGate", "blank_like", "blanked", "decide_offline", "gate_from_config",
           "MARKER"]
