"""scripts/update_docs.py: README blocks and model cards written from measured JSON, never by hand."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from fixtures_scripts import load_script


@pytest.fixture(scope="module")
def ud():
    return load_script("update_docs")


def bench_summary(**kw):
    s = {"source": "clip.mp4", "mode": "live", "backend": "openvino", "fps": 29.97, "frames_out": 300,
         "align_ms": 25.0, "warp": True, "infer_delay_ms": 0.0, "smoothing": 0.0, "engine_only_fps": 90.0,
         "overlay_age_ms": {"p50": 17.26, "p95": 24.04}, "video_latency_ms": {"p95": 21.5},
         "stages_ms": {"infer": {"p50": 10.123}}, "mask_source": {"own": 291, "warped": 6, "latest": 0, "off": 3},
         "accuracy": {"displayed": {"miou": 0.61, "flicker": 0.02}, "offline": {"miou": 0.62, "flicker": 0.021},
                      "displayed_over_offline": 0.9839},
         "command": "surgical-seg bench clip.mp4 --mode live", "events": ["[source] opened: x"]}
    s.update(kw)
    return s


def test_record_rewrite_and_check(ud, tmp_path, monkeypatch):
    monkeypatch.setattr(ud, "MEASURED", tmp_path / "measured")
    (tmp_path / "summary.json").write_text(json.dumps(bench_summary()))
    kept = ud.record("run_a", str(tmp_path / "summary.json"))
    assert "events" not in json.loads(kept.read_text())                  # per-frame/run noise left out
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- figures:overlay files=run_a -->\nold figures\n<!-- /figures:overlay -->\n"
                      "<!-- figures:commands files=run_a -->\n<!-- /figures:commands -->\nend\n")
    assert ud.main(["--page", str(readme), "--check"]) == 1
    assert ud.main(["--page", str(readme)]) == 0
    text = readme.read_text()
    assert "old figures" not in text and text.startswith("intro\n") and text.endswith("end\n")
    row = [ln for ln in text.splitlines() if ln.startswith("| run_a |")][0]
    assert "| live | 25 | on |" in row and "| 90.0 |" in row
    assert "17.3 / **24.0**" in row and "| 97 |" in row and "6 / 0 / 3" in row and "0.984" in row
    assert "surgical-seg bench clip.mp4 --mode live   # run_a" in text
    assert ud.main(["--page", str(readme), "--check"]) == 0          # idempotent
    readme.write_text(text.replace("<!-- figures:overlay", "<!-- figures:nosuch").replace("/figures:overlay",
                                                                                           "/figures:nosuch"))
    with pytest.raises(SystemExit, match="no renderer"):
        ud.main(["--page", str(readme)])


def test_eval_table_matches_the_readme_layout(ud, tmp_path):
    e = {"per_class": {"bone": {"accuracy": 0.9449, "precision": 0.8679, "recall": 0.9005, "iou": 0.7919,
                                "dice": 0.8839, "auc": 0.98383}},
         "mean": {"accuracy": 0.9449, "precision": 0.8679, "recall": 0.9005, "iou": 0.7919, "dice": 0.8839,
                  "auc": 0.98383}}
    (tmp_path / "e.json").write_text(json.dumps(e))
    out = ud.render_eval(str(tmp_path / "e.json"))
    assert "| bone | 94.5 | 86.8 | 90.0 | 79.2 | 88.4 | 0.984 |" in out
    assert "| **mean** | 94.5 | 86.8 | 90.0 | **79.2** | **88.4** | 0.984 |" in out


def test_model_card_speed_and_metrics(ud, tmp_path, tiny_model_dir):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (tmp_path / "s.json").write_text(json.dumps(bench_summary()))
    ev = {"data": "d", "split": "test", "num_images": 3, "pixel_accuracy": 0.9,
          "mean": {"iou": 0.5}, "per_class": {"bone": {"iou": 0.5}}}
    (tmp_path / "e.json").write_text(json.dumps(ev))
    assert ud.main(["--card", str(model), "--eval", str(tmp_path / "e.json"), "--bench", str(tmp_path / "s.json")]) == 0
    card = yaml.safe_load((model / "model.yml").read_text())
    live = card["speed"]["openvino_live"]
    assert live["overlay_age_ms_p95"] == 24.0 and live["video_latency_ms_p95"] == 21.5
    assert live["mask_source"]["own"] == 291 and live["displayed_miou"] == 0.61
    assert card["metrics"]["num_images"] == 3 and card["metrics"]["mean"]["iou"] == 0.5


def test_soak_and_kill9_blocks_summarise_by_fault_kind(ud, tmp_path):
    drop = {"kind": "drop", "at_s": 60, "length_s": 5, "detected_ms": 95.0, "detected_as": "source frozen (108 ms)",
            "frozen_after_last_frame_ms": 104.0, "recovered_ms": 180.0}
    soak = {"duration_s": 1800.0, "source": "udp://x", "backend": "openvino", "model": "m", "machine_load": [1.2, 1, 1],
            "command": "surgical-seg soak --minutes 30",
            "occurrences": [drop, {**drop, "at_s": 120, "detected_ms": 120.0, "recovered_ms": 2900.0},
                            {**drop, "at_s": 180, "detected_ms": None, "detected_as": None, "recovered_ms": None,
                             "frozen_after_last_frame_ms": None},
                            {"kind": "hang", "at_s": 450, "detected_ms": 151.0, "recovered_from": "fault start",
                             "detected_as": "model stalled: call running 150 ms", "recovered_ms": 2300.0}],
            "rss_mb": {"after_warmup": 380.0, "end": 392.5, "growth": 12.5},
            "ui": {"ticks": 180000, "max_stall_after_5s_ms": 41.7, "stall_histogram_ms": {"<16": 179990, "<100": 3}},
            "longest_stalls": [{"ui": ["app.py:385 _poll", "layer.py:37 build"], "others": [],
                                "ui_thread": {"on_cpu_ms": 12.25, "runnable_waiting_ms": 20.0}}],
            "overlay_on_frozen_frame": 0, "overlay_paints": 53000, "leaked_threads": {"inference": 0, "capture": 1},
            "freezes_outside_drops": 2}
    (tmp_path / "soak.json").write_text(json.dumps(soak))
    text = ud.render_soak(str(tmp_path / "soak.json"))
    assert "| drop | 3 (1 not detected) | 95 / 120 / 120 | source frozen | 104 / 104 / 104 | 180 / 2900 / 2900 |" in text
    assert "| hang | 1 | 151 / 151 / 151 | model stalled |" in text
    assert "**+12.5 MB**" in text and "**41.7 ms**" in text and "`layer.py:37 build`" in text
    assert "it ran 12.2 ms and waited 20.0 ms for a CPU" in text
    assert "3 of 180000 heartbeats" in text and "Threads left stuck: 1" in text
    assert "RSS 380 MB after the first minute, 392 MB at the end" in text          # an older soak.json
    assert "CPU steal" not in text
    soak["rss_mb"] = {"after_warmup": 351.0, "end": 362.5, "growth": 11.5, "window_s": 60.0}
    soak["cpu_steal_s"] = 2.34
    soak["longest_stalls"][0]["ui_thread"]["vm_steal_ms"] = 40.0
    (tmp_path / "soak.json").write_text(json.dumps(soak))
    text = ud.render_soak(str(tmp_path / "soak.json"))
    assert "RSS (medians of 5 s samples) 351 MB over 60\u2013120 s, 362 MB over the last 60 s (**+11.5 MB**" in text
    assert "load average at the end 1.2, CPU steal 2.3 s." in text
    assert "waited 20.0 ms for a CPU, and the hypervisor took 40 ms of CPU time)" in text
    kill = {"command": "scripts/kill9_recording.py --runs 2", "runs": 2, "passed": 2, "lost_frames_max": 7,
            "lost_frames_mean": 4.5, "results": [
                {"killed_after_s": 2.5, "csv_rows": 60, "torn_lines": 0, "lost_frames": 2},
                {"killed_after_s": 9.1, "csv_rows": 250, "torn_lines": 1, "lost_frames": 7}]}
    (tmp_path / "kill9.json").write_text(json.dumps(kill))
    text = ud.render_kill9(str(tmp_path / "kill9.json"))
    assert "**2/2 runs**" in text and "torn last lines: 1" in text and "2.5–9.1 s with 60–250 CSV rows" in text
    assert "minus 2–7 frames (mean 4.5" in text


def test_video_suite_table_and_targets_per_model(ud, tmp_path):
    def clip(name, miou, frame, spur, present=("bone", "ligament", "disc")):
        per = {"bone": 0.9, "ligament": 0.8, "disc": None if "disc" not in present else 0.7}
        return {"clip": f"{name}.mp4", "size": [1280, 720], "fps": 30.0, "frames": 180, "miou": miou,
                "frame_miou": frame, "spurious_share": spur, "per_class": per, "present": list(present),
                "worst": [{"frame": 7, "miou": 0.31, "spurious_pixels": 10}]}
    run = {"model": "weights/m", "backend": "openvino", "precision": "f32", "smoothing": 0.5, "upsample": "bilinear",
           "classes": ["background", "bone", "ligament", "disc"],
           "clips": [clip("a", 0.85, 0.8, 0.001), clip("b", 0.78, 0.7, 0.0062, ("bone", "ligament"))]}
    (tmp_path / "v.json").write_text(json.dumps(run))
    text = ud.render_video(str(tmp_path / "v.json"), labels="shipped", targets="miou:80,frame:75,spurious:0.5")
    assert "| shipped | `a` | 1280×720 | 30 | 180 | **85.0** | 90.0 | 80.0 | 70.0 | **80.0** | 31.0 | 0.10 % |" in text
    assert "| shipped | `b` | 1280×720 | 30 | 180 | **78.0** | 90.0 | 80.0 | – | **70.0** | 31.0 | 0.62 % |" in text
    assert ("Targets, shipped, every clip: mIoU over classes present ≥ 80: worst 78.0, **not met** (1 of 2 clips); "
            "mean per-frame mIoU ≥ 75: worst 70.0, **not met** (1 of 2 clips); spurious share ≤ 0.5 %: highest "
            "0.62 %, **not met** (1 of 2 clips).") in text


def test_selection_applies_the_rule_fixed_before_held_out_data(ud, tmp_path):
    """Stills floor and instrument ceiling first, then the highest mean clip mIoU; ineligible rows say so."""
    def stills(name, miou, share):
        (tmp_path / f"s_{name}.json").write_text(json.dumps({"mean": {"iou": miou}, "instruments": {"labelled_share": share}}))
        return str(tmp_path / f"s_{name}.json")

    def clips(name, *mious):
        (tmp_path / f"c_{name}.json").write_text(json.dumps({"clips": [{"clip": f"v{i}.mp4", "miou": m}
                                                                       for i, m in enumerate(mious)]}))
        return str(tmp_path / f"c_{name}.json")
    rows = [("base", 0.8408, 0.011, (0.80, 0.84)), ("best_clips_low_stills", 0.8370, 0.010, (0.95, 0.95)),
            ("too_many_tools", 0.8500, 0.025, (0.90, 0.90)), ("good", 0.8390, 0.012, (0.85, 0.86))]
    text = ud.render_selection(",".join(stills(n, m, s) for n, m, s, _ in rows),
                               ",".join(clips(n, *c) for n, _, _, c in rows), labels=",".join(r[0] for r in rows),
                               floor="0.8378", tools="2")
    assert "| `v0` | `v1` | mean clip mIoU | rule |" in text
    assert "| base | 0.8408 | 1.10 % | 0.800 | 0.840 | 0.8200 | eligible |" in text
    assert "| best_clips_low_stills | 0.8370 | 1.00 % | 0.950 | 0.950 | 0.9500 | out |" in text
    assert "| too_many_tools | 0.8500 | 2.50 % | 0.900 | 0.900 | 0.9000 | out |" in text
    assert "| good | 0.8390 | 1.20 % | 0.850 | 0.860 | 0.8550 | **picked** |" in text
    assert text.rstrip().endswith("picked: good.")
