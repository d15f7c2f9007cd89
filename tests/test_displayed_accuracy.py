"""Scoring what was displayed: hand-made truth, a real synthetic clip through bench --truth, synth --motion."""
from __future__ import annotations

import csv
import json

import av
import cv2
import numpy as np
import pytest

from surgical_seg.apps import cli
from surgical_seg.apps.bench import RunSpec, run_one
from surgical_seg.config import load_app_config, apply_overrides
from surgical_seg.evaluation.temporal import SequenceScore
from surgical_seg.data.synth import MOTION_PX_S, _camera

NAMES = ("background", "bone", "ligament", "disc")


def test_sequence_score_against_hand_made_truth():
    truth = np.array([[1, 1, 2, 2],
                      [1, 1, 2, 2],
                      [0, 0, 255, 255]], np.uint8)
    pred = np.array([[1, 1, 1, 2],
                     [1, 0, 2, 2],
                     [0, 3, 3, 3]], np.uint8)
    s = SequenceScore(NAMES)
    # bone: tp 3, fp 1 (pred 1 where truth 2), fn 1 (pred 0) -> 3/5; ligament: tp 3, fp 0, fn 1 -> 3/4;
    # disc: tp 0, fp 1 (truth 0, pred 3; the two ignore pixels are left out), fn 0 -> 0
    assert s.add(truth, pred) == pytest.approx((3 / 5 + 3 / 4 + 0) / 3)
    r = s.result()
    assert r["per_class"]["bone"]["iou"] == pytest.approx(3 / 5)
    assert r["per_class"]["ligament"]["dice"] == pytest.approx(6 / 7)
    assert r["per_class"]["disc"]["iou"] == 0.0
    assert r["miou"] == pytest.approx((3 / 5 + 3 / 4) / 3) and r["frames"] == 1


def test_off_counts_as_background_and_flicker_counts_changes_where_truth_holds():
    truth = np.array([[1, 1, 0, 0]], np.uint8)
    moved = np.array([[1, 1, 1, 0]], np.uint8)                 # the truth changes at pixel 2
    s = SequenceScore(NAMES)
    s.add(truth, truth.copy())                                  # perfect
    s.add(moved, np.array([[1, 0, 1, 0]], np.uint8))            # pixel 1 flickers, pixel 2 followed the truth
    assert s.add(truth, None) == 0.0                            # nothing drawn: bone missed entirely
    r = s.result()
    # stable pixels: frame 1->2: 0,1,3 (3); 2->3: 0,1,3 (3). changed: 1 (pixel 1); then pixel 0 (1 -> 0): 2 of 6
    assert r["flicker"] == pytest.approx(2 / 6)
    assert s.per_frame[0] == 1.0


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("moving")
    clip, labels = d / "fast.mp4", d / "labels"
    assert cli.main(["synth", "--video", str(clip), "--seconds", "1", "--fps", "20", "--size", "256x144",
                     "--seed", "5", "--motion", "fast", "--labels-dir", str(labels)]) == 0
    return clip, labels


@pytest.mark.parametrize("motion", ["slow", "medium", "fast"])
def test_motion_presets_pan_at_their_stated_peak_speed(motion):
    w, h, margin, params = 1280, 720, 0.35, np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    t = np.arange(0, 30, 1 / 240)
    x = np.array([_camera(v, params, w, h, margin, motion)[0] for v in t])
    speed = np.abs(np.diff(x)) * 240
    assert speed.max() == pytest.approx(MOTION_PX_S[motion], rel=0.02)
    assert MOTION_PX_S["slow"] < MOTION_PX_S["medium"] < MOTION_PX_S["fast"]


def test_motion_clip_is_written_with_labels(moving_clip):
    clip, labels = moving_clip
    with av.open(str(clip)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 20 == len(list(labels.glob("*.png")))


def test_bench_truth_scores_displayed_and_offline(tmp_path, moving_clip, tiny_model_dir):
    clip, labels = moving_clip
    s = run_one(RunSpec(str(clip), str(tiny_model_dir), "onnxruntime", mode="replay", truth=str(labels)),
                tmp_path, progress=False)
    a = s["accuracy"]
    assert a["frames_scored"] == 20 and a["frames_without_truth"] == 0
    for k in ("displayed", "offline"):
        assert 0.0 <= a[k]["miou"] <= 1.0 and set(a[k]["per_class"]) == {"bone", "ligament", "disc"}
        assert 0.0 <= a[k]["flicker"] <= 1.0
    # replay draws every frame with its own mask: displayed == offline, exactly
    assert a["displayed"]["miou"] == pytest.approx(a["offline"]["miou"])
    assert a["displayed_over_offline"] == pytest.approx(1.0)
    assert s["mask_source"] == {"own": 20, "warped": 0, "latest": 0, "off": 0}
    rows = list(csv.DictReader((tmp_path / "accuracy.csv").open()))
    assert [int(r["frame"]) for r in rows] == list(range(20)) and {r["mask_source"] for r in rows} == {"own"}
    assert cv2.imread(str(tmp_path / "accuracy.png")) is not None
    assert json.loads((tmp_path / "summary.json").read_text())["accuracy"]["frames_scored"] == 20


def test_bench_cli_truth_live_with_delay_records_it(tmp_path, moving_clip, tiny_model_dir, capsys):
    clip, labels = moving_clip
    rc = cli.main(["bench", str(clip), "--model", str(tiny_model_dir), "--backend", "onnxruntime", "--mode", "live",
                   "--realtime", "--truth", str(labels), "--infer-delay-ms", "60", "--set", "pipeline.warp=false",
                   "--set", "pipeline.align_ms=5", "--set", "pipeline.stale_ms=60000", "--out", str(tmp_path)])
    assert rc == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["infer_delay_ms"] == 60 and s["warp"] is False and s["align_ms"] == 5
    assert s["stages_ms"]["infer"]["p50"] >= 60                 # the delay is inside the infer span
    assert s["mask_source"]["latest"] > 0 and s["mask_source"]["warped"] == 0
    assert s["accuracy"]["frames_scored"] == s["frames_out"]
    assert "overlay age" in capsys.readouterr().out


def test_truth_and_override_errors_are_one_line(tmp_path, moving_clip, capsys):
    clip, _ = moving_clip
    assert cli.main(["bench", str(clip), "--truth", str(tmp_path / "nope")]) == 2
    assert "--truth" in capsys.readouterr().err
    assert cli.main(["bench", str(clip), "--set", "pipeline.warp=maybe"]) == 2
    assert "pipeline.warp" in capsys.readouterr().err
    assert cli.main(["bench", str(clip), "--set", "pipeline.align_ms=500"]) == 2
    assert "align_ms" in capsys.readouterr().err
    cfg = apply_overrides(load_app_config(), ["engine.upsample=bilinear", "pipeline.align_ms=20"])
    assert cfg.engine.upsample == "bilinear" and cfg.pipeline.align_ms == 20.0
