"""`surgical-seg doctor`: the JSON report's keys, real one-frame runs, a machine without capture devices."""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import yaml

from surgical_seg.apps import doctor
from surgical_seg.apps.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_json_report_keys_and_backends(tiny_model_dir, capsys):
    rc = main(["doctor", "--json", "--model", str(tiny_model_dir)])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r) == set(doctor.REPORT_KEYS)
    assert r["cpu"]["cores"] >= 1 and r["ram_gb"] > 0 and r["python"]["version"].count(".") == 2
    assert set(r["backends"]) == {"openvino", "onnxruntime", "paddle"}
    for name, b in r["backends"].items():
        assert b["importable"] and b["version"], name
        cpu = b["devices"]["cpu"]
        assert cpu["ok"] and cpu["runs_on"] == "cpu" and cpu["frame_ms"] > 0, (name, cpu)
    assert "CPUExecutionProvider" in r["backends"]["onnxruntime"]["providers"]
    assert isinstance(r["cuda"]["usable"], bool)
    if not r["gpus"]["found"]:                        # this project's CI: no GPU
        assert r["cuda"]["usable"] is False and r["cuda"]["why_not"]
        assert "gpu_missing" in r["backends"]["paddle"]
    assert r["disk"]["free_gb"] > 0
    shipped = {m["name"]: m for m in r["models"]}
    card = yaml.safe_load((ROOT / "weights" / "fastscnn_spine" / "model.yml").read_text())
    assert "fastscnn_spine" in shipped
    assert shipped["fastscnn_spine"]["input"] == f"{card['input_width']}x{card['input_height']}"
    assert r["qt"]["platform"] == "offscreen" and r["qt"]["problem"] == ""   # scripts/test.sh runs offscreen


def test_backends_only_is_what_setup_prints(tiny_model_dir, capsys):
    assert main(["doctor", "--backends", "--model", str(tiny_model_dir)]) == 0
    out = capsys.readouterr().out
    assert "backend openvino: openvino" in out and "  cpu: ok, runs on cpu" in out
    assert "capture devices" not in out and "qt platform" not in out


def test_machine_without_capture_devices(tmp_path):
    called = []
    c = doctor.capture_devices(device_glob=str(tmp_path / "video*"), probe=lambda idx: called.append(idx) or [])
    assert c["found"] == [] and "matches nothing" in c["note"] and called == []   # nothing opened at all
    (tmp_path / "video3").touch()                     # a node that gives no frame
    c = doctor.capture_devices(device_glob=str(tmp_path / "video*"), probe=lambda idx: called.append(idx) or [])
    assert called == [[3]] and c["found"] == [] and "none gives a frame" in c["note"]


def test_hanging_device_probe_is_abandoned(tmp_path):
    (tmp_path / "video0").touch()
    release = threading.Event()
    c = doctor.capture_devices(device_glob=str(tmp_path / "video*"), timeout_s=0.3,
                               probe=lambda idx: release.wait(30) and [])
    release.set()
    assert c["found"] == [] and "no answer within" in c["note"]


def test_model_with_changed_files_is_reported(tmp_path, tiny_model_dir):
    root = tmp_path / "weights"
    folder = shutil.copytree(tiny_model_dir, root / "m", ignore=shutil.ignore_patterns("cache"))
    assert doctor.models_report(root)[0]["hash"] == "ok"
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes()[:-1] + b"\0")
    assert doctor.models_report(root)[0]["hash"].startswith("FAILED: ") and "SHA-256" in doctor.models_report(root)[0]["hash"]


def test_no_nvidia_driver_is_explained(monkeypatch):
    from surgical_seg.engine import gpuinfo
    gpuinfo.nvidia_gpus.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        gpus, cuda = doctor.gpus_report()
    finally:
        gpuinfo.nvidia_gpus.cache_clear()
    assert gpus == {"found": [], "why_none": "no NVIDIA driver (nvidia-smi not found)"}
    assert cuda["usable"] is False and cuda["why_not"].startswith("no NVIDIA driver (nvidia-smi not found)")
