"""The privacy gate: fail closed, hysteresis, look-ahead, blanked frames to every sink, faults."""
from __future__ import annotations

import csv
import threading
import time

import av
import numpy as np
import pytest

from surgical_seg.config import AppConfig, PipelineConfig, PrivacyConfig, SourceConfig
from surgical_seg.packet import FramePacket
from surgical_seg.realtime.privacy import Decider, PrivacyGate, blank_like, decide_offline

DT = 33_000_000


def outs(decisions):
    return {d.index for d in decisions if d.out}


def test_decider_fails_closed_holds_out_for_in_body_ms_and_looks_ahead():
    scores = [None] + [0.1] * 9 + [0.9, 0.9] + [0.1] * 18      # frame 0 never scored; 10-11 out
    items = [(i, i * 10.0, s, None, None) for i, s in enumerate(scores)]
    no_delay = decide_offline(items, 0.5, in_body_ms=50, delay_ms=0)
    assert [d.index for d in no_delay] == list(range(30))
    assert outs(no_delay) == set(range(0, 6)) | set(range(10, 17))    # back in only after 50 ms in-body
    assert no_delay[0].why == "not scored" and no_delay[3].why == "hysteresis" and no_delay[10].why == "classifier"
    delayed = decide_offline(items, 0.5, in_body_ms=50, delay_ms=30)
    assert outs(delayed) == set(range(0, 6)) | set(range(7, 17))      # 7-9: just before the withdrawal
    assert delayed[8].why == "before withdrawal"


def test_a_rule_can_only_blank_and_a_failed_score_is_out():
    d = Decider(0.5, in_body_ms=0, delay_ms=0)
    got = d.push(0, 0, 0.01) + d.push(1, 10, 0.01, rule="corner_luma 90 outside") + d.push(2, 20, 0.01) \
        + d.push(3, 30, None, None, "scoring failed") + d.push(4, 40, 0.01) + d.flush()
    assert [x.out for x in got] == [False, True, False, True, False]
    assert got[1].why.startswith("rule: ") and got[3].why == "scoring failed"


def test_at_stop_frames_whose_look_ahead_was_cut_short_go_out():
    items = [(i, i * 10.0, 0.1, None, None) for i in range(20)]
    d = Decider(0.5, in_body_ms=0, delay_ms=30)
    got = [x for item in items for x in d.push(*item)]
    ended = d.flush()
    assert not any(x.out for x in got + ended)               # a source that ended: its end is the end
    d = Decider(0.5, in_body_ms=0, delay_ms=30)
    got = [x for item in items for x in d.push(*item)] + d.flush(cut=True)
    assert [x.index for x in got if x.out] == [17, 18, 19] and got[-1].why == "not final at stop"


def test_blank_frame_is_solid_with_a_small_marker():
    b = blank_like(np.zeros((720, 1280, 3), np.uint8))
    assert b.shape == (720, 1280, 3) and not b.flags.writeable
    assert np.median(b) == 24 and (b > 100).mean() < 0.01 and (b > 100).any()


class ByBrightness:
    """Bright frames are 'out of the body' (a stand-in classifier)."""
    def score(self, frame):
        return (1.0 if frame.mean() > 128 else 0.0), None


class Raises:
    def score(self, frame):
        raise RuntimeError("classifier exploded")


class Hangs:
    def __init__(self):
        self.release = threading.Event()

    def score(self, frame):
        self.release.wait(30)
        return 0.0, None


def _feed(gate, brightness):
    emitted = []
    gate.emit = emitted.append
    t0 = time.perf_counter_ns()
    frames = []
    for i, v in enumerate(brightness):
        frame = np.full((72, 128, 3), v, np.uint8)
        frames.append(frame)
        gate.submit(FramePacket(i, frame, t0 + i * DT))
    gate.flush(wait_s=10)
    return emitted, frames


