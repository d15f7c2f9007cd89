"""`surgical-seg soak`: the real viewer on a live UDP MPEG-TS stream, with faults injected on a schedule.

    surgical-seg soak --minutes 30 --faults drop=5s@60s/60s,raise@330s/300s,hang=10s@450s --out out/soak

A stream sender subprocess (surgical_seg/apps/stream_sender.py) sends 720p30 H.264 in MPEG-TS to
127.0.0.1 and carries out the `drop` faults; the model faults are injected into the real segmenter
(surgical_seg/realtime/faults.py). The viewer window runs offscreen or on screen, unchanged. A 10 ms UI timer
is the heartbeat (its late ticks are the UI-thread stalls) and samples what the viewer says: the HUD
cause, whether the overlay layer was painted. From those samples, per fault occurrence:
  detected_ms   fault start → the HUD names the expected cause (drop: source frozen; raise: model
                error; hang: model stalled; slow: model late or stalled)
  frozen_after_last_frame_ms   (drops) the freeze flag's delay after the last frame that arrived
  recovered_ms  fault end (stream back, call abandoned, error raised) → overlay painted again
and overall: RSS growth (the second minute's median against the last minute's), longest UI stall,
overlays painted on a frozen frame (must be 0), threads leaked by the watchdogs, freezes outside any
drop (load on this machine), CPU time the hypervisor took.
"""
from __future__ import annotations

import collections
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import psutil

from ..atomic import atomic_write_json
from ..errors import ConfigError
from ..realtime.faults import FaultClock, FaultySegmenter, parse_faults
from ..realtime.heap import malloc_mb

EXPECTED = {"drop": ("source frozen", "source lost"), "raise": ("model error",),
            "hang": ("model stalled",), "slow": ("model late", "model stalled")}
HEARTBEAT_MS = 10
WARMUP_S = 60.0
STALL_SAMPLE_MS = 25      # a heartbeat this much overdue: the UI thread's stack is sampled, to name the stall


class ProcCounters:
    """A /proc file kept open and read with one pread per call (each system call lets the GIL go, so a
    heartbeat reads it cheaply); `_first_line()` is None where the file does not exist."""

    def __init__(self, path: str) -> None:
        try:
            self._fd: int | None = os.open(path, os.O_RDONLY)
        except OSError:
            self._fd = None

    def _first_line(self) -> bytes | None:
        return None if self._fd is None else os.pread(self._fd, 128, 0).split(b"\n", 1)[0]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ThreadSchedstat(ProcCounters):
    """The opening thread's (ns on a CPU, ns runnable but waiting for one), from Linux's schedstat: over a
    stall, the rest of the time it slept (waiting for the GIL or a lock). `read()` is None where Linux
    does not say."""

    def __init__(self) -> None:
        super().__init__(f"/proc/self/task/{threading.get_native_id()}/schedstat")

    def read(self) -> tuple[int, int] | None:
        line = self._first_line()
        if line is None:
            return None
        on_cpu, waiting, _ = line.split()
        return int(on_cpu), int(waiting)


class CpuSteal(ProcCounters):
    """Milliseconds this VM's CPUs were taken by the hypervisor since boot, all CPUs (Linux /proc/stat, in
    10 ms ticks): over a stall, time no change to the viewer can win back."""

    def __init__(self) -> None:
        super().__init__("/proc/stat")
        self._ms_per_tick = 1000 / os.sysconf("SC_CLK_TCK") if self._fd is not None else 0.0

    def read(self) -> float | None:
        line = self._first_line()
        fields = line.split() if line is not None else []
        return int(fields[8]) * self._ms_per_tick if len(fields) > 8 else None


def _where(f: traceback.FrameSummary) -> str:
    return f"{Path(f.filename).name}:{f.lineno} {f.name}"


