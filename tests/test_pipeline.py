"""Pipeline: real clips, the real tiny exported model on a real runtime; live and replay behaviour."""
from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest

from fixtures_media import CLIP_FRAMES, read_index
from fixtures_model import Slow
from surgical_seg.config import SourceConfig, load_app_config, replace_section
from surgical_seg.errors import ConfigError
from surgical_seg.engine import load_segmenter
from surgical_seg.realtime.overlay import MaskAnnotator
from surgical_seg.realtime.pipeline import FrameQueue, LatestSlot, Pipeline, open_pipeline
from surgical_seg.sources import open_source
from surgical_seg.realtime.stats import StatsRecorder
from surgical_seg.watchdog import StallBounds

RUN_TIMEOUT_S = 45.0


@pytest.fixture(scope="module")
def segmenter(tiny_model_dir):
    return load_segmenter(tiny_model_dir, backend="onnxruntime", threads=1)


def annotator_for(seg, **kw):
    return MaskAnnotator(seg.card.colors_rgb, class_names=seg.card.classes, **kw)


class FailsOn:
    """The real segmenter, raising on some frame indexes (a backend crash, an out-of-memory)."""

    def __init__(self, seg, bad):
        self.seg, self.bad = seg, bad

    def process(self, packet):
        if self.bad(packet.index):
            raise RuntimeError("boom in backend")
        return self.seg.process(packet)


def run_to_end(pipe: Pipeline):
    out = []
    pipe.sinks.append(out.append)
    pipe.start()
    finished = pipe.wait(RUN_TIMEOUT_S)
    assert pipe.stop(5.0), "pipeline threads did not end"
    assert finished, f"pipeline did not finish; events: {[str(e) for e in pipe.events()]}"
    return out


# ---------------------------------------------------------------- the slot
def test_latest_slot_keeps_newest_counts_overwrites_and_wakes_on_close():
    slot = LatestSlot()
    assert slot.get(timeout=0.01) is None and slot.peek() == (-1, None)
    assert slot.put(0, "a") is None
    assert slot.put(1, "b") == "a" and slot.overwritten == 1        # "a" was never taken
    assert slot.get(newer_than=-1, timeout=1) == (1, "b")
    assert slot.get(newer_than=1, timeout=0.01) is None             # a repeat is not new
    assert slot.put(2, "c") is None and slot.overwritten == 1        # "b" had been taken
    assert slot.peek() == (2, "c")
    got = []
    t = threading.Thread(target=lambda: got.append(slot.get(newer_than=2, timeout=30)))
    t.start()
    slot.close()
    t.join(5)
    assert not t.is_alive() and got == [None]


# ---------------------------------------------------------------- replay
def test_replay_processes_every_frame_in_order_and_is_deterministic(clip_path, segmenter):
    runs = []
    for _ in range(2):
        stats = StatsRecorder()
        pipe = Pipeline(open_source(str(clip_path), max_frames=24), segmenter, annotator_for(segmenter),
                        mode="replay", stats=stats)
        out = run_to_end(pipe)
        c = pipe.counts()
        assert c.frames_in == c.frames_out == c.inferred == 24 and c.dropped == 0 and c.model_errors == 0
        assert [p.index for p in out] == list(range(24))
        for p in out:
            assert read_index(p.frame) == p.index                       # the source frame was not drawn on
            assert p.segmentation.frame_index == p.index and p.overlay_off_reason is None
            assert set(p.spans) == {"capture", "preprocess", "infer", "postprocess", "composite"}
            assert p.composited is not p.frame and p.composited.shape == p.frame.shape
        assert pipe.latest() is out[-1] and pipe.latest_index == 23
        s = stats.summary()
        assert s["frames_in"] == s["frames_out"] == 24 and s["dropped"] == 0
        runs.append(out)
    for a, b in zip(*runs):
        assert np.array_equal(a.segmentation.labels, b.segmentation.labels)
        assert np.array_equal(a.composited, b.composited)
    assert any(p.segmentation.labels.any() for p in runs[0]), "the tiny model draws something"


def test_replay_model_error_turns_overlay_off_and_recovers(clip_path, segmenter):
    pipe = Pipeline(open_source(str(clip_path), max_frames=16), FailsOn(segmenter, lambda i: 5 <= i < 9),
                    annotator_for(segmenter), mode="replay")
    out = run_to_end(pipe)
    assert [p.index for p in out] == list(range(16))                   # the video never stopped
    for p in out:
        if 5 <= p.index < 9:
            assert p.overlay_off_reason == "model error: RuntimeError: boom in backend"
            assert p.segmentation is None and p.composited is p.frame
        else:
            assert p.overlay_off_reason is None and p.segmentation is not None
    kinds = [e.kind for e in pipe.events()]
    assert kinds.count("model_error") == 1 and kinds.count("model_ok") == 1
    assert pipe.counts().model_errors == 4