def test_gate_blanks_out_of_body_frames_for_every_sink_with_index_and_time_kept():
    gate = PrivacyGate(ByBrightness(), threshold=0.5, in_body_ms=100, writer_delay_ms=100,
                       score_timeout_ms=5000).start()
    try:
        bright = [40] * 20 + [200] * 10 + [40] * 20
        emitted, frames = _feed(gate, bright)
    finally:
        gate.stop()
    assert [p.index for p in emitted] == list(range(50))
    out = {p.index for p in emitted if p.privacy == "out"}
    # the start (out until 100 ms of in-body frames: 0-3); 100 ms before the withdrawal (3 frames at 33 ms),
    # the withdrawal, and 100 ms of hysteresis after it (frames 30-33)
    assert out == set(range(0, 4)) | set(range(17, 34))
    for p in emitted:
        if p.privacy == "out":
            assert p.frame is blank_like(frames[p.index]) and p.composited is p.frame and p.segmentation is None
        else:
            assert p.frame is frames[p.index]
        assert p.t_capture_ns == emitted[0].t_capture_ns + p.index * DT
    assert gate.verdict(25).out and not gate.verdict(5).out


@pytest.mark.parametrize("scorer_kind", ["raises", "hangs"])
def test_fault_injection_blanks_every_frame_and_says_why(scorer_kind):
    scorer = Raises() if scorer_kind == "raises" else Hangs()
    gate = PrivacyGate(scorer, threshold=0.5, in_body_ms=100, writer_delay_ms=100, score_timeout_ms=50).start()
    try:
        emitted, _ = _feed(gate, [40] * 40)                       # all in-body pictures
        assert len(emitted) == 40 and all(p.privacy == "out" for p in emitted)
        out, why = gate.live_state()
        assert out and why.startswith("gate error: RuntimeError: classifier exploded" if scorer_kind == "raises"
                                      else "gate not answering")
    finally:
        if scorer_kind == "hangs":
            scorer.release.set()
        gate.stop()


class InBody:
    def __init__(self, delay_s=0.0):
        self.delay_s = delay_s

    def score(self, frame):
        time.sleep(self.delay_s)
        return 0.0, None


@pytest.mark.parametrize("scorer,written", [(InBody(), True), (InBody(delay_s=0.3), False), (Raises(), False)])
def test_predict_counts_a_late_or_failed_score_as_out_of_the_body(tmp_path, monkeypatch, withdrawn_clip,
                                                                   tiny_model_dir, scorer, written):
    """privacy.score_timeout_ms (200 ms) holds in predict too: a scorer that always says in-body but
    answers in 300 ms, or raises, lets no frame through; the same scorer answering at once lets them in."""
    from surgical_seg.apps.predict import run_predict
    from surgical_seg.engine import oob
    monkeypatch.setattr(oob, "load_scorer", lambda *a, **k: scorer)
    clip, _ = withdrawn_clip
    run_predict([str(clip)], str(tiny_model_dir), tmp_path / "ds", every=10, workers=1, progress=False)
    assert bool(list((tmp_path / "ds" / "images").glob("*.png"))) is written


def test_bounded_scorer_fails_closed_while_hung_and_answers_again_after():
    from surgical_seg.realtime.privacy import BoundedScorer
    hangs = Hangs()
    b = BoundedScorer(hangs, timeout_ms=50)
    frame = np.zeros((8, 8, 3), np.uint8)
    assert b.score(frame) == (None, None, "not scored within 50 ms")
    t0 = time.perf_counter()
    assert b.score(frame) == (None, None, "not scored (gate hung)") and time.perf_counter() - t0 < 0.05
    hangs.release.set()
    time.sleep(0.05)
    assert b.score(frame) == (0.0, None, None)
    assert BoundedScorer(Raises(), 1000).score(frame) == (None, None, "scoring failed: RuntimeError")
    b.close()


@pytest.fixture(scope="module")
def withdrawn_clip(tmp_path_factory):
    from surgical_seg.data import synth_clips, theatre
    path = tmp_path_factory.mktemp("oob") / "withdrawn.mp4"
    synth_clips.write_video(path, seconds=4, fps=30, size=(320, 180), seed=3, out_of_body="1:1.5")
    return path, theatre.read_truth(theatre.truth_path(path))


def _is_blank(bgr):
    return float(np.abs(bgr.astype(np.int16) - blank_like(bgr).astype(np.int16)).mean()) < 6


