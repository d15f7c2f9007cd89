"""Fault schedules, the injecting segmenter, and a short real soak (UDP MPEG-TS stream + offscreen viewer)."""
from __future__ import annotations

import json
import os
import socket
import time

import pytest

from surgical_seg.errors import ConfigError
from surgical_seg.realtime.faults import FaultClock, FaultySegmenter, InjectedFault, parse_faults
from surgical_seg.viewer.settings import ENV_VAR


def test_parse_fault_spec():
    f = parse_faults("drop=5s@60s/60s, raise@300s/300s,hang=10s@450s,slow=100ms@200s+10s")
    assert [(x.kind, x.start_s, x.value_s, x.every_s) for x in f] == [
        ("drop", 60, 5, 60), ("raise", 300, 0, 300), ("hang", 450, 10, None), ("slow", 200, 0.1, None)]
    assert f[0].times(240) == [60, 120, 180] and f[2].times(400) == [] and f[3].length_s == 10
    for bad in ("drop@60s", "melt=1s@2s", "hang=10@5s", "raise@1s/0s", ""):
        with pytest.raises(ConfigError):
            parse_faults(bad)


class Counting:
    def __init__(self):
        self.calls = 0

    def process(self, packet):
        self.calls += 1
        return packet


def test_faulty_segmenter_fires_each_occurrence_once():
    clock = FaultClock(parse_faults("raise@0s/0.2s,hang=0.3s@0.05s"), duration_s=0.5)
    seg = FaultySegmenter(Counting(), clock)
    with pytest.raises(InjectedFault):
        seg.process("p")                        # t=0: the raise is due
    time.sleep(0.06)
    t = time.perf_counter()
    assert seg.process("p") == "p"              # the hang: blocks 0.3 s, then works
    assert time.perf_counter() - t >= 0.29
    time.sleep(0.25)
    with pytest.raises(InjectedFault):
        seg.process("p")                        # the second raise (0.2 s) and the third (0.4 s) are due now:
    with pytest.raises(InjectedFault):          # each fires once, one call each
        seg.process("p")
    assert seg.process("p") == "p" and seg.inner.calls == 2
    assert all(o.fired_ns for o in clock.occurrences)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_short_soak_detects_and_recovers_every_fault(tiny_model_dir, tmp_path, monkeypatch, qapp):
    from surgical_seg.apps import soak
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "viewer.ini"))
    result = soak.run_soak(tmp_path / "soak", minutes=0.45, faults_spec="drop=2s@8s,raise@14s,hang=3s@18s",
                           port=free_udp_port(), model=str(tiny_model_dir), size="320x180")
    kinds = {o["kind"]: o for o in result["occurrences"]}
    assert set(kinds) == {"drop", "raise", "hang"}
    assert kinds["drop"]["detected_as"].startswith(("source frozen", "source lost"))
    assert kinds["raise"]["detected_as"].startswith("model error: InjectedFault")
    assert kinds["hang"]["detected_as"].startswith("model stalled")
    for o in kinds.values():
        assert o["detected_ms"] is not None and o["recovered_ms"] is not None, o
    assert kinds["hang"]["hud_ms"] is not None                    # the HUD said "model stalled" too
    # recovery is counted after the fault was shown, not from an overlay left on in the first 150 ms
    assert kinds["hang"]["recovered_ms"] >= kinds["hang"]["hud_ms"]
    assert result["restarts"] >= 1 and result["overlay_on_frozen_frame"] == 0
    assert result["rss_mb"]["end"] > 0 and result["ui"]["ticks"] > 100
    saved = json.loads((tmp_path / "soak" / "soak.json").read_text())
    assert saved["occurrences"] == json.loads(json.dumps(result["occurrences"]))
    assert "recovered ms" in soak.format_soak(result)


def test_stall_sampler_names_what_the_ui_thread_was_doing(monkeypatch):
    """An overdue heartbeat gets the UI thread's stack (and the other threads' places); gc pauses are timed."""
    import gc
    import time
    from types import SimpleNamespace

    from surgical_seg.apps.soak import HEARTBEAT_MS, StallSampler
    mon = SimpleNamespace(t0_ns=time.perf_counter_ns(), ticks=7, _last_tick=time.perf_counter_ns())
    sampler = StallSampler(mon)
    try:
        def busy_ui_work():                              # stands in for a long paint on the UI thread
            end = time.perf_counter() + (HEARTBEAT_MS + 300) / 1e3
            while time.perf_counter() < end:
                time.sleep(0)        # lets the GIL go: a pure-Python loop can keep the sampler out ~90 ms
        busy_ui_work()
        junk = [[i] for i in range(300_000)]
        for a, b in zip(junk, junk[1:]):
            a.append(b)                                   # objects gc has to walk
        gc.collect()
        del junk
        gc.collect()
    finally:
        sampler.stop()
    sample = sampler.samples[7]
    assert sample["ui"][-1].endswith("busy_ui_work")
    assert not any(o.startswith("[MainThread]") for o in sample["others"])    # the UI thread is not listed twice
    assert any(gen == 2 for _, gen, _ in sampler.gc_ms) and all(ms >= 5.0 for _, _, ms in sampler.gc_ms)


