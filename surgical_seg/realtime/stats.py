"""Latency statistics: a recorder fed by the packets' stage spans (no "if benchmark" in the loop).

The pipeline calls `add(packet)` when the model has run on a packet and again when it is composited;
the viewer calls it once more after painting ("display"). Spans merge per frame index, so the same
recorder serves live mode (where the model sees only some frames) and replay. It keeps full per-frame
rows (frames.csv), a summary (summary.json) and a rolling window for the UI.

Timing vocabulary (DESIGN §1): video latency = capture → composited (→ painted when a viewer paints);
overlay age = capture of the frame the drawn mask was computed from → composited (→ painted): it
includes inference and is the headline figure. Each row also says where its mask came from
(`mask_source`: own | warped | latest | off, see surgical_seg.realtime.align).

Percentiles are numpy's default (linear interpolation); tail = max - p95.
"""
from __future__ import annotations

import collections
import csv
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import psutil

from ..atomic import atomic_path, atomic_write_json
from .align import MASK_SOURCES
from ..packet import STAGES, FramePacket

CSV_NAME, SUMMARY_NAME = "frames.csv", "summary.json"


def describe(values: Iterable[float]) -> dict[str, float | int | None]:
    """n, mean, p50, p95, p99, max, tail (max - p95) of `values` (ms); None entries when empty."""
    a = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if a.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None, "tail": None}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    mx = float(a.max())
    return {"n": int(a.size), "mean": float(a.mean()), "p50": float(p50), "p95": float(p95),
            "p99": float(p99), "max": mx, "tail": mx - float(p95)}


@dataclass
class FrameRow:
    """Everything known about one frame index, merged from every add()."""
    index: int
    t_capture_ns: int
    pts_s: float | None = None
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    overlay_off_reason: str | None = None
    mask_frame: int | None = None          # the frame the drawn mask was computed from
    mask_t_capture_ns: int | None = None
    mask_source: str | None = None         # own | warped | latest | off
    dropped: bool = False                  # live: the model never saw this frame

    def stage_ms(self, stage: str) -> float | None:
        s = self.spans.get(stage)
        return None if s is None else (s[1] - s[0]) / 1e6

    def latency_ms(self, until: str | None = None) -> float | None:
        """Capture → end of `until`; by default display when painted, else composite."""
        s = self.spans.get(until) if until else (self.spans.get("display") or self.spans.get("composite"))
        return None if s is None else (s[1] - self.t_capture_ns) / 1e6

    def overlay_age_ms(self, until: str | None = None) -> float | None:
        """Capture of the drawn mask's frame → end of `until` (default: display when painted, else
        composite); None when no mask was drawn."""
        s = self.spans.get(until) if until else (self.spans.get("display") or self.spans.get("composite"))
        if s is None or self.mask_t_capture_ns is None or self.mask_source == "off":
            return None
        return (s[1] - self.mask_t_capture_ns) / 1e6

    def mask_age_ms(self) -> float | None:
        """Overlay age at compositing (the name of earlier summaries)."""
        return self.overlay_age_ms("composite")


@dataclass(frozen=True)
class WindowStats:
    """The last N seconds, shaped for the viewer's LatencyPanel.refresh()."""
    fps_in: float
    fps_out: float
    dropped: int
    rows: list[tuple[str, float | None, float | None, float | None]]   # (stage, p50, p95, p99) ms
    t_s: np.ndarray          # composited frames' capture times, s since the recorder started
    e2e_ms: np.ndarray       # their video latency (capture → composited/painted)
    infer_ms: np.ndarray     # their own inference time, NaN where the model skipped the frame
    overlay_ms: np.ndarray | None = None   # their overlay age, NaN where no mask was drawn


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def _rate(times_ns: list[int]) -> float:
    if len(times_ns) < 2:
        return 0.0
    span = max(times_ns) - min(times_ns)
    return (len(times_ns) - 1) / (span / 1e9) if span > 0 else 0.0