def test_recording_through_the_pipeline_shows_no_out_of_body_frame(tmp_path, withdrawn_clip, tiny_model_dir):
    from surgical_seg.engine import load_segmenter
    from surgical_seg.realtime.overlay import MaskAnnotator
    from surgical_seg.realtime.pipeline import Pipeline
    from surgical_seg.realtime.privacy import gate_from_config
    from surgical_seg.sources import open_source
    from surgical_seg.viewer.recorder import Recorder
    clip, truth = withdrawn_clip
    seg = load_segmenter(str(tiny_model_dir))
    rec = Recorder(tmp_path / "rec", fps=30).start()
    pipe = Pipeline(open_source(str(clip), SourceConfig(realtime=True)), seg,
                    MaskAnnotator(seg.card.colors_rgb, opacity=0.9), mode="live", stale_ms=5000, sinks=[rec.submit],
                    privacy=gate_from_config(AppConfig()))
    pipe.start()
    assert pipe.wait(60)
    pipe.stop()
    assert rec.stop(timeout=60) and rec.error is None
    rows = list(csv.DictReader(rec.paths[2].open()))
    idx = [int(r["frame_index"]) for r in rows]
    assert len(idx) >= 0.9 * len(truth)
    for path in rec.paths[:2]:
        with av.open(str(path)) as c:
            frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
        assert len(frames) == len(rows)
        shown_out = [i for i, f in zip(idx, frames) if truth[i] and not _is_blank(f)]
        assert shown_out == []                                     # 0 out-of-body frames visible
    privacy = {int(r["frame_index"]): r["privacy"] for r in rows}
    assert all(privacy[i] == "out" for i in idx if truth[i])
    from surgical_seg.apps.gate_eval import away_from_transitions
    away = away_from_transitions(truth)
    wrong = [i for i in idx if away[i] and privacy[i] == "out"]
    assert len(wrong) <= 0.05 * away.sum()
    assert all(r["oob_score"] != "" for r in rows if r["privacy"] == "in")


def test_predict_writes_no_out_of_body_frame(tmp_path, withdrawn_clip, tiny_model_dir):
    import json
    from surgical_seg.apps.predict import run_predict
    clip, truth = withdrawn_clip
    out = tmp_path / "ds"
    run_predict([str(clip)], str(tiny_model_dir), out, every=1, workers=0, progress=False,
                labelstudio=out / "tasks.json")
    written = sorted(int(p.stem.rsplit("_", 1)[1]) for p in (out / "images").glob("*.png"))
    assert written and not any(truth[i] for i in written)
    assert len(list((out / "labels").glob("*.png"))) == len(written)
    tasks = json.loads((out / "tasks.json").read_text())
    assert len(tasks) == len(written)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["videos"][0]["sampled_out_of_body"] >= truth.sum()


def test_viewer_fails_closed_without_a_gate_model_and_the_live_view_goes_on(qtbot, tmp_path, monkeypatch,
                                                                           tiny_model_dir, withdrawn_clip):
    from surgical_seg.engine import load_segmenter
    from surgical_seg.viewer.app import MainWindow
    from surgical_seg.viewer.settings import ENV_VAR
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "viewer.ini"))
    clip, _ = withdrawn_clip
    cfg = AppConfig(pipeline=PipelineConfig(stale_ms=5000.0), privacy=PrivacyConfig(model=str(tmp_path / "nothing")))
    win = MainWindow(cfg, load_segmenter(str(tiny_model_dir)), str(clip), record_dir=str(tmp_path / "recs"))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.pipeline is not None and win.current is not None, timeout=20_000)
    win.record_button.setChecked(True)
    first = win.current.index
    qtbot.waitUntil(lambda: win.current.index > first + 30, timeout=20_000)   # the live view goes on
    assert not _is_blank(win.current.frame)                                   # the surgeon keeps the picture
    qtbot.waitUntil(lambda: "OUT OF BODY — recording blanked (gate error: RuntimeError" in win.hud.text(),
                    timeout=5_000)
    assert "AI OVERLAY OFF — out of body" in win.hud.text()
    rec = win.recorder
    win.set_recording(False)
    assert rec.stop(timeout=30) and rec.written > 10
    rows = list(csv.DictReader(rec.paths[2].open()))
    assert {r["privacy"] for r in rows} == {"out"}
    with av.open(str(rec.paths[0])) as c:
        assert all(_is_blank(f.to_ndarray(format="bgr24")) for f in c.decode(video=0))


