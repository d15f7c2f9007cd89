"""`surgical-seg doctor`: what this machine can run, in one report a user pastes into a bug report.

Every check is bounded: nvidia-smi and the Qt probe run in child processes with time limits,
capture devices are probed in a daemon thread that is abandoned after a few seconds, and each
backend is tried with one frame of the model (so "usable" means it ran, on the device it reports).
"""
from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..errors import SurgicalSegError
from ..modelcard import WEIGHTS_ROOT

DEVICE_PROBE_TIMEOUT_S = 4.0
REPORT_KEYS = ("surgical_seg", "python", "os", "cpu", "ram_gb", "gpus", "cuda", "backends", "capture_devices",
               "qt", "disk", "models")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def _dist_version(*names: str) -> tuple[str, str]:
    """(distribution, version) of the first installed one of `names`, or ("", "")."""
    import importlib.metadata as md
    for name in names:
        try:
            return name, md.version(name)
        except md.PackageNotFoundError:
            continue
    return "", ""


# ------------------------------------------------------------------ machine
def gpus_report() -> tuple[dict, dict]:
    from ..engine.gpuinfo import cuda_unusable_reason, nvidia_gpus
    found, why = nvidia_gpus()
    reason = cuda_unusable_reason()
    return {"found": list(found), "why_none": why}, {"usable": not reason, "why_not": reason}


def ram_gb() -> float | None:
    try:
        import psutil
        return round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:
        return None


# ------------------------------------------------------------------ backends
DISTRIBUTIONS = {"openvino": ("openvino",), "onnxruntime": ("onnxruntime-gpu", "onnxruntime"),
                 "paddle": ("paddlepaddle-gpu", "paddlepaddle")}


def backend_report(name: str, model: str | Path) -> dict[str, Any]:
    """Importable? version, compiled-in GPU kinds / providers, and a one-frame run per device."""
    from ..engine.backends import BACKENDS
    cls = BACKENDS[name]
    dist, version = _dist_version(*DISTRIBUTIONS[name])
    status = cls.availability()
    out: dict[str, Any] = {"importable": status == "ok", "distribution": dist, "version": version,
                           "error": "" if status == "ok" else status, "devices": {}}
    if status != "ok":
        return out
    if name == "onnxruntime":
        import onnxruntime as ort
        out["providers"] = list(ort.get_available_providers())
    kinds = cls.gpu_kinds()
    for device in ("cpu", *kinds):
        out["devices"][device] = one_frame(name, device, model)
    if "gpu" not in kinds:
        out["gpu_missing"] = cls.gpu_missing("gpu")
    return out


def one_frame(backend: str, device: str, model: str | Path) -> dict[str, Any]:
    """Load `model` on backend/device and segment one synthetic frame: what runs, and how long it took."""
    import numpy as np

    from ..engine import load_segmenter
    try:
        seg = load_segmenter(model, backend=backend, device=device, threads=1, precision="auto")
        frame = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
        t0 = time.perf_counter()
        labels = seg.segment(frame).labels
        ms = (time.perf_counter() - t0) * 1000
    except SurgicalSegError as e:
        return {"ok": False, "error": _first_line(e)}
    except Exception as e:            # a runtime's own crash is a finding here, not a reason to stop
        return {"ok": False, "error": f"{type(e).__name__}: {_first_line(e)}"}
    return {"ok": labels.shape == (720, 1280), "runs_on": seg.device, "precision": seg.precision,
            "precision_why": seg.precision_why,
            "frame_ms": round(ms, 1), "note": seg.backend.note or seg.backend.startup_note}


# ------------------------------------------------------------------ capture devices
def capture_devices(device_glob: str = "/dev/video*", timeout_s: float = DEVICE_PROBE_TIMEOUT_S,
                    probe: Callable[[list[int]], list] | None = None) -> dict[str, Any]:
    """Capture devices that open and give a frame; the probe is abandoned after `timeout_s`."""
    if sys.platform.startswith("linux"):
        nodes = sorted(glob.glob(device_glob))
        if not nodes:
            return {"found": [], "nodes": [], "note": f"{device_glob} matches nothing"}
        indexes = sorted({int(n.rsplit("video", 1)[1]) for n in nodes if n.rsplit("video", 1)[-1].isdigit()})
    else:
        nodes, indexes = [], list(range(5))
    if probe is None:
        from ..viewer.devices import probe_devices as probe
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["found"] = [{"index": i, "description": d} for i, d in probe(indexes)]
        except Exception as e:
            result["error"] = _first_line(e)

    t = threading.Thread(target=run, name="doctor-device-probe", daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        return {"found": [], "nodes": nodes, "note": f"probe gave no answer within {timeout_s:.0f} s (a device hangs)"}
    if "error" in result:
        return {"found": [], "nodes": nodes, "note": f"probe failed: {result['error']}"}
    found = result["found"]
    return {"found": found, "nodes": nodes,
            "note": "" if found else f"{len(nodes)} device node(s) but none gives a frame (busy, or not a camera)"}


# ------------------------------------------------------------------ Qt, disk, models
def qt_report() -> dict[str, Any]:
    from ..viewer.qtcheck import missing_libraries, packages_for, qt_platform, qt_problem
    missing = missing_libraries()
    return {"platform": qt_platform(), "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", ""),
            "missing_libraries": missing, "apt_packages": packages_for(missing), "problem": qt_problem()}


