"""Measure the privacy gate's done-when figures into docs/measured/privacy.json (a developer tool).

    PYTHONPATH=$PWD .venv/bin/python scripts/privacy_check.py CLIP_WITH_TRUTH... [--tmpfs /mnt/six_mb]

For each clip (with VIDEO.oob.csv truth): gate-eval figures; a live, real-time pipeline with the gate
recording raw.mp4 + overlay.mp4 (out-of-body frames visible in them, tags left in them); the gate's
verdict for a snapshot of every out-of-body frame; `predict --every 1` (out-of-body frames in images/
and tasks). Then the gate's thread CPU per 1080p frame, fault injection (classifier raises / hangs), and
with --tmpfs a viewer recording onto a small tmpfs (HUD text and colour, painted fps before/after).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def is_blank(bgr):
    from surgical_seg.realtime.privacy import blank_like
    return float(np.abs(bgr.astype(np.int16) - blank_like(bgr).astype(np.int16)).mean()) < 6


def record_clip(clip: str, work: Path) -> dict:
    from surgical_seg.config import AppConfig, SourceConfig, load_app_config
    from surgical_seg.data import theatre
    from surgical_seg.engine import load_segmenter
    from surgical_seg.realtime.overlay import MaskAnnotator
    from surgical_seg.realtime.pipeline import Pipeline
    from surgical_seg.realtime.privacy import gate_from_config
    from surgical_seg.sources import open_source
    from surgical_seg.viewer.recorder import Recorder
    cfg = load_app_config()
    truth = theatre.read_truth(theatre.truth_path(clip))
    seg = load_segmenter(cfg.engine.model)
    rec = Recorder(work / "rec", fps=30).start()
    gate = gate_from_config(cfg)
    ann = MaskAnnotator(seg.card.colors_rgb, opacity=0.6)

    def sink(p):                                  # what the viewer records: raw + the overlay burnt in
        over = ann.annotate(p.frame, p.segmentation) if p.segmentation is not None else p.composited
        rec.submit(p, over)
    pipe = Pipeline(open_source(clip, SourceConfig(realtime=True)), seg, ann, mode="live", stale_ms=5000,
                    sinks=[sink], privacy=gate, burn_in=False)
    pipe.start()
    pipe.wait(600)
    pipe.stop()
    rec.stop(timeout=120)
    rows = list(csv.DictReader(rec.paths[2].open()))
    idx = [int(r["frame_index"]) for r in rows]
    res = {"frames_recorded": len(rows), "recorder_error": rec.error}
    for path in rec.paths[:2]:
        with av.open(str(path)) as c:
            tags = {**c.metadata, **c.streams.video[0].metadata}
            frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
        res[path.name] = {"frames": len(frames),
                          "out_of_body_frames": int(sum(truth[i] for i in idx)),
                          "out_of_body_visible": int(sum(1 for i, f in zip(idx, frames) if truth[i] and not is_blank(f))),
                          "tags": sorted(tags), "creation_time": "creation_time" in tags}
    verdicts = [gate.verdict(i) for i in range(len(truth)) if truth[i]]
    res["snapshots_of_out_of_body_frames_allowed"] = int(sum(1 for d in verdicts if d is not None and not d.out))
    res["snapshot_verdicts_known"] = int(sum(d is not None for d in verdicts))
    from surgical_seg.apps.gate_eval import away_from_transitions
    away = away_from_transitions(truth)
    priv = {int(r["frame_index"]): r["privacy"] for r in rows}
    counted = [i for i in idx if away[i]]
    res["in_body_blanked_in_recording"] = round(sum(priv[i] == "out" for i in counted) / max(1, len(counted)), 5)
    return res


def predict_clip(clip: str, work: Path) -> dict:
    from surgical_seg.apps.predict import run_predict
    from surgical_seg.data import theatre
    truth = theatre.read_truth(theatre.truth_path(clip))
    out = work / "ds"
    run_predict([clip], "fastscnn_spine", out, every=1, workers=0, progress=False, labelstudio=out / "tasks.json")
    written = [int(p.stem.rsplit("_", 1)[1]) for p in (out / "images").glob("*.png")]
    tasks = json.loads((out / "tasks.json").read_text())
    task_frames = [t["data"]["frame"] if "frame" in t.get("data", {}) else None for t in tasks]
    return {"images": len(written), "out_of_body_images": int(sum(truth[i] for i in written)),
            "tasks": len(tasks), "out_of_body_tasks": int(sum(truth[i] for i in task_frames if i is not None)),
            "labels": len(list((out / "labels").glob("*.png")))}


def gate_cpu_1080p(n: int = 300) -> dict:
    import cv2
    from surgical_seg.config import load_app_config
    from surgical_seg.data.synth import render_frame
    from surgical_seg.realtime.privacy import gate_from_config
    from surgical_seg.packet import FramePacket
    frame = cv2.resize(render_frame(1, (640, 360))[0], (1920, 1080))
    gate = gate_from_config(load_app_config())
    gate.emit = lambda p: None
    t0 = time.perf_counter_ns()
    for i in range(n):
        gate.submit(FramePacket(i, frame, time.perf_counter_ns()))     # a real capture time
        time.sleep(1 / 60)
    gate.flush(5)
    gate.stop()
    return {"frames": n, "size": "1920x1080", "thread_cpu_ms_per_frame": round(gate.cpu_ms_per_frame(), 3),
            "submit_ms": round(gate.cpu_ns["submit"] / 1e6 / n, 3), "score_ms": round(gate.cpu_ns["score"] / 1e6 / n, 3),
            "in_frames": gate.counts["in"], "out_frames": gate.counts["out"]}


def fault_injection(n: int = 120) -> dict:
    from surgical_seg.packet import FramePacket
    from surgical_seg.realtime.privacy import PrivacyGate
    from surgical_seg.data.synth import render_frame
    frame = render_frame(2, (640, 360))[0]

    class Raises:
        def score(self, f):
            raise RuntimeError("injected")

    class Hangs:
        ev = threading.Event()

        def score(self, f):
            self.ev.wait(60)
            return 0.0, None
    out = {}
    for name, scorer in (("raises", Raises()), ("hangs", Hangs())):
        gate = PrivacyGate(scorer, writer_delay_ms=500, score_timeout_ms=200).start()
        got = []
        gate.emit = got.append
        t0 = time.perf_counter_ns()
        for i in range(n):
            gate.submit(FramePacket(i, frame, time.perf_counter_ns()))
            time.sleep(1 / 30)
        gate.flush(1)
        out[name] = {"frames": len(got), "blanked": sum(p.privacy == "out" for p in got), "hud": gate.live_state()[1]}
        if name == "hangs":
            scorer.ev.set()
        gate.stop()
    return out


def full_disk(tmpfs: str, seconds: float = 40.0, after: float = 4.0) -> dict:
    """The viewer recording onto a small tmpfs until it fails (at most `seconds`; a loaded machine records
    fewer frames a second), then `after` more: HUD text/colour and painted fps before and after."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication
    from surgical_seg.config import load_app_config
    from surgical_seg.engine import load_segmenter
    from surgical_seg.viewer.app import MainWindow, SAMPLE_CLIP
    from surgical_seg.viewer.hud import OFF_COLORS
    os.environ["SURGICAL_SEG_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "v.ini")
    app = QApplication.instance() or QApplication([])
    cfg = load_app_config()
    win = MainWindow(cfg, load_segmenter(cfg.engine.model), None, record_dir=tmpfs)
    win.resize(1280, 720)
    win.show()
    win.open_source(str(SAMPLE_CLIP), wait=True)
    win.record_button.setChecked(True)
    painted: list[tuple[float, int]] = []
    failed_at = None
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        app.processEvents()
        time.sleep(0.002)
        if win.current is not None and (not painted or painted[-1][1] != win.current.index):
            painted.append((time.monotonic(), win.current.index))
        if failed_at is None and win.recorder is not None and win.recorder.failed:
            failed_at = time.monotonic()
            t_end = min(t_end, failed_at + after)
    text, red = win.hud.text(), win.hud.background == OFF_COLORS[0]
    rec = win.recorder
    win.close()

    def fps(a, b):
        pts = [t for t, _ in painted if a <= t < b]
        return round((len(pts) - 1) / (pts[-1] - pts[0]), 1) if len(pts) > 2 else None
    from surgical_seg.viewer.recorder import decodable_times
    return {"tmpfs": tmpfs, "failed": rec.failed if rec else None, "hud_says_rec_failed": "REC FAILED — disk full" in text,
            "hud_red": red, "written": rec.written if rec else None,
            "decodable_raw_frames": len(decodable_times(rec.paths[0])) if rec else None,
            "painted_fps_before": fps(0, failed_at or 1e18) if failed_at else None,
            "painted_fps_after": fps(failed_at, 1e18) if failed_at else None}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--tmpfs")
    ap.add_argument("--out", default=str(ROOT / "docs" / "measured" / "privacy.json"))
    a = ap.parse_args()
    from surgical_seg.apps.gate_eval import run_gate_eval
    from surgical_seg.data.theatre import held_out_photos
    result = {"command": "scripts/privacy_check.py " + " ".join(Path(c).name for c in a.clips),
              "load_average": os.getloadavg()[0], "photos": [p.name for p in held_out_photos()],
              "eval": run_gate_eval(a.clips, fill=True), "clips": {}}     # + each clip filling the frame
    for clip in a.clips:
        with tempfile.TemporaryDirectory() as d:
            result["clips"][Path(clip).name] = {"recording": record_clip(clip, Path(d)),
                                                "predict": predict_clip(clip, Path(d))}
        print(json.dumps(result["clips"][Path(clip).name]), flush=True)
    result["cpu_1080p"] = gate_cpu_1080p()
    result["faults"] = fault_injection()
    if a.tmpfs:
        result["full_disk"] = full_disk(a.tmpfs)
    result["load_average_end"] = os.getloadavg()[0]
    Path(a.out).write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps({k: v for k, v in result.items() if k != "clips"}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
