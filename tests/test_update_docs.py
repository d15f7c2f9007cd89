"""scripts/update_docs.py: README blocks and model cards written from measured JSON, never by hand."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ud():
    spec = importlib.util.spec_from_file_location("update_docs", ROOT / "scripts" / "update_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
    assert ud.main(["--readme", str(readme), "--check"]) == 1
    assert ud.main(["--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old figures" not in text and text.startswith("intro\n") and text.endswith("end\n")
    row = [ln for ln in text.splitlines() if ln.startswith("| run_a |")][0]
    assert "| live | 25 | on |" in row and "| 90.0 |" in row
    assert "17.3 / **24.0**" in row and "| 97 |" in row and "6 / 0 / 3" in row and "0.984" in row
    assert "surgical-seg bench clip.mp4 --mode live   # run_a" in text
    assert ud.main(["--readme", str(readme), "--check"]) == 0          # idempotent
    readme.write_text(text.replace("<!-- figures:overlay", "<!-- figures:nosuch").replace("/figures:overlay",
                                                                                           "/figures:nosuch"))
    with pytest.raises(SystemExit, match="no renderer"):
        ud.main(["--readme", str(readme)])


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