def disk_report(path: str | Path = ".") -> dict[str, Any]:
    p = Path(path).resolve()
    while not p.exists():
        p = p.parent
    usage = shutil.disk_usage(p)
    return {"path": str(p), "free_gb": round(usage.free / 2**30, 1),
            "hours_of_1080p_recording": round(usage.free / (2 * 8e6 / 8 * 3600), 1)}   # raw + overlay, ~8 Mbit/s each


def models_report(root: Path = WEIGHTS_ROOT) -> list[dict[str, Any]]:
    from ..modelcard import CARD_NAME, ModelCard
    out = []
    for folder in sorted(p for p in root.glob("*") if (p / CARD_NAME).is_file()) if root.is_dir() else []:
        entry: dict[str, Any] = {"name": folder.name, "path": str(folder)}
        try:
            card = ModelCard.load(folder, verify=False)
            entry.update(architecture=card.architecture, input=f"{card.input_width}x{card.input_height}",
                         classes=list(card.classes))
            if not card.files_sha256:
                entry["hash"] = "not stamped (python scripts/stamp_model_card.py " + str(folder) + ")"
            else:
                card.verify_files(folder)
                entry["hash"] = "ok"
        except SurgicalSegError as e:
            entry["hash"] = f"FAILED: {_first_line(e)}"
        out.append(entry)
    return out


# ------------------------------------------------------------------ report
def collect(model: str | Path = "fastscnn_spine", backends_only: bool = False, device_glob: str = "/dev/video*",
            recordings: str | Path = ".") -> dict[str, Any]:
    """The whole report as a dict (REPORT_KEYS); `backends_only` skips everything but the runtimes."""
    from ..engine.backends import BACKENDS
    report: dict[str, Any] = {"surgical_seg": __version__}
    gpus, cuda = gpus_report()
    if not backends_only:
        report.update(python={"version": platform.python_version(), "executable": sys.executable},
                      os=platform.platform(),
                      cpu={"model": platform.processor() or platform.machine(), "cores": os.cpu_count()},
                      ram_gb=ram_gb())
    report.update(gpus=gpus, cuda=cuda, backends={name: backend_report(name, model) for name in BACKENDS})
    if not backends_only:
        report.update(capture_devices=capture_devices(device_glob), qt=qt_report(), disk=disk_report(recordings),
                      models=models_report())
    return report


def format_report(r: dict[str, Any]) -> str:
    lines = [f"surgical-seg {r['surgical_seg']}"]
    if "python" in r:
        lines += [f"python {r['python']['version']} ({r['python']['executable']})", f"os {r['os']}",
                  f"cpu {r['cpu']['model']}, {r['cpu']['cores']} cores, RAM {r['ram_gb']} GB"]
    g = r["gpus"]
    lines.append("gpus " + (", ".join(f"{x['name']} (driver {x['driver']}, {x['memory_mb']} MB)" for x in g["found"])
                            or f"none: {g['why_none']}"))
    lines.append("cuda " + ("usable" if r["cuda"]["usable"] else f"not usable: {r['cuda']['why_not']}"))
    for name, b in r["backends"].items():
        if not b["importable"]:
            lines.append(f"backend {name}: not usable: {b['error']}")
            continue
        head = f"backend {name}: {b['distribution']} {b['version']}"
        if "providers" in b:
            head += f", providers {', '.join(b['providers'])}"
        lines.append(head)
        for dev, d in b["devices"].items():
            lines.append(f"  {dev}: " + (f"ok, runs on {d['runs_on']} ({d['precision']}), one frame {d['frame_ms']} ms"
                                          + (f"; precision {d['precision_why']}" if d.get("precision_why") else "")
                                          + (f"; {d['note']}" if d.get("note") else "")
                                          if d["ok"] else f"FAILED: {d.get('error', 'wrong output shape')}"))
        if b.get("gpu_missing"):
            lines.append(f"  gpu: not available: {b['gpu_missing']}")
    if "capture_devices" in r:
        c = r["capture_devices"]
        lines.append("capture devices " + (", ".join(f"{d['index']}: {d['description']}" for d in c["found"])
                                           or f"none ({c['note']})"))
        q = r["qt"]
        lines.append(f"qt platform {q['platform']}: " + (q["problem"] or "ok"))
        if q["missing_libraries"]:
            lines.append(f"  viewer system packages missing: sudo apt install {' '.join(q['apt_packages'])}")
        d = r["disk"]
        lines.append(f"disk {d['free_gb']} GB free at {d['path']} (~{d['hours_of_1080p_recording']} h of 1080p recording)")
        for m in r["models"]:
            lines.append(f"model {m['name']}: {m.get('architecture', '?')} {m.get('input', '')}, files {m['hash']}")
    return "\n".join(lines)


def main(args) -> int:
    report = collect(model=args.model, backends_only=args.backends)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


__all__ = ["collect", "format_report", "capture_devices", "backend_report", "one_frame", "qt_report",
           "disk_report", "models_report", "main", "REPORT_KEYS"]
