"""Stats recorder: percentiles against numpy on known data, span merging, CSV/JSON content, window."""
from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest

from surgical_seg.modelcard import CLASS_COLORS_RGB, CLASS_NAMES
from surgical_seg.packet import FramePacket, Segmentation
from surgical_seg.realtime.stats import StatsRecorder, describe

MS = 1_000_000


def test_describe_matches_numpy():
    rng = np.random.default_rng(0)
    v = rng.gamma(2.0, 10.0, 997)
    d = describe(v)
    assert d["n"] == 997
    assert d["mean"] == pytest.approx(v.mean())
    for key, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        assert d[key] == pytest.approx(np.percentile(v, q))
    assert d["max"] == v.max() and d["tail"] == pytest.approx(v.max() - np.percentile(v, 95))
    small = describe([1.0, 2.0, 3.0, 4.0, None])
    assert small["p50"] == 2.5 and small["p95"] == pytest.approx(3.85) and small["n"] == 4
    assert describe([])["p50"] is None and describe([])["n"] == 0


def packet(i, t0, stages):
    """A packet captured at t0 whose stages take the given ms one after another."""
    p = FramePacket(i, np.zeros((4, 4, 3), np.uint8), t_capture_ns=t0, pts_s=i / 30)
    p.mark("capture", t0 - 2 * MS, t0)
    t = t0
    for name, ms in stages:
        p.mark(name, t, t + int(ms * MS))
        t += int(ms * MS)
    return p


def feed_replay(rec, n=100):
    """Frame i: preprocess 1 ms, infer 10+i%7 ms, postprocess 2 ms, composite 3 ms; captured 33 ms apart."""
    t0 = time.perf_counter_ns()
    for i in range(n):
        p = packet(i, t0 + i * 33 * MS, [("preprocess", 1), ("infer", 10 + i % 7), ("postprocess", 2),
                                          ("composite", 3)])
        p.segmentation = Segmentation(np.zeros((4, 4), np.uint8), CLASS_NAMES, CLASS_COLORS_RGB, i, p.t_capture_ns)
        rec.add(p)
    return t0


def test_summary_latency_and_stages_from_spans(tmp_path):
    rec = StatsRecorder()
    feed_replay(rec)
    s = rec.summary(source="x.mp4")
    infer = np.array([10 + i % 7 for i in range(100)], float)
    e2e = infer + 6
    assert s["source"] == "x.mp4" and s["frames_in"] == s["frames_out"] == s["frames_inferred"] == 100
    assert s["dropped"] == 0 and s["latency_until"] == "composite"
    for key, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        assert s["latency_ms"][key] == pytest.approx(np.percentile(e2e, q))
        assert s["stages_ms"]["infer"][key] == pytest.approx(np.percentile(infer, q))
    assert s["latency_ms"]["max"] == pytest.approx(22.0) and s["latency_ms"]["mean"] == pytest.approx(e2e.mean())
    assert s["stages_ms"]["capture"]["mean"] == pytest.approx(2.0)
    assert s["stages_ms"]["composite"]["p99"] == pytest.approx(3.0)
    assert "display" not in s["stages_ms"]
    assert s["fps_in"] == pytest.approx(1000 / 33, rel=1e-6)
    assert s["mask_age_ms"]["p50"] == pytest.approx(np.percentile(e2e, 50))
    assert s["rss_mb"]["start"] > 10 and s["rss_mb"]["max"] >= s["rss_mb"]["end"] > 10


def test_display_spans_merge_and_become_the_end(tmp_path):
    rec = StatsRecorder()
    t0 = time.perf_counter_ns()
    p = packet(0, t0, [("preprocess", 1), ("infer", 10), ("postprocess", 2), ("composite", 3)])
    rec.add(p)
    p.mark("display", t0 + 20 * MS, t0 + 25 * MS)    # the viewer painted it, then re-adds it
    rec.add(p)
    [row] = rec.rows()
    assert row.latency_ms() == pytest.approx(25.0) and row.latency_ms("composite") == pytest.approx(16.0)
    s = rec.summary()
    assert s["latency_until"] == "display" and s["stages_ms"]["display"]["mean"] == pytest.approx(5.0)


