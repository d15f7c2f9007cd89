"""`surgical-seg bench`: real clips, the real tiny model; files, keys, numbers and clean user errors."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import cv2
import pytest

from surgical_seg.apps import cli
from surgical_seg.apps.bench import SUMMARY_KEYS, RunSpec, run_one

STAT_KEYS = ("mean", "p50", "p95", "p99", "max")


def check_summary(s, frames):
    for key in SUMMARY_KEYS:
        assert key in s, key
    assert s["frames_in"] == s["frames_out"] == frames
    assert set(STAT_KEYS) <= set(s["latency_ms"])
    for stage in ("capture", "preprocess", "infer", "postprocess", "composite"):
        d = s["stages_ms"][stage]
        assert set(STAT_KEYS) <= set(d) and d["n"] == frames
        assert 0 <= d["p50"] <= d["p95"] <= d["p99"] <= d["max"]
    assert s["latency_ms"]["p50"] >= s["stages_ms"]["infer"]["p50"]
    assert s["fps"] > 0 and s["engine_only_fps"] > 0
    # the machine's speed: the reads' own CPU, within what the capture stage took on the clock
    assert 0 < s["source_cpu_ms_per_frame"] <= 1.5 * s["stages_ms"]["capture"]["mean"] + 1.0
    assert s["overhead_ratio"] == pytest.approx(s["fps"] / s["engine_only_fps"])
    assert 0 < s["rss_mb"]["start"] <= s["rss_mb"]["max"] and s["rss_mb"]["end"] <= s["rss_mb"]["max"]


def test_replay_run_writes_three_files_with_the_keys(tmp_path, clip_path, tiny_model_dir):
    s = run_one(RunSpec(str(clip_path), str(tiny_model_dir), "onnxruntime", frames=24, baseline=True),
                tmp_path, progress=False)
    check_summary(s, 24)
    assert s["mode"] == "replay" and s["backend"] == "onnxruntime" and s["dropped"] == 0
    assert s["input_size"] == "128x96" and s["frame_size"] == "320x240" and s["engine_only_frames"] == 24
    assert s["baseline"]["fps"] > 0 and s["baseline"]["frames"] == 24 and s["baseline"]["backend"] == "paddle"
    assert s["speedup_vs_baseline"] == pytest.approx(s["fps"] / s["baseline"]["fps"])
    naive = s["baseline_openvino"]
    assert naive["fps"] > 0 and naive["frames"] == 24 and naive["backend"] == "openvino"
    assert naive["model_file"].endswith("model.onnx") and naive["threads"] >= 1 and naive["precision"]
    assert s["speedup_vs_openvino_loop"] == pytest.approx(s["fps"] / naive["fps"])
    assert s["precision"] == "f32" and s["precision_why"].startswith("auto: f32")      # engine.precision auto
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(s))
    rows = list(csv.DictReader((tmp_path / "frames.csv").open()))
    assert [int(r["frame"]) for r in rows] == list(range(24))
    assert all(int(r["infer_end_ns"]) > int(r["infer_start_ns"]) for r in rows)
    png = cv2.imread(str(tmp_path / "latency.png"))
    assert png is not None and png.shape[1] > 800


def test_live_run_on_synthetic_source(tmp_path, tiny_model_dir):
    s = run_one(RunSpec("synthetic:160x120@30", str(tiny_model_dir), "onnxruntime", mode="live", frames=30),
                tmp_path, progress=False)
    assert s["mode"] == "live" and s["frames_in"] == 30 and s["source_kind"] == "synthetic"
    assert s["frames_out"] + 1 >= s["frames_in"] * 0.8 and s["engine_only_frames"] > 0
    assert (tmp_path / "latency.png").is_file() and (tmp_path / "frames.csv").is_file()


def test_cli_compares_backends(tmp_path, clip_path, tiny_model_dir, capsys):
    out = tmp_path / "cmp"
    rc = cli.main(["bench", str(clip_path), "--model", str(tiny_model_dir), "--backend", "openvino",
                   "--backend", "onnxruntime", "--frames", "12", "--out", str(out)])
    assert rc == 0
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name.split("__")[-1] for p in runs] == ["onnxruntime", "openvino"]
    for run in runs:
        s = json.loads((run / "summary.json").read_text())
        check_summary(s, 12)
        assert s["backend"] == run.name.split("__")[-1]
        assert (run / "frames.csv").is_file() and (run / "latency.png").is_file()
    md = (out / "compare.md").read_text()
    assert md.count("| clip__") == 2 and "engine-only fps" in md
    assert (out / "compare.png").is_file()
    printed = capsys.readouterr().out
    assert "overlay age" in printed and "compare.md" in printed


@pytest.mark.parametrize("fixture, words", [("zero_byte_path", "empty file"), ("text_mp4_path", "cannot open"),
                                            ("empty_folder", "no images"), ("headless_truncated_path", "cannot open"),
                                            (None, "no such file")])
def test_bad_source_exits_2_with_one_line(request, tmp_path, fixture, words):
    spec = str(request.getfixturevalue(fixture)) if fixture else str(tmp_path / "nope.mp4")
    proc = subprocess.run([sys.executable, "-m", "surgical_seg", "bench", spec, "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("surgical-seg bench: error: ") and words in lines[0] and spec in lines[0]


def test_bad_options_exit_2(tmp_path, clip_path, tiny_model_dir):
    for extra, words in ((["--frames", "0"], "--frames must be > 0"), (["--model", str(tmp_path / "m")], "not found"),
                         (["--model", str(tmp_path)], "missing model card"),
                         (["--backend", "tensorflow", "--model", str(tiny_model_dir)],
                          "argument --backend: invalid choice: 'tensorflow'")):
        proc = subprocess.run([sys.executable, "-m", "surgical_seg", "bench", str(clip_path), *extra],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr


def test_truncated_source_is_benchmarked_up_to_the_break(tmp_path, truncated_clip_path, tiny_model_dir):
    s = run_one(RunSpec(str(truncated_clip_path), str(tiny_model_dir), "onnxruntime"), tmp_path, progress=False)
    assert 0 < s["frames_out"] == s["frames_in"] < 72
    assert any(f"truncated at frame {s['frames_in']} / t=" in e for e in s["events"])


def test_seconds_limit_ends_an_endless_source(tmp_path, tiny_model_dir):
    s = run_one(RunSpec("synthetic:96x64@30", str(tiny_model_dir), "onnxruntime", mode="live", seconds=0.6),
                tmp_path, progress=False)
    assert s["frames_out"] > 0 and s["frames_in"] < 300