# ---------------------------------------------------------------- live
def test_live_slow_model_drops_frames_keeps_video_flowing_and_flags_stale(clip_path, segmenter):
    source = open_source(str(clip_path), SourceConfig(realtime=True), max_frames=48)
    stats = StatsRecorder()
    pipe = Pipeline(source, Slow(segmenter, 0.25), annotator_for(segmenter), mode="live", stale_ms=100.0,
                    stats=stats)
    out = run_to_end(pipe)
    c = pipe.counts()
    assert c.frames_in == 48
    assert c.dropped > 0 and c.inferred < c.frames_in
    assert c.frames_in - 1 <= c.inferred + c.dropped <= c.frames_in   # the last frame may be left unread
    # raw frames keep flowing at the source's rate: nearly all of them are composited
    assert c.frames_out == len(out) >= 0.8 * c.frames_in
    assert [p.index for p in out] == sorted(p.index for p in out)
    stale = [p for p in out if (p.overlay_off_reason or "").startswith("stale (")]
    assert stale, [p.overlay_off_reason for p in out]
    for p in stale:
        assert int(p.overlay_off_reason[len("stale ("):].split()[0]) > 100
        assert p.composited is p.frame
    assert out[0].overlay_off_reason == "waiting for the first mask"
    s = stats.summary()
    assert s["dropped"] == c.dropped and s["frames_inferred"] == c.inferred
    assert s["stages_ms"]["infer"]["n"] == c.inferred


def test_live_draws_older_masks_within_budget(clip_path, segmenter):
    source = open_source(str(clip_path), SourceConfig(realtime=True), max_frames=30)
    pipe = Pipeline(source, Slow(segmenter, 0.1), annotator_for(segmenter), mode="live", stale_ms=60_000.0)
    out = run_to_end(pipe)
    drawn = [p for p in out if p.segmentation is not None]
    assert drawn and all(p.overlay_off_reason is None for p in drawn)
    assert all(p.segmentation.frame_index <= p.index for p in drawn)
    assert any(p.segmentation.frame_index < p.index for p in drawn), "some frames carry an older mask"


def test_live_model_error_keeps_video_running(clip_path, segmenter):
    source = open_source(str(clip_path), SourceConfig(realtime=True), max_frames=30)
    pipe = Pipeline(source, FailsOn(segmenter, lambda i: i >= 6), annotator_for(segmenter), mode="live",
                    stale_ms=60_000.0)
    out = run_to_end(pipe)
    assert pipe.counts().frames_in == 30 and len(out) >= 24
    assert out[-1].index >= 28
    late = [p for p in out if p.index >= 12]
    assert late and all(p.overlay_off_reason.startswith("model error: RuntimeError: boom") for p in late)
    assert [e.kind for e in pipe.events()].count("model_error") == 1


def test_user_can_turn_overlay_off_and_restyle_while_running(segmenter):
    pipe = Pipeline(open_source("synthetic:128x96@60"), segmenter, annotator_for(segmenter), mode="live",
                    stale_ms=60_000.0)
    pipe.start()
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while (pipe.latest() is None or pipe.latest().segmentation is None) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pipe.latest().segmentation is not None
        pipe.set_annotator(None)
        seen = pipe.latest_index
        while pipe.latest_index <= seen + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        p = pipe.latest()
        assert p.index > seen and p.composited is p.frame and p.overlay_off_reason is None
    finally:
        assert pipe.stop(5.0)
    assert not pipe.source.running


def test_open_pipeline_from_config(clip_path, tiny_model_dir):
    cfg = replace_section(load_app_config(), "engine", backend="onnxruntime", threads=1)
    pipe = open_pipeline(str(clip_path), cfg, model=str(tiny_model_dir), mode="replay", max_frames=8)
    out = run_to_end(pipe)
    assert len(out) == 8 and pipe.mode == "replay"
    assert all(p.segmentation is not None for p in out)


def test_full_clip_replay_counts(clip_path, segmenter):
    pipe = Pipeline(open_source(str(clip_path)), segmenter, None, mode="replay")
    out = run_to_end(pipe)
    assert len(out) == CLIP_FRAMES and all(p.composited is p.frame for p in out)
    assert [e.kind for e in pipe.events()][-1] == "finished"


