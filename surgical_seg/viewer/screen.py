"""What the surgeon's screen got: the figures of `view --stats`, from the frames that were painted.

`bench` measures the pipeline; the screen is measured here, painting included (DESIGN §3: the two
differed by a factor of several on the same machine). Every figure counts painted frames only:

    painted_fps          painted frames per second, and its ratio to the source's frame rate
    own_share            painted frames drawn with their own mask (mask_source "own"), over the painted
                         frames the overlay belongs on: those the privacy gate held out of the body
                         (no segmentation there by design, at start-up until in_body_ms) are left out
                         and counted in out_of_body
    overlay_age_ms       capture of the drawn mask's frame -> painted (the headline)
    overlay_off_frames   painted frames without an overlay after the first mask came: nothing drawn,
                         or a mask older than stale_ms at paint time (the paint-time gate hides it);
                         frames held out of the body are not failures and are not counted
    stages_p50_ms        each stage's median, display (painting) included
    thread_cpu           (Linux) where the CPU went from the first painted frame to the end, in cores
                         per thread name (ThreadCPU): on 2 cores, what a change cost the screen
    source_cpu_ms_per_frame  the source's read thread's CPU per source frame (decode and conversion): the
                         same work in every run of one clip, so across runs it says how fast the machine
                         was during each (a shared machine drifts; compare runs of like speed)

`screen_figures` is written into summary.json under "screen"; scripts/update_docs.py renders it
(figures:screen) from copies kept under docs/measured/.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterable

from ..packet import STAGES
from ..realtime.align import MASK_SOURCES
from ..realtime.stats import FrameRow, describe


def screen_figures(rows: Iterable[FrameRow], source_fps: float | None, stale_ms: float,
                   recording: bool = False) -> dict[str, Any]:
    painted = sorted((r for r in rows if "display" in r.spans), key=lambda r: r.spans["display"][1])
    ends = [r.spans["display"][1] for r in painted]
    fps = (len(ends) - 1) / ((ends[-1] - ends[0]) / 1e9) if len(ends) > 1 and ends[-1] > ends[0] else None
    first = next((i for i, r in enumerate(painted) if r.mask_source not in (None, "off")), len(painted))
    ages = [r.overlay_age_ms() for r in painted]
    held_out = [(r.overlay_off_reason or "").startswith("out of body") for r in painted]
    off = sum(1 for r, out in zip(painted[first:], held_out[first:])
              if not out and (r.mask_source == "off" or (r.overlay_age_ms() or 0.0) > stale_ms))
    out_of_body = sum(held_out)
    n = max(1, len(painted) - out_of_body)
    return {
        "painted": len(painted),
        "painted_fps": fps,
        "source_fps": source_fps,
        "painted_over_source": fps / source_fps if fps and source_fps else None,
        "own_share": sum(r.mask_source == "own" for r in painted) / n,
        "out_of_body": out_of_body,
        "mask_source": {k: sum(r.mask_source == k for r in painted) for k in MASK_SOURCES},
        "overlay_age_ms": describe(a for a in ages if a is not None),
        "overlay_off_frames": off,
        "stages_p50_ms": {s: describe(r.stage_ms(s) for r in painted)["p50"] for s in STAGES},
        "recording": recording,
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def source_cpu_ms_per_frame(thread_cpu: dict[str, float], source_fps: float | None) -> float | None:
    """CPU ms a source frame cost its read thread (the sources' watched read call, "source-<kind>-read-call"),
    from ThreadCPU's cores at the source's frame rate; None without either."""
    cores = sum(v for k, v in thread_cpu.items() if k.startswith("source-") and k.endswith("-read-call"))
    return round(1000.0 * cores / source_fps, 2) if cores and source_fps else None


class ThreadCPU:
    """CPU time of this process's threads, by Python thread name (OS name for threads Python did not
    start: OpenVINO's, Qt's pools), from `start()` to `stop()` (before the threads end: a thread that
    ended is not in /proc any more). Linux only; elsewhere empty."""

    def __init__(self) -> None:
        self._t0: float | None = None
        self._base: dict[int, float] = {}
        self._final: dict[str, float] | None = None

    @staticmethod
    def _snapshot() -> dict[int, tuple[str, float]]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        out = {}
        try:
            tids = os.listdir("/proc/self/task")
        except OSError:
            return out
        for tid in tids:
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/self/task/{tid}/comm") as f:
                    comm = f.read().strip()
            except OSError:                 # the thread ended meanwhile
                continue
            out[int(tid)] = (names.get(int(tid), comm), (int(fields[11]) + int(fields[12])) / tick)
        return out

    @property
    def started(self) -> bool:
        return self._t0 is not None

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._base = {tid: cpu for tid, (_, cpu) in self._snapshot().items()}

    def stop(self) -> None:
        if self._final is None:
            self._final = self.cores()

    def cores(self) -> dict[str, float]:
        """{"total": cores, thread name: cores, ...} from start() to stop() (or now), largest first."""
        if self._final is not None:
            return self._final
        if self._t0 is None or time.monotonic() - self._t0 <= 0:
            return {}
        secs = time.monotonic() - self._t0
        by_name: dict[str, float] = {}
        for tid, (name, cpu) in self._snapshot().items():
            by_name[name] = by_name.get(name, 0.0) + cpu - self._base.get(tid, 0.0)
        ranked = sorted(((k, round(v / secs, 3)) for k, v in by_name.items() if v > 0), key=lambda kv: -kv[1])
        return {"total": round(sum(v for _, v in ranked), 3), **dict(ranked)}


__all__ = ["screen_figures", "source_cpu_ms_per_frame", "ThreadCPU"]