class StatsRecorder:
    """Thread-safe: add() from the compositor and UI threads, window() from the UI timer, add_later() from
    the model's thread, which should never hold a lock the UI thread waits on: it runs at a lower
    priority, and preempted while holding the lock it would stall the UI thread until it runs again.
    """

    def __init__(self, window_s: float = 10.0, max_rows: int | None = None, rss_every_s: float = 0.5) -> None:
        self.window_s, self.max_rows, self.rss_every_s = window_s, max_rows, rss_every_s
        self._rows: dict[int, FrameRow] = {}
        self._recent: collections.deque[FrameRow] = collections.deque()
        self._lock = threading.Lock()
        self._later: collections.deque[FramePacket] = collections.deque()    # add_later(): merged by add()
        self._proc = psutil.Process()
        self.t0_ns = time.perf_counter_ns()
        self.rss_start = self.rss_max = self._proc.memory_info().rss
        self.rss_at_60s: int | None = None   # after warm-up (allocator arenas, runtime buffers): leaks show after it
        self._rss_next_ns = self.t0_ns

    # ---- feeding
    def _row(self, packet: FramePacket) -> FrameRow:
        row = self._rows.get(packet.index)
        if row is None:
            row = FrameRow(packet.index, packet.t_capture_ns, packet.pts_s)
            self._rows[packet.index] = row
            self._recent.append(row)
            if self.max_rows is not None and len(self._rows) > self.max_rows:
                self._rows.pop(next(iter(self._rows)))
        return row

    def add(self, packet: FramePacket) -> None:
        """Merge this packet's spans (and overlay state once composited) into its frame's row, after the
        packets queued by add_later()."""
        now = time.perf_counter_ns()
        rss = None
        if now >= self._rss_next_ns:            # read outside the lock: a system call lets the GIL go
            self._rss_next_ns = now + int(self.rss_every_s * 1e9)
            rss = self._proc.memory_info().rss
        with self._lock:
            self._merge_later()
            self._merge(packet)
            if rss is not None:
                self.rss_max = max(self.rss_max, rss)
                if self.rss_at_60s is None and now - self.t0_ns >= 60e9:
                    self.rss_at_60s = rss

    def add_later(self, packet: FramePacket) -> None:
        """add() without taking the lock (a deque append): the next add() or reader merges it. The caller
        must not change the packet's spans afterwards."""
        self._later.append(packet)

    def _merge_later(self) -> None:
        while self._later:
            self._merge(self._later.popleft())

    def _merge(self, packet: FramePacket) -> None:
        row = self._row(packet)
        row.spans.update(packet.spans)
        if "composite" in packet.spans:
            row.overlay_off_reason = packet.overlay_off_reason
            seg = packet.segmentation
            row.mask_frame = None if seg is None else seg.frame_index
            row.mask_t_capture_ns = None if seg is None else seg.t_capture_ns
            row.mask_source = packet.mask_source

    __call__ = add

    def dropped(self, packet: FramePacket) -> None:
        """Live mode: the model's slot replaced this frame before the model took it."""
        with self._lock:
            self._row(packet).dropped = True

    # ---- reading
    def rows(self) -> list[FrameRow]:
        with self._lock:
            self._merge_later()
            return sorted(self._rows.values(), key=lambda r: r.index)

    def window(self, seconds: float | None = None, now_ns: int | None = None) -> WindowStats:
        """Statistics over frames captured in the last `seconds` (default window_s) before now."""
        now_ns = time.perf_counter_ns() if now_ns is None else now_ns
        cutoff = now_ns - int((seconds or self.window_s) * 1e9)
        with self._lock:
            self._merge_later()
            while self._recent and self._recent[0].t_capture_ns < cutoff:
                self._recent.popleft()
            rows = list(self._recent)
        return self._stats_view(rows)

    def _stats_view(self, rows: list[FrameRow]) -> WindowStats:
        out = [r for r in rows if "composite" in r.spans]
        table = []
        for stage in STAGES:
            d = describe(r.stage_ms(stage) for r in rows)
            if d["n"]:
                table.append((stage, d["p50"], d["p95"], d["p99"]))
        d = describe(r.latency_ms() for r in out)
        table.append(("video latency", d["p50"], d["p95"], d["p99"]))
        d = describe(r.overlay_age_ms() for r in out)
        table.append(("overlay age", d["p50"], d["p95"], d["p99"]))
        infer = [r.stage_ms("infer") for r in out]
        age = [r.overlay_age_ms() for r in out]
        return WindowStats(
            fps_in=_rate([r.t_capture_ns for r in rows]),
            fps_out=_rate([r.spans["composite"][1] for r in out]),
            dropped=sum(r.dropped for r in rows),
            rows=table,
            t_s=np.array([(r.t_capture_ns - self.t0_ns) / 1e9 for r in out]),
            e2e_ms=np.array([r.latency_ms() for r in out], dtype=np.float64),
            infer_ms=np.array([np.nan if v is None else v for v in infer], dtype=np.float64),
            overlay_ms=np.array([np.nan if v is None else v for v in age], dtype=np.float64))

    def summary(self, **extra: Any) -> dict[str, Any]:
        """Counts, rates, latency and per-stage figures, RSS; `extra` keys are added on top."""
        rows = self.rows()
        rss_end = self._proc.memory_info().rss
        self.rss_max = max(self.rss_max, rss_end)
        out = [r for r in rows if "composite" in r.spans]
        displayed = any("display" in r.spans for r in out)
        reasons = collections.Counter((r.overlay_off_reason or "").split(" (")[0].split(":")[0]
                                      for r in out if r.overlay_off_reason)
        stages = {s: describe(r.stage_ms(s) for r in rows) for s in STAGES}
        t_in = [r.t_capture_ns for r in rows]
        t_out = [r.spans["composite"][1] for r in out]
        mb = 1024 * 1024
        summary = {
            "frames_in": len(rows),
            "frames_inferred": sum("infer" in r.spans for r in rows),
            "frames_out": len(out),
            "dropped": sum(r.dropped for r in rows),
            "overlay_off": dict(reasons),
            "fps_in": _rate(t_in),
            "fps_out": _rate(t_out),
            "duration_s": (max(t_out) - min(t_in)) / 1e9 if t_out else 0.0,
            "latency_until": "display" if displayed else "composite",
            "overlay_age_ms": describe(r.overlay_age_ms() for r in out),
            "video_latency_ms": describe(r.latency_ms() for r in out),
            "mask_source": {k: sum(r.mask_source == k for r in out) for k in MASK_SOURCES},
            "latency_ms": describe(r.latency_ms() for r in out),      # = video_latency_ms (earlier name)
            "mask_age_ms": describe(r.mask_age_ms() for r in out),    # overlay age at compositing
            "stages_ms": {s: d for s, d in stages.items() if d["n"]},
            "rss_mb": {"start": self.rss_start / mb, "end": rss_end / mb, "max": self.rss_max / mb,
                       "at_60s": None if self.rss_at_60s is None else self.rss_at_60s / mb},
        }
        summary.update(extra)
        return summary

    def write(self, out_dir: str | Path, **extra: Any) -> tuple[Path, Path, dict[str, Any]]:
        """frames.csv (one row per frame, every stage's start/end ns) and summary.json."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = out_dir / CSV_NAME, out_dir / SUMMARY_NAME
        with atomic_path(csv_path) as tmp, tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["frame", "t_capture_ns", "pts_s", *(f"{s}_{e}_ns" for s in STAGES for e in ("start", "end")),
                        "latency_ms", "mask_frame", "mask_age_ms", "dropped", "overlay_off_reason",
                        "video_latency_ms", "overlay_age_ms", "mask_source"])
            for r in self.rows():
                spans = [v for s in STAGES for v in (r.spans.get(s) or ("", ""))]
                lat, age = r.latency_ms(), r.mask_age_ms()
                w.writerow([r.index, r.t_capture_ns, "" if r.pts_s is None else f"{r.pts_s:.6f}", *spans,
                            "" if lat is None else f"{lat:.3f}", "" if r.mask_frame is None else r.mask_frame,
                            "" if age is None else f"{age:.3f}", int(r.dropped), r.overlay_off_reason or "",
                            "" if lat is None else f"{lat:.3f}", _ms(r.overlay_age_ms()), r.mask_source or ""])
        summary = self.summary(**extra)
        atomic_write_json(json_path, summary)
        return csv_path, json_path, summary


__all__ = ["StatsRecorder", "FrameRow", "WindowStats", "describe", "CSV_NAME", "SUMMARY_NAME"]