class StallSampler:
    """Names UI-thread stalls: a thread that, when the heartbeat is overdue, samples the UI thread's Python
    stack (where it runs, or where it waits for the GIL), and a gc callback that times each collection."""

    def __init__(self, monitor: "SoakMonitor") -> None:
        self.monitor = monitor
        self.ui_ident = threading.get_ident()
        self.samples: dict[int, dict[str, list[str]]] = {}   # tick number -> {"ui": stack, "others": tops}
        self.gc_ms: list[tuple[float, int, float]] = []   # (t_s at start, generation, ms) of collections >= 5 ms
        self._gc_t0 = 0
        self._stop = threading.Event()
        gc.callbacks.append(self._on_gc)
        threading.Thread(target=self._run, name="stall-sampler", daemon=True).start()

    def _on_gc(self, phase: str, info: dict) -> None:
        now = time.perf_counter_ns()
        if phase == "start":
            self._gc_t0 = now
        elif self._gc_t0 and (now - self._gc_t0) >= 5e6:
            self.gc_ms.append(((self._gc_t0 - self.monitor.t0_ns) / 1e9, info["generation"],
                               (now - self._gc_t0) / 1e6))

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            m = self.monitor
            tick = m.ticks
            if tick in self.samples or (time.perf_counter_ns() - m._last_tick) / 1e6 < HEARTBEAT_MS + STALL_SAMPLE_MS:
                continue
            sample = self._sample()
            if sample is not None:
                self.samples[tick] = sample

    def _sample(self) -> dict[str, list[str]] | None:
        """The UI stack, then where each other thread is (who has the GIL?), as text. The frame objects die
        with this call: a frame kept after its function returned keeps its locals, and a soak that held
        one sample's frames until the next stall held a dozen 720p packets (+28-30 MB of RSS, measured)."""
        frames = sys._current_frames()
        try:
            frame = frames.get(self.ui_ident)
            if frame is None:
                return None
            names = {t.ident: t.name for t in threading.enumerate()}
            return {"ui": [_where(f) for f in traceback.extract_stack(frame)[-5:]],
                    "others": [f"[{names.get(ident, ident)}] {_where(traceback.extract_stack(f)[-1])}"
                               for ident, f in frames.items() if ident not in (self.ui_ident, threading.get_ident())]}
        finally:
            frames.clear()      # it holds this very frame, whose locals hold it: a cycle only a full gc breaks

    def stop(self) -> None:
        self._stop.set()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)