def test_stall_sampler_keeps_text_not_the_threads_frames():
    """A sample must not keep the sampled stacks: a frame kept after its function returned keeps its locals
    (in the viewer, the 720p packets each thread held), which the soak then counted as RSS growth."""
    import threading
    import time
    import weakref
    from types import SimpleNamespace

    from surgical_seg.apps.soak import StallSampler

    class Packet:
        pass

    held, release = {}, threading.Event()

    def worker_holding_a_packet():
        packet = Packet()
        held["packet"] = weakref.ref(packet)
        release.wait()

    worker = threading.Thread(target=worker_holding_a_packet, name="worker")
    worker.start()
    mon = SimpleNamespace(t0_ns=time.perf_counter_ns(), ticks=3, _last_tick=time.perf_counter_ns() - 10**9)
    sampler = StallSampler(mon)                     # heartbeat 1 s overdue: it samples tick 3 at once
    try:
        deadline = time.monotonic() + 10
        while 3 not in sampler.samples and time.monotonic() < deadline:
            time.sleep(0.01)
        assert any(o.startswith("[worker]") for o in sampler.samples[3]["others"])
        release.set()
        worker.join(5)
        assert held["packet"]() is None             # the worker returned: its packet is gone, sampled or not
    finally:
        release.set()
        sampler.stop()


def test_thread_schedstat_counts_this_threads_cpu_time():
    """The soak splits each UI stall into running / waiting for a CPU / sleeping from these counters."""
    import sys

    from surgical_seg.apps.soak import ThreadSchedstat
    if not sys.platform.startswith("linux"):
        pytest.skip("schedstat is Linux's")
    stat = ThreadSchedstat()
    (cpu0, wait0), t0 = stat.read(), time.thread_time_ns()
    while time.thread_time_ns() - t0 < 40e6:          # 40 ms of this thread's own CPU time
        pass
    (cpu1, wait1), t1 = stat.read(), time.thread_time_ns()
    assert abs((cpu1 - cpu0) - (t1 - t0)) < 5e6 and wait1 >= wait0
    time.sleep(0.05)                                   # asleep: neither on a CPU nor waiting for one
    cpu2, _ = stat.read()
    assert cpu2 - cpu1 < 5e6
    fd = stat._fd
    stat.close()
    assert stat.read() is None
    with pytest.raises(OSError):
        os.fstat(fd)                                   # the soak does not leave its descriptor open


def test_cpu_steal_reads_the_hypervisors_share_and_closes():
    import sys

    from surgical_seg.apps.soak import CpuSteal
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc/stat is Linux's")
    steal = CpuSteal()
    first = steal.read()
    fields = open("/proc/stat").readline().split()
    assert first == pytest.approx(int(fields[8]) * 1000 / os.sysconf("SC_CLK_TCK"), abs=100)   # same counter
    time.sleep(0.02)
    assert steal.read() >= first
    steal.close()
    assert steal.read() is None


def test_rss_growth_compares_minute_medians_not_single_samples():
    """A reconnect spike at 60 s or a collection at the end must not decide the growth figure."""
    from surgical_seg.apps.soak import rss_growth
    plateau = [350.0, 340.0, 360.0, 355.0, 345.0, 350.0] * 2             # 12 samples, 5 s apart: one minute
    samples = [(t * 5.0, 250.0) for t in range(12)]                       # first minute: warming up, ignored
    samples += [(60.0, 300.0)] + [(65.0 + 5 * i, mb) for i, mb in enumerate(plateau[1:])]   # dip in the drop
    samples += [(120.0 + 5 * i, 420.0 if i == 0 else 352.0) for i in range(48)]              # one peak later
    samples += [(360.0 + 5 * i, mb + 10) for i, mb in enumerate(plateau)]                   # last minute
    r = rss_growth(samples, duration_s=420.0)
    assert r["window_s"] == 60.0 and r["after_warmup"] == 350.0 and r["end"] == 360.0
    assert r["growth"] == 10.0 and r["max_after_warmup"] == 420.0
    short = rss_growth([(t, 100.0 + t) for t in range(0, 31)], duration_s=30.0)     # a short soak: thirds
    assert short["window_s"] == 10.0 and short["after_warmup"] == 114.5 and short["end"] == 125.0