def test_screen_blanks_only_when_asked_and_snapshots_wait_for_an_in_body_verdict():
    from surgical_seg.viewer.privacy_view import screen_frame, snapshot_allowed
    frame = np.full((72, 128, 3), 90, np.uint8)
    p = FramePacket(3, frame, 0)
    p.overlay_off_reason = "out of body"
    assert screen_frame(p, AppConfig()) is frame                           # the surgeon keeps the picture
    teaching = AppConfig(privacy=PrivacyConfig(blank_screen=True))
    assert screen_frame(p, teaching) is blank_like(frame)
    gate = PrivacyGate(ByBrightness(), in_body_ms=0, writer_delay_ms=0, score_timeout_ms=5000).start()
    try:
        _feed(gate, [40, 40, 200, 40])
        assert snapshot_allowed(gate, 1) and not snapshot_allowed(gate, 2)
        assert not snapshot_allowed(gate, 99, cfg_wait_s=0.05)             # never decided: not written
    finally:
        gate.stop()
    assert snapshot_allowed(None, 5)                                       # gate off (privacy.enabled false)


@pytest.mark.parametrize("how", ["rec off", "window closed"])
def test_a_recording_holds_every_frame_captured_while_rec_was_on(qtbot, tmp_path, monkeypatch, tiny_model_dir,
                                                                  withdrawn_clip, how):
    """The gate hands frames on writer_delay_ms late: the recorder still takes the frames it held at REC
    off (or at close), so raw.mp4, overlay.mp4 and frames.csv hold every frame composited while REC was on."""
    from surgical_seg.engine import load_segmenter
    from surgical_seg.viewer.app import MainWindow
    from surgical_seg.viewer.settings import ENV_VAR
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "viewer.ini"))
    clip, _ = withdrawn_clip
    win = MainWindow(AppConfig(pipeline=PipelineConfig(stale_ms=5000.0)), load_segmenter(str(tiny_model_dir)),
                     str(clip), record_dir=str(tmp_path / "recs"))
    if how == "rec off":
        qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.pipeline is not None and win.current is not None, timeout=20_000)
    pipe = win.pipeline
    win.record_button.setChecked(True)
    rec = win.recorder
    qtbot.waitUntil(lambda: rec.written >= 20, timeout=20_000)
    newest = pipe.latest_index                       # REC goes off at this frame or a later one
    if how == "rec off":
        win.record_button.setChecked(False)
    else:
        win.close()                                  # REC off, then the pipeline stops and its gate flushes
    qtbot.waitUntil(lambda: not rec.running, timeout=20_000)     # it stops itself after its last frame
    assert rec.error is None
    rows = list(csv.DictReader(rec.paths[2].open()))
    idx = [int(r["frame_index"]) for r in rows]
    composited = [r.index for r in pipe.stats.rows() if "composite" in r.spans and idx[0] <= r.index <= idx[-1]]
    assert idx == composited                                  # no frame of the span missing, none twice
    assert idx[-1] >= newest                                  # the last writer_delay_ms of frames are in
    if how == "window closed":                                # at stop their look-ahead was cut: blanked
        assert rows[-1]["privacy"] == "out"
    for path in rec.paths[:2]:
        with av.open(str(path)) as c:
            assert sum(1 for _ in c.decode(video=0)) == len(rows)


def test_fill_frame_shows_the_scope_image_without_its_dark_ring():
    from surgical_seg.apps.gate_eval import fill_frame
    from surgical_seg.data.synth import render_sample
    from surgical_seg.engine.oob import features, thumbnail
    for seed in range(5):
        img = render_sample(seed, (320, 180))[0]
        assert features(thumbnail(img))["corner_luma"] < 10                 # the ring
        filled = fill_frame(img)
        assert filled.shape == img.shape and features(thumbnail(filled))["corner_luma"] > 25
