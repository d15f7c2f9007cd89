"""Recorder: capture-time timestamps, a stop that never blocks, and files that survive kill -9."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from surgical_seg.packet import FramePacket
from surgical_seg.viewer.recorder import CSV_COLUMNS, Recorder, decodable_times

ROOT = Path(__file__).resolve().parents[1]


def packet(i: int, t_ns: int, size=(320, 180)) -> FramePacket:
    frame = np.full((size[1], size[0], 3), (i * 9) % 256, np.uint8)
    p = FramePacket(i, frame, t_ns)
    p.composited = 255 - frame
    return p


def test_capture_times_are_the_timestamps_so_drops_show_as_gaps(tmp_path):
    rec = Recorder(tmp_path / "rec", fps=30).start()
    t0 = 10_000_000_000
    times_ms = [0, 33, 67, 100, 633, 667, 700]           # frames 4..: after a 533 ms hole
    for i, t in enumerate(times_ms):
        assert rec.submit(packet(i, t0 + t * 1_000_000))
    assert rec.stop(timeout=30) and rec.error is None
    for path in rec.paths[:2]:
        got = decodable_times(path)
        assert [round(t * 1000) for t in got] == times_ms
    rows = list(csv.DictReader(rec.paths[2].open()))
    assert [int(r["t_capture_ns"]) for r in rows] == [t0 + t * 1_000_000 for t in times_ms]


def test_stop_with_a_full_queue_returns_at_once_and_writes_what_was_queued(tmp_path):
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8) for _ in range(2)]   # slow to encode
    rec = Recorder(tmp_path / "rec", fps=30, queue_frames=4, thinning=1).start()   # drops, no cadence
    n = 12
    for i in range(n):
        p = FramePacket(i, noise[i % 2], time.perf_counter_ns())
        p.composited = noise[(i + 1) % 2]
        rec.submit(p)
    assert rec._queue.full()
    caller = threading.Thread(target=rec.stop, kwargs={"wait": False})
    caller.start()
    caller.join(5.0)
    assert not caller.is_alive(), "stop(wait=False) blocked on a full queue"
    assert not rec.submit(packet(99, time.perf_counter_ns(), (1280, 720)))    # stopping: no new frames
    assert rec.stop(timeout=120) and rec.error is None
    assert rec.written + rec.dropped == n and rec.written >= 4
    assert len(decodable_times(rec.paths[0])) == len(decodable_times(rec.paths[1])) == rec.written


def test_a_writer_behind_for_good_records_an_even_cadence_not_random_drops(tmp_path):
    """Frames offered far faster than x264 encodes them: the recorder falls back to every 2nd, 3rd, 4th
    frame (thinning=4), one step a second of video at most (capture times 0.1 s apart here), and the
    frames it records are that cadence apart."""
    rng = np.random.default_rng(1)
    noise = [rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8) for _ in range(2)]   # slow to encode
    rec = Recorder(tmp_path / "rec", fps=60, queue_frames=2, thinning=4).start()
    n = 120
    every_at = []                                         # the cadence after each frame was offered
    for i in range(n):
        p = FramePacket(i, noise[i % 2], 10**9 + i * 10**8)
        p.composited = noise[(i + 1) % 2]
        rec.submit(p)
        every_at.append(rec.every)
        time.sleep(0.001)                                 # ~1000 fps offered: too fast even at every 4th
    assert rec.stop(timeout=120) and rec.error is None
    assert rec.every == 4 and rec.written + rec.dropped + rec.skipped == n
    assert rec.dropped >= 3 and rec.skipped > 0
    steps = [i for i in range(1, n) if every_at[i] > every_at[i - 1]]
    assert len(steps) == 3 and all(b - a >= 10 for a, b in zip(steps, steps[1:]))   # a second apart at least
    recorded = [int(r["frame_index"]) for r in csv.DictReader(rec.paths[2].open())]
    assert len(recorded) == rec.written == len(decodable_times(rec.paths[0]))
    assert every_at == sorted(every_at)                   # never raised back within a recording
    for a, b in zip(recorded, recorded[1:]):              # recorded frames sit on the cadence of their time
        if every_at[a] == every_at[b - 1]:
            assert (b - a) % every_at[a] == 0, (a, b, every_at[a])
    assert recorded[-1] > every_at.index(4)               # frames were recorded at every 4th, too
    assert "every 4th frame (15 of 60 fps" in rec.status()


def test_stop_after_the_writer_died_does_not_hang(tmp_path):
    out = tmp_path / "rec"
    (out / "raw.mp4").mkdir(parents=True)                # the writer cannot open its file
    rec = Recorder(out, fps=30, queue_frames=1).start()
    for i in range(5):
        rec.submit(packet(i, time.perf_counter_ns()))
    caller = threading.Thread(target=rec.stop, kwargs={"timeout": 10})
    caller.start()
    caller.join(15)
    assert not caller.is_alive() and not rec.running
    assert rec.error and rec.status().startswith("REC FAILED — is a directory")


CHILD = r"""
import sys, time, numpy as np
from surgical_seg.packet import FramePacket
from surgical_seg.viewer.recorder import Recorder
rec = Recorder(sys.argv[1], fps=30).start()
i = 0
while True:
    f = np.full((360, 640, 3), (i * 5) % 256, np.uint8)
    f[:, : (i * 7) % 640] = 40
    p = FramePacket(i, f, time.perf_counter_ns())
    p.composited = 255 - f
    rec.submit(p)
    i += 1
    time.sleep(1 / 30)
