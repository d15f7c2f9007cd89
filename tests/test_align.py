"""Alignment policy: own / warped / latest / off, unit level and in the live pipeline with the real tiny model."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from fixtures_model import Slow

from surgical_seg.realtime.align import MASK_SOURCES, Aligner, MaskHistory
from surgical_seg.config import SourceConfig
from surgical_seg.engine import load_segmenter
from surgical_seg.realtime.overlay import MaskAnnotator
from surgical_seg.packet import FramePacket, Segmentation
from surgical_seg.realtime.pipeline import Pipeline
from surgical_seg.sources import open_source
from surgical_seg.realtime.stats import StatsRecorder
from surgical_seg.realtime.warp import MaskWarper

RUN_TIMEOUT_S = 60.0
NAMES, COLORS = ("background", "a"), ((0, 0, 0), (255, 0, 0))


def packet(index, t_ns=None, frame=None):
    frame = np.zeros((40, 60, 3), np.uint8) if frame is None else frame
    return FramePacket(index, frame, time.perf_counter_ns() if t_ns is None else t_ns)


def seg_for(p):
    return Segmentation(np.full(p.frame.shape[:2], 1, np.uint8), NAMES, COLORS, p.index, p.t_capture_ns)


# ---------------------------------------------------------------- unit
def test_own_mask_arriving_before_the_deadline_is_used():
    hist = MaskHistory()
    aligner = Aligner(hist, align_ms=2000.0, stale_ms=5000.0)
    p = packet(3)
    threading.Timer(0.05, lambda: hist.put(seg_for(p), p.frame)).start()
    c = aligner.choose(p)
    assert c.mask_source == "own" and c.segmentation.frame_index == 3 and c.off_reason is None


def test_late_mask_gives_latest_or_warped_and_none_gives_off():
    hist = MaskHistory()
    first = packet(0)
    later = packet(1)
    assert Aligner(hist, align_ms=0.0).choose(later).mask_source == "off"      # nothing yet
    assert Aligner(hist, align_ms=0.0).choose(later).off_reason == "waiting for the first mask"
    hist.put(seg_for(first), first.frame)
    c = Aligner(hist, align_ms=20.0, warper=None, stale_ms=5000.0).choose(later)
    assert c.mask_source == "latest" and c.segmentation.frame_index == 0
    c = Aligner(hist, align_ms=20.0, warper=MaskWarper(), stale_ms=5000.0).choose(later)
    assert c.mask_source == "warped" and c.segmentation.frame_index == 0
    assert c.segmentation.labels is not hist.nearest(1)[0].labels            # a new array


def test_stale_mask_is_not_drawn():
    hist = MaskHistory()
    old = packet(0, t_ns=time.perf_counter_ns() - 500_000_000)              # captured 500 ms ago
    hist.put(seg_for(old), old.frame)
    c = Aligner(hist, align_ms=0.0, stale_ms=150.0).choose(packet(5))
    assert c.mask_source == "off" and c.segmentation is None and c.off_reason.startswith("stale (")


def test_a_skipped_frame_does_not_wait_for_its_mask():
    hist = MaskHistory()
    p = packet(4)
    hist.put(seg_for(packet(3)), p.frame)
    threading.Timer(0.05, lambda: hist.skip(4)).start()
    t0 = time.monotonic()
    c = Aligner(hist, align_ms=3000.0, stale_ms=60_000.0).choose(p)
    assert time.monotonic() - t0 < 2.5                                       # woken, not timed out
    assert c.mask_source == "latest" and c.segmentation.frame_index == 3


def test_history_prefers_the_newest_mask_not_after_the_frame():
    hist = MaskHistory(keep=3)
    for i in (2, 5, 9, 12):
        p = packet(i)
        hist.put(seg_for(p), p.frame)
    assert hist.nearest(10)[0].frame_index == 9
    assert hist.nearest(4)[0].frame_index == 5          # 2 fell out (keep=3): the oldest after it
    assert hist.nearest(100)[0].frame_index == 12


# ---------------------------------------------------------------- live pipeline, real model
@pytest.fixture(scope="module")
def segmenter(tiny_model_dir):
    return load_segmenter(tiny_model_dir, backend="onnxruntime", threads=1)


def live_run(clip_path, seg, frames, **kw):
    out, stats = [], StatsRecorder()
    pipe = Pipeline(open_source(str(clip_path), SourceConfig(realtime=True), max_frames=frames), seg,
                    MaskAnnotator(((0, 0, 0),) * 4, class_names=("background", "b", "l", "d")), mode="live",
                    stats=stats, sinks=[out.append], **kw)
    pipe.start()
    assert pipe.wait(RUN_TIMEOUT_S), [str(e) for e in pipe.events()]
    assert pipe.stop(5.0)
    return out, stats


def test_a_fast_model_draws_every_frame_it_saw_with_its_own_mask(clip_path, segmenter):
    # a deadline far above any capture → mask time, even on a loaded CI machine
    out, stats = live_run(clip_path, segmenter, 30, align_ms=10_000.0, stale_ms=60_000.0, warp=True)
    inferred = {r.index for r in stats.rows() if "infer" in r.spans}
    assert out and inferred
    for p in out:
        assert p.mask_source in MASK_SOURCES
        if p.index in inferred:
            assert p.mask_source == "own" and p.segmentation.frame_index == p.index
    assert not [p for p in out if p.mask_source == "latest"]
    s = stats.summary()
    assert s["mask_source"]["own"] == sum(p.mask_source == "own" for p in out) > 0
    assert s["overlay_age_ms"]["n"] == sum(p.mask_source != "off" for p in out)


@pytest.mark.parametrize("warp, expect, never", [(True, "warped", "latest"), (False, "latest", "warped")])
def test_a_slow_model_gives_warped_or_latest_masks(clip_path, segmenter, warp, expect, never):
    out, stats = live_run(clip_path, Slow(segmenter, 0.12), 30, align_ms=10.0, stale_ms=60_000.0, warp=warp)
    sources = [p.mask_source for p in out]
    assert expect in sources and never not in sources, sources
    for p in out:
        if p.mask_source == expect:
            assert p.segmentation.frame_index < p.index and p.overlay_off_reason is None
            assert p.composited is not p.frame
    rows = {r.index: r for r in stats.rows()}
    assert all(rows[p.index].mask_source == p.mask_source for p in out)
    ages = [rows[p.index].overlay_age_ms() for p in out if p.mask_source == expect]
    lat = [rows[p.index].latency_ms() for p in out if p.mask_source == expect]
    assert all(a > v for a, v in zip(ages, lat))       # an older frame's mask: older than the video


def test_no_wait_while_masks_typically_miss_the_deadline():
    hist = MaskHistory()
    for i in range(5):                                   # masks arrive 3 s after their frame's capture
        p = packet(i, t_ns=time.perf_counter_ns() - 3_000_000_000)
        hist.put(seg_for(p), p.frame)
    assert hist.typical_ms >= 3000
    t0 = time.monotonic()
    c = Aligner(hist, align_ms=2000.0, stale_ms=60_000.0).choose(packet(9))
    assert time.monotonic() - t0 < 1.5 and c.mask_source == "latest"     # did not wait 2 s for nothing


def test_frames_waiting_for_their_masks_do_not_cost_the_frames_behind_them(clip_path, segmenter):
    # the model (50 ms a frame) is slower than the clip (33 ms): while a frame waits for its own mask the
    # next ones arrive; every one is still composited, in capture order (a one-slot buffer lost them)
    out, _ = live_run(clip_path, Slow(segmenter, 0.05), 30, align_ms=10_000.0, stale_ms=60_000.0, warp=False)
    assert [p.index for p in out] == list(range(30))
    assert any(p.mask_source == "own" for p in out)