def test_paint_layer_is_built_on_the_compositor_thread_in_the_current_style(clip_path, segmenter):
    """The viewer's layer is made beside the burnt-in overlay, off the UI thread, for drawn frames only."""
    built_on = set()

    def layer(seg):
        built_on.add(threading.current_thread().name)
        return ("layer", seg.frame_index)

    pipe = Pipeline(open_source(str(clip_path), max_frames=6), FailsOn(segmenter, lambda i: i == 2),
                    annotator_for(segmenter), mode="replay")
    pipe.set_annotator(annotator_for(segmenter), layer)
    out = run_to_end(pipe)
    assert [p.layer for p in out if p.index != 2] == [("layer", p.index) for p in out if p.index != 2]
    assert next(p for p in out if p.index == 2).layer is None          # no mask drawn: no layer
    assert built_on and threading.main_thread().name not in built_on


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="only Linux keeps a nice value per thread")
def test_live_model_runs_nicer_than_the_video_threads(clip_path, segmenter):
    """Live, the model's thread (the watchdog's call thread included) is `model_nice` steps nicer than
    the threads that carry the picture, so a CPU short of time starves the AI, not the video."""
    seen = {}

    class Recording(FailsOn):
        def process(self, packet):
            seen.setdefault("model", os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return super().process(packet)

    def sink(packet):
        seen.setdefault("compositor", os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    source = open_source(str(clip_path), SourceConfig(realtime=True), max_frames=10)
    pipe = Pipeline(source, Recording(segmenter, lambda i: False), annotator_for(segmenter), mode="live",
                    stale_ms=60_000.0, sinks=[sink], watchdog=StallBounds(stall_s=5.0, abandon_s=10.0),
                    model_nice=min(5, 19 - base))
    run_to_end(pipe)
    assert seen == {"model": base + min(5, 19 - base), "compositor": base}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have their own nice on Linux only")
@pytest.mark.parametrize("permitted", [True, False])
def test_live_model_can_run_before_the_video_threads_or_says_why_not(clip_path, segmenter, monkeypatch, permitted):
    """A negative model_nice raises the model's thread above capture and compositor where the process
    may (CAP_SYS_NICE); where it may not, the thread stays level and one warning says so."""
    from surgical_seg.realtime import priority
    if not permitted:
        monkeypatch.setattr(priority, "set_thread_nice", lambda value: False)
    elif not priority.set_thread_nice(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())):
        pytest.skip("this process may not set its threads' nice")
    seen = {}

    class Recording(FailsOn):
        def process(self, packet):
            seen.setdefault("model", os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return super().process(packet)

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    source = open_source(str(clip_path), SourceConfig(realtime=True), max_frames=10)
    pipe = Pipeline(source, Recording(segmenter, lambda i: False), annotator_for(segmenter), mode="live",
                    stale_ms=60_000.0, model_nice=-3)
    run_to_end(pipe)
    warned = [e.message for e in pipe.events() if "model_nice" in e.message]
    if permitted and seen["model"] == base - 3:
        assert warned == []
    else:                   # not permitted (or no CAP_SYS_NICE here): level, and said once
        assert seen["model"] == base and warned == ["pipeline.model_nice -3: not permitted (needs CAP_SYS_NICE); "
                                                    "the model runs at the capture's priority"]


def test_config_refuses_a_model_nice_out_of_range(tmp_path):
    bad = tmp_path / "app.yml"
    bad.write_text("pipeline:\n  model_nice: 25\n")
    with pytest.raises(ConfigError, match=r"pipeline.model_nice must be -20..19"):
        load_app_config(str(bad))
    bad.write_text("pipeline:\n  opencv_threads: -1\n")
    with pytest.raises(ConfigError, match=r"pipeline.opencv_threads must be >= 0"):
        load_app_config(str(bad))


def test_frame_queue_keeps_capture_order_and_drops_the_oldest_when_full():
    q = FrameQueue(maxlen=3)
    for i in range(5):
        q.put(i)
    assert q.overwritten == 2
    assert [q.get(timeout=0.1) for _ in range(3)] == [2, 3, 4]
    assert q.get(timeout=0.01) is None and not q.closed
    q.put(5)
    q.close()
    assert q.get(timeout=0.01) == 5 and q.get(timeout=0.01) is None and q.closed   # drained after close