def test_live_rows_merge_inference_copy_and_count_drops():
    rec = StatsRecorder()
    t0 = time.perf_counter_ns()
    for i in range(10):
        raw = packet(i, t0 + i * 33 * MS, [("composite", 2)])
        raw.overlay_off_reason = "stale (180 ms)" if i % 2 else None
        rec.add(raw)
        if i % 3 == 0:                                   # the model took frames 0, 3, 6, 9 ...
            inf = packet(i, raw.t_capture_ns, [("preprocess", 1), ("infer", 50), ("postprocess", 1)])
            rec.add(inf)
        else:                                            # ... the others were replaced in its slot
            rec.dropped(raw)
    s = rec.summary()
    assert s["frames_in"] == s["frames_out"] == 10 and s["frames_inferred"] == 4 and s["dropped"] == 6
    assert s["stages_ms"]["infer"]["n"] == 4 and s["stages_ms"]["composite"]["n"] == 10
    assert s["overlay_off"] == {"stale": 5}
    row3 = rec.rows()[3]
    assert set(row3.spans) == {"capture", "composite", "preprocess", "infer", "postprocess"}


def test_write_frames_csv_and_summary_json(tmp_path):
    rec = StatsRecorder()
    feed_replay(rec, n=20)
    csv_path, json_path, summary = rec.write(tmp_path / "run", mode="replay")
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 20 and [int(r["frame"]) for r in rows] == list(range(20))
    r5 = rows[5]
    infer_ms = (int(r5["infer_end_ns"]) - int(r5["infer_start_ns"])) / 1e6
    assert infer_ms == pytest.approx(10 + 5 % 7)
    assert float(r5["latency_ms"]) == pytest.approx(10 + 5 + 6)
    assert r5["display_start_ns"] == "" and r5["dropped"] == "0" and r5["mask_frame"] == "5"
    data = json.loads(json_path.read_text())
    assert data == json.loads(json.dumps(summary)) and data["mode"] == "replay" and data["frames_out"] == 20


def test_rolling_window_only_sees_recent_frames():
    rec = StatsRecorder(window_s=1.0)
    now = time.perf_counter_ns()
    for i in range(60):                                  # 60 frames over the last 2 s, 1/3 dropped
        p = packet(i, now - (59 - i) * 33 * MS, [("infer", 20 if i < 29 else 40), ("composite", 1)])
        rec.add(p)
        if i % 3 == 0:
            rec.dropped(p)
    w = rec.window(now_ns=now)
    recent = [i for i in range(60) if (59 - i) * 33 < 1000]
    assert len(w.t_s) == len(recent) and w.dropped == sum(1 for i in recent if i % 3 == 0)
    assert np.allclose(w.infer_ms, 40.0) and np.allclose(w.e2e_ms, 41.0)
    assert w.fps_in == pytest.approx(1000 / 33, rel=1e-6)
    table = dict((name, (p50, p95, p99)) for name, p50, p95, p99 in w.rows)
    assert table["infer"][0] == pytest.approx(40.0) and table["video latency"][2] == pytest.approx(41.0)
    assert len(rec.rows()) == 60, "the full rows stay for frames.csv"


def test_add_later_never_takes_the_lock_and_merges_before_any_read():
    """The niced model thread queues its spans: it must not wait on (or hold) the lock the UI reads under."""
    import threading
    rec = StatsRecorder()
    t0 = time.perf_counter_ns()
    inferred = packet(0, t0, [("preprocess", 1), ("infer", 12), ("postprocess", 2)])
    composited = packet(0, t0, [("composite", 3)])
    composited.segmentation = Segmentation(np.zeros((4, 4), np.uint8), CLASS_NAMES, CLASS_COLORS_RGB, 0, t0)
    with rec._lock:                                   # a reader holds the lock...
        done = threading.Event()
        threading.Thread(target=lambda: (rec.add_later(inferred), done.set()), daemon=True).start()
        assert done.wait(5.0)                         # ...and the model's thread goes on regardless
    assert rec.rows()[0].stage_ms("infer") == pytest.approx(12.0)      # merged by the reader
    rec.add_later(packet(1, t0 + 33 * MS, [("infer", 11)]))
    rec.add(composited)                               # the compositor's add merges the queue first
    rows = {r.index: r for r in rec._rows.values()}
    assert rows[1].stage_ms("infer") == pytest.approx(11.0) and not rec._later
    assert rows[0].stage_ms("composite") == pytest.approx(3.0) and rows[0].stage_ms("infer") == pytest.approx(12.0)