class SoakMonitor:
    """UI-thread heartbeat + sampler of the viewer's fail-safe state (all on the UI thread)."""

    def __init__(self, win, t0_ns: int) -> None:
        from PyQt6.QtCore import QTimer, Qt
        self.win, self.t0_ns = win, t0_ns
        self.timeline: list[tuple[int, str | None, float | None]] = []    # (t_ns, reason, frozen age ms)
        self.overlay: list[tuple[int, bool]] = []                          # (t_ns, overlay on screen)
        self.stalls_ms: collections.Counter = collections.Counter()
        self.max_stall_ms = self.max_stall_after_warmup_ms = 0.0
        self.max_stall_at_s = 0.0
        self.ticks = 0
        self.rss_mb: list[tuple[float, float]] = []
        self.heap_mb: list[tuple[float, ...]] = []       # (t_s, in use, free but held, mmapped) from glibc
        self._proc = psutil.Process()
        self._last_tick = time.perf_counter_ns()
        self._reason: Any = object()
        self._on: bool | None = None
        self.events: list[tuple[int, str, str]] = []          # (t_ns, kind, message) of the viewer's events
        self._seen_event: Any = None
        self.stalls: list[tuple[float, float, int, dict | None]] = []   # (t_s, ms, tick, where the time went)
        self._schedstat = ThreadSchedstat()
        self._sched = self._schedstat.read()
        self._steal = CpuSteal()
        self.steal_ms = self.steal_at_start_ms = self._steal.read()
        self.sampler = StallSampler(self)
        self.timer = QTimer(win, interval=HEARTBEAT_MS, timerType=Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    def tick(self) -> None:
        now = time.perf_counter_ns()
        stall = (now - self._last_tick) / 1e6 - HEARTBEAT_MS
        self._last_tick = now
        self.ticks += 1
        t_s = (now - self.t0_ns) / 1e9
        if stall > self.max_stall_ms:
            self.max_stall_ms, self.max_stall_at_s = stall, t_s
        if t_s > 5.0:                                  # after the window, model and stream are up
            self.max_stall_after_warmup_ms = max(self.max_stall_after_warmup_ms, stall)
        self.stalls_ms[next(b for b in (16, 33, 50, 100, 1e9) if stall < b)] += 1
        sched, self._sched = self._sched, self._schedstat.read()
        steal, self.steal_ms = self.steal_ms, self._steal.read()
        if stall >= STALL_SAMPLE_MS:                  # the UI thread ran, waited for a CPU, or slept (GIL, lock)
            spent = None if sched is None or self._sched is None else {
                "on_cpu_ms": round((self._sched[0] - sched[0]) / 1e6, 1),
                "runnable_waiting_ms": round((self._sched[1] - sched[1]) / 1e6, 1),
                "vm_steal_ms": None if steal is None or self.steal_ms is None else self.steal_ms - steal}
            self.stalls.append((t_s, stall, self.ticks - 1, spent))
        win = self.win
        log = win.events_log
        if log and log[-1] is not self._seen_event:            # new events since the last tick
            new = []
            for ev in reversed(log):
                if ev is self._seen_event:
                    break
                new.append(ev)
            self.events += [(ev.t_ns, ev.kind, ev.message) for ev in reversed(new)]
            self._seen_event = log[-1]
        reason = win.off_reason()
        cause = reason.split(" (")[0] if reason else None
        if cause != self._reason:                  # a change of cause (not of the ms counting up in it)
            frozen_age = win.frozen_flagged_age_ms if cause == "source frozen" else None   # as the viewer saw it
            self.timeline.append((now, reason, frozen_age))
            self._reason = cause
        on = reason is None and win.video.layer_painted
        if on != self._on:
            self.overlay.append((now, on))
            self._on = on
        if not self.rss_mb or t_s - self.rss_mb[-1][0] >= 5.0:
            self.rss_mb.append((t_s, self._proc.memory_info().rss / 2**20))
        if not self.heap_mb or t_s - self.heap_mb[-1][0] >= 30.0:
            self.heap_mb.append((t_s, *malloc_mb()))

    # ---- analysis
    def first_reason(self, after_ns: int, causes: tuple[str, ...], until_ns: int) -> tuple[int, float | None] | None:
        for t, reason, age in self.timeline:
            if after_ns <= t <= until_ns and reason and reason.startswith(causes):
                return t, age
        return None

    def state_at(self, t_ns: int) -> str | None:
        """The HUD cause shown at t_ns (None: overlay on)."""
        state = None
        for t, reason, _ in self.timeline:
            if t > t_ns:
                break
            state = reason
        return state

    def excerpt(self, a_ns: int, b_ns: int) -> list[tuple[float, str]]:
        """Cause changes between a and b, as (s after a, cause) - for reading a fault's story."""
        return [(round((t - a_ns) / 1e9, 3), r or "overlay on") for t, r, _ in self.timeline if a_ns <= t <= b_ns][:40]

    def first_event(self, after_ns: int, kind: str, until_ns: int) -> tuple[int, str] | None:
        for t, k, message in self.events:
            if after_ns <= t <= until_ns and k == kind:
                return t, message
        return None

    def overlay_back(self, after_ns: int) -> int | None:
        for t, on in self.overlay:
            if t >= after_ns and on:
                return t
        return None

    def stop(self) -> None:
        self.timer.stop()
        self.sampler.stop()
        self._schedstat.close()
        self._steal.close()


def rss_growth(samples: list[tuple[float, float]], duration_s: float) -> dict[str, Any]:
    """RSS after warm-up against the end, each the median of a minute of 5 s samples (the second minute and
    the last). A single sample at 60 s fell inside the first stream drop's reconnect while the allocator's
    arenas were still filling: two 30-minute runs with the same 335-375 MB plateau gave +13 and +61 MB."""
    window = min(WARMUP_S, duration_s / 3)
    first = [mb for t, mb in samples if window <= t < 2 * window]
    last = [mb for t, mb in samples if t >= duration_s - window]
    ref = statistics.median(first) if first else None
    end = statistics.median(last) if last else None
    return {"after_warmup": ref, "end": end, "growth": None if ref is None or end is None else end - ref,
            "window_s": window, "max_after_warmup": max((mb for t, mb in samples if t >= window), default=None),
            "samples": samples[::6]}


def _read_sender(proc: subprocess.Popen, lines: list[dict]) -> None:
    for line in proc.stdout:
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass


def analyse(mon: SoakMonitor, clock: FaultClock, sender_events: list[dict], end_ns: int) -> dict[str, Any]:
    """Per-fault detection/recovery and the run's overall figures."""
    occurrences = []
    drops = [(e["t_ns"], next((d["t_ns"] for d in sender_events if d["event"] == "drop_end"
                               and d["at_s"] == e["at_s"]), None), e) for e in sender_events
             if e["event"] == "drop_start"]
    drops = [d for d in drops if d[0] < end_ns - int(1e9)]         # not one that began as the soak ended
    for start, end, e in drops:
        found = mon.first_reason(start, EXPECTED["drop"], (end or end_ns) + int(3e9))
        back = mon.overlay_back(end) if end else None
        occurrences.append({"kind": "drop", "at_s": e["at_s"], "length_s": e["length_s"],
                            "shown_before": mon.state_at(start),
                            "story": mon.excerpt(start, (end or end_ns) + int(3e9)),
                            "detected_ms": None if found is None else (found[0] - start) / 1e6,
                            "detected_as": None if found is None else next(
                                r for t, r, _ in mon.timeline if t == found[0]),
                            "frozen_after_last_frame_ms": None if found is None else found[1],
                            "recovered_ms": None if back is None else (back - end) / 1e6})
    for o in clock.occurrences:
        if o.fired_ns is None:
            occurrences.append({"kind": o.kind, "at_s": o.at_s, "fired": False})
            continue
        limit = o.fired_ns + int((o.value_s + o.length_s + 10) * 1e9)
        hud = mon.first_reason(o.fired_ns, EXPECTED[o.kind], limit)
        # raise/hang: the pipeline's own report (the status line says it; a single failed call between two
        # good ones may never reach the HUD, whose state is per composited frame)
        ev = mon.first_event(o.fired_ns, {"raise": "model_error", "hang": "model_stalled"}[o.kind], limit) \
            if o.kind in ("raise", "hang") else None
        found = ev if ev is not None else hud
        end = o.ended_ns or o.fired_ns
        # a model fault is over when the overlay returns after the fault was shown (an overlay still on
        # from before the fault, in the 150 ms until a hang is flagged, is not a recovery)
        shown = hud if hud is not None else found
        back = mon.overlay_back((shown[0] if shown else o.fired_ns) if o.kind in ("raise", "hang") else end)
        occurrences.append({"kind": o.kind, "at_s": o.at_s, "value_s": o.value_s,
                            "shown_before": mon.state_at(o.fired_ns),
                            "story": mon.excerpt(o.fired_ns, limit),
                            "hud_ms": None if hud is None else (hud[0] - o.fired_ns) / 1e6,
                            "detected_ms": None if found is None else (found[0] - o.fired_ns) / 1e6,
                            "detected_as": None if found is None else (
                                ("model stalled: " if o.kind == "hang" else "") + ev[1] if ev is not None else next(
                                r for t, r, _ in mon.timeline if t == found[0])),
                            "recovered_ms": None if back is None else (back - o.fired_ns) / 1e6,
                            "recovered_from": "fault start" if o.kind in ("raise", "hang") else "fault end"})
    windows = [(s, (e or end_ns) + int(3e9)) for s, e, _ in drops]
    stray = [(t, r) for t, r, _ in mon.timeline if r and r.startswith("source frozen")
             and not any(a <= t <= b for a, b in windows)]
    duration_s = (end_ns - mon.t0_ns) / 1e9
    causes = collections.Counter((r or "overlay on").split(" (")[0].split(":")[0] for _, r, _ in mon.timeline)
    return {"duration_s": duration_s, "occurrences": occurrences,
            "rss_mb": rss_growth(mon.rss_mb, duration_s),
            "malloc_mb": {"columns": ["t_s", "in_use", "free_held", "mmapped"], "samples": mon.heap_mb},
            "heap_mmap_kib": mon.win.cfg.viewer.heap_mmap_kib,
            "ui": {"heartbeat_ms": HEARTBEAT_MS, "ticks": mon.ticks, "max_stall_ms": mon.max_stall_ms,
                   "max_stall_at_s": mon.max_stall_at_s, "max_stall_after_5s_ms": mon.max_stall_after_warmup_ms,
                   "stall_histogram_ms": {f"<{int(k) if k < 1e9 else 'inf'}": v
                                          for k, v in sorted(mon.stalls_ms.items())}},
            "longest_stalls": [{"at_s": round(t, 3), "ms": round(ms, 1), "ui_thread": spent,
                                **mon.sampler.samples.get(tick, {"ui": None, "others": None}),
                                "gc": [g for g in mon.sampler.gc_ms if t - (ms + 20) / 1e3 <= g[0] <= t]}
                               for t, ms, tick, spent in sorted(mon.stalls, key=lambda s: -s[1])[:10]],
            "gc_over_5ms": {"count": len(mon.sampler.gc_ms),
                            "max_ms": max((g[2] for g in mon.sampler.gc_ms), default=0.0)},
            "overlay_on_frozen_frame": mon.win.video.overlay_on_frozen,
            "overlay_paints": mon.win.video.overlay_paints,
            "freezes_outside_drops": len(stray),
            "state_changes": dict(causes)}


def run_soak(out_dir: str | Path, minutes: float, faults_spec: str, *, port: int = 5600, model: str | None = None,
             backend: str | None = None, config: str | None = None, size: str = "1280x720",
             fps: float = 30.0) -> dict[str, Any]:
    from PyQt6.QtCore import QEventLoop, QTimer
    from PyQt6.QtWidgets import QApplication

    from ..config import load_app_config, replace_section
    from ..engine import load_segmenter
    from ..viewer.app import MainWindow

    if minutes <= 0:
        raise ConfigError("soak: --minutes must be > 0")
    faults = parse_faults(faults_spec) if faults_spec else []
    duration = minutes * 60
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_app_config(config)
    cfg = replace_section(cfg, "engine", model=model, backend=backend)
    # the soak's stream pans by np.roll, which wraps the scope's bright disc into the corners: not an
    # endoscope picture, and the privacy gate (tested on its own: tests/test_privacy.py) would blank it
    cfg = replace_section(cfg, "privacy", enabled=False)
    e = cfg.engine

    def load(backend: str, device: str):
        return load_segmenter(e.model, backend=backend, threads=e.pipeline_threads("live"), device=device,
                              smoothing=e.smoothing, precision=e.precision, min_region=e.min_region)

    seg = load(e.backend, e.device)
    backend_name, model_name, device = seg.backend_name, seg.card.name, seg.device

    def new_session():                         # after a hang: the same backend again, no new "auto" choice
        return load(backend_name, device)
    drop_spec = ",".join(item for item in faults_spec.split(",") if item.strip().startswith("drop"))
    send_url = f"udp://127.0.0.1:{port}?pkt_size=1316"
    sender = subprocess.Popen([sys.executable, "-m", "surgical_seg.apps.stream_sender", send_url, "--size", size,
                               "--fps", str(fps), "--seconds", str(duration + 60)]
                              + (["--faults", drop_spec] if drop_spec else []),
                              stdout=subprocess.PIPE, text=True)
    events: list[dict] = []
    try:
        first = json.loads(sender.stdout.readline() or "{}")
        if first.get("event") != "started":
            raise ConfigError(f"soak: the stream sender did not start (exit {sender.poll()})")
        threading.Thread(target=_read_sender, args=(sender, events), daemon=True).start()
        t0_ns = first["t_ns"]
        clock = FaultClock([f for f in faults if f.kind != "drop"], duration, t0_ns)
        app = QApplication.instance() or QApplication([])
        win = MainWindow(cfg, FaultySegmenter(seg, clock), None, settings_path=str(out / "viewer.ini"),
                         segmenter_factory=lambda: FaultySegmenter(new_session(), clock))
        del seg                                # after a hang the window holds the only reference
        win.resize(1280, 800)
        win.show()
        win.open_source(f"udp://127.0.0.1:{port}?buffer_size=4194304&overrun_nonfatal=1", wait=True)
        if win.pipeline is None:
            raise ConfigError(f"soak: cannot receive the stream ({win.status_label.text()})")
        mon = SoakMonitor(win, t0_ns)
        remaining_ms = int(max(1.0, duration - (time.perf_counter_ns() - t0_ns) / 1e9) * 1000)
        result: dict[str, Any] = {}

        def finish() -> None:                  # on the UI thread, while the window is alive
            try:
                report(time.perf_counter_ns())
            finally:                           # an error in the report must not leave the loop running
                win.close()
                loop.quit()

        def report(end_ns: int) -> None:
            mon.stop()
            pipe = win.pipeline
            guard = getattr(pipe.segmenter, "guard", None) if pipe else None
            leaked = {"inference": guard.leaked if guard else None,
                      "capture": pipe.source.leaked_reads if pipe else None}
            clock.release.set()
            result.update(analyse(mon, clock, events, end_ns))
            result.update({"command": f"surgical-seg soak --minutes {minutes:g} --faults {faults_spec}"
                                      + (f" --model {model}" if model else ""),
                           "faults": faults_spec, "source": f"udp://127.0.0.1:{port} (MPEG-TS, H.264 {size}@{fps:g})",
                           "backend": backend_name, "model": model_name, "leaked_threads": leaked,
                           "restarts": getattr(pipe.segmenter, "restarts", None) if pipe else None,
                           "event_counts": dict(collections.Counter(k for _, k, _ in mon.events)),
                           "restarts_at_s": [round((t - t0_ns) / 1e9, 1) for t, k, _ in mon.events
                                             if k == "model_restarted"],
                           "events": [str(ev) for ev in win.events_log][-50:],
                           "machine_load": list(psutil.getloadavg()),
                           "cpu_steal_s": None if mon.steal_at_start_ms is None or mon.steal_ms is None
                           else (mon.steal_ms - mon.steal_at_start_ms) / 1e3})

        loop = QEventLoop()                    # a local loop: the application's own state stays untouched
        QTimer.singleShot(remaining_ms, finish)
        loop.exec()
    finally:
        sender.kill()
        sender.wait(10)
    atomic_write_json(out / "soak.json", result)
    return result


def format_soak(r: dict[str, Any]) -> str:
    f = (lambda v, fmt="{:.0f}": "–" if v is None else fmt.format(v))
    lines = [f"soak {r['duration_s'] / 60:.1f} min of {r['source']}, {r['backend']}, faults {r['faults']}",
             f"{'fault':<7}{'at s':>7}{'detected ms':>13}{'HUD ms':>8}{'as':>16}{'frozen after last frame ms':>28}"
             f"{'recovered ms':>14}  shown just before"]
    for o in r["occurrences"]:
        if o.get("fired") is False:
            lines.append(f"{o['kind']:<7}{o['at_s']:>7.0f}   (not reached)")
            continue
        lines.append(f"{o['kind']:<7}{o['at_s']:>7.0f}{f(o['detected_ms']):>13}{f(o.get('hud_ms')):>8}"
                     f"{(o['detected_as'] or '–').split(' (')[0].split(':')[0]:>16}"
                     f"{f(o.get('frozen_after_last_frame_ms')):>28}{f(o['recovered_ms']):>14}  "
                     f"{(o['shown_before'] or 'overlay on').split(' (')[0].split(':')[0]}")
    rss, ui = r["rss_mb"], r["ui"]
    lines += [f"RSS median after warm-up {f(rss['after_warmup'])} MB, last minute {f(rss['end'])} MB, "
              f"growth {f(rss['growth'], '{:+.1f}')} MB, highest after warm-up {f(rss.get('max_after_warmup'))} MB",
              f"longest UI stall {ui['max_stall_ms']:.1f} ms (at {ui['max_stall_at_s']:.0f} s; after 5 s: "
              f"{ui['max_stall_after_5s_ms']:.1f} ms), histogram {ui['stall_histogram_ms']}",
              f"overlay painted on a frozen frame: {r['overlay_on_frozen_frame']} of {r['overlay_paints']} overlay paints",
              f"freezes outside drops (machine load): {r['freezes_outside_drops']}; watchdog restarts {r['restarts']}, "
              f"leaked threads {r['leaked_threads']}; load average {r['machine_load']}; "
              f"CPU steal {f(r.get('cpu_steal_s'), '{:.1f}')} s"]
    return "\n".join(lines)


def main(args) -> int:
    result = run_soak(args.out, args.minutes, args.faults, port=args.port, model=args.model, backend=args.backend,
                      config=args.config, size=args.size, fps=args.fps)
    print(format_soak(result))
    print(f"wrote {Path(args.out) / 'soak.json'}")
    return 0


__all__ = ["run_soak", "analyse", "format_soak", "SoakMonitor", "main", "EXPECTED"]