"""


def test_kill_9_mid_recording_leaves_playable_files(tmp_path):
    out = tmp_path / "rec"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            csv_path = out / "frames.csv"
            if csv_path.exists() and csv_path.read_text().count("\n") > 50:
                break
            time.sleep(0.1)
        time.sleep(0.37)                                   # somewhere inside a fragment
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    with (out / "frames.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    complete = [r for r in rows[1:] if len(r) == len(CSV_COLUMNS)]
    assert len(complete) >= len(rows) - 2 and len(complete) > 50        # at most a torn last line
    for name in ("raw.mp4", "overlay.mp4"):
        times = decodable_times(out / name)
        assert len(complete) - 30 <= len(times) <= len(complete), (name, len(times), len(complete))
        assert all(b > a for a, b in zip(times, times[1:]))


def test_a_drawn_overlay_is_drawn_on_the_writer_thread_which_runs_below_the_model(tmp_path):
    """The live viewer hands a function: the burn-in costs the niced writer, not the compositor."""
    from surgical_seg.realtime.priority import LINUX, START_NICE
    rec = Recorder(tmp_path / "rec", fps=30, threads=1, nice=15).start()
    seen = []

    def draw(frame):
        seen.append((threading.current_thread().name,
                     os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) if LINUX else None))
        return 255 - frame

    t0 = 10_000_000_000
    for i in range(5):
        p = packet(i, t0 + i * 33_000_000)
        assert rec.submit(p, lambda f=p.frame: draw(f))
    assert rec.stop(timeout=30) and rec.error is None and rec.written == 5
    assert [name for name, _ in seen] == ["recorder"] * 5
    if LINUX:
        assert {nice for _, nice in seen} == {min(19, START_NICE + 15)}
    assert len(decodable_times(rec.paths[1])) == 5


def test_decoded_yuv_is_recorded_as_is_and_a_blanked_frame_never_carries_it(tmp_path, clip_path):
    """A PyAV source hands the recorder the decoded picture (no BGR -> I420 on the writer's thread); the
    recording keeps its own keyframe interval, and a frame the privacy gate blanked is written dark."""
    import av
    from surgical_seg.realtime.privacy import Decision, blanked
    from surgical_seg.sources import open_source
    src = open_source(str(clip_path))
    items = [src._read() for _ in range(40)]
    src.close()
    assert all(it[3] is not None and it[3].format.name == "yuv420p" for it in items)
    t0 = 10_000_000_000
    pkts = [FramePacket(i, it[0], t0 + i * 33_333_333, yuv=it[3]) for i, it in enumerate(items)]
    pkts[5] = blanked(pkts[5], Decision(5, 166.0, True, 0.99, "classifier"))
    assert pkts[5].yuv is None
    for mode in ("live", "later"):        # later: the queue holds the YUV only, not the BGR frame too
        rec = Recorder(tmp_path / mode, fps=30, overlay=mode).start()
        for p in pkts:
            assert rec.submit(p)
        assert rec.stop(timeout=60) and rec.error is None
        with av.open(str(rec.paths[0])) as c:
            got = list(c.decode(video=0))
        assert len(got) == 40 and [i for i, f in enumerate(got) if f.key_frame] == [0, 30]
        bgr = [f.to_ndarray(format="bgr24").astype(np.int16) for f in got]
        assert bgr[5].mean() < 30 < items[5][0].mean()                     # the blanked frame, dark
        assert np.abs(bgr[6] - items[6][0]).mean() < 3                     # the others, the source's picture
