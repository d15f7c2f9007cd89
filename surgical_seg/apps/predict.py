"""`surgical-seg predict`: run a model over recorded videos and write a dataset to correct.

OUT/images/<video>_<frame>.png (sampled frames), OUT/labels/<same>.png (predicted class ids),
OUT/classes.yml (the model's classes), OUT/predictions.csv (every sampled frame: certainty,
selected or not), OUT/summary.{md,csv,png} (one row per video), and with `labelstudio` a tasks file
whose brush-RLE predictions Label Studio imports as pre-annotations, with labeling_config.xml
beside it. `select=K` keeps only the K frames the model is least sure of (lowest mean top-2
margin of its softmax), taken in turn from each video so that no single video fills the quota.
Each video is one job of `library.run_jobs` (process pool, Ray, or this process).
"""
from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError, SourceError
from ..data.library import VideoJob, expand_sources, run_jobs

POOL_DIR = ".pool"                 # frames wait here until the selection is made
_SEGMENTERS: dict[tuple, Any] = {}  # one loaded model per worker process, reused across its videos


def _segmenter(o: dict):
    from ..engine import load_segmenter
    key = (o["model"], o["backend"], o["threads"], o["precision"], o["min_region"])
    if key not in _SEGMENTERS:
        _SEGMENTERS[key] = load_segmenter(o["model"], backend=o["backend"], threads=o["threads"],
                                          precision=o["precision"], min_region=o["min_region"])
    return _SEGMENTERS[key]


def certainty(probs: np.ndarray, box) -> tuple[float, float]:
    """(mean top-2 margin, mean top-1 probability) of CxhxW region probabilities at model resolution,
    leaving out the scope's dark surround (which is never labelled)."""
    p = probs                                   # CxhxW probabilities of the frame's region
    top = np.partition(p, p.shape[0] - 2, axis=0)[-2:]
    keep = ~box.dark if box.dark is not None and (~box.dark).any() else np.ones(p.shape[1:], bool)
    return float((top[1] - top[0])[keep].mean()), float(top[1][keep].mean())


class Sampler:
    """Which frames to keep: every N-th (by index) or F per second (by presentation time)."""

    def __init__(self, every: int | None, fps: float | None, source_fps: float | None):
        self.every, self.fps, self.source_fps = every, fps, source_fps
        self.last_bucket = -1

    def __call__(self, index: int, pts_s: float | None) -> bool:
        if self.every:
            return index % self.every == 0
        t = pts_s if pts_s is not None else index / (self.source_fps or 30.0)
        bucket = int(np.floor(t * self.fps + 1e-6))
        if bucket > self.last_bucket:
            self.last_bucket = bucket
            return True
        return False


def predict_video(job: VideoJob, o: dict, report) -> dict:
    """One video: sample frames, segment them, write image + label PNGs; per-frame records back."""
    from ..config import SourceConfig
    from ..sources import open_source
    from ..data.datasets import load_label

    seg = _segmenter(o)
    gate = _VideoGate(o.get("privacy"))
    src = open_source(job.source, SourceConfig(realtime=False, loop=False), max_frames=o.get("max_frames"))
    if src.frame_count:
        report("total", int(src.frame_count) if not o.get("max_frames") else min(src.frame_count, o["max_frames"]))
    sample = Sampler(o.get("every"), o.get("fps"), src.fps)
    stage = Path(o["stage"])
    records: list[dict] = []
    events: list[str] = []
    n_classes = seg.card.num_classes
    cm = np.zeros((n_classes, n_classes), np.int64)
    counter = {"decoded": 0, "unreported": 0}

    def on_frame(p) -> None:
        counter["decoded"] += 1
        counter["unreported"] += 1
        if counter["unreported"] >= 10:
            report("frames", counter["unreported"])
            counter["unreported"] = 0
        for q in gate.decide(p, sample(p.index, p.pts_s)):
            write_sampled(q)

    def write_sampled(p) -> None:
        """A sampled frame the privacy gate released as in-body: segment it, write image + labels."""
        tensor, box = seg.preprocess(p.frame)
        probs = seg.infer(tensor)
        labels = seg.postprocess(probs, box).labels
        margin, score = certainty(seg.region_probabilities(probs, box), box)
        name = f"{job.name}_{p.index:06d}"
        if not (cv2.imwrite(str(stage / "images" / f"{name}.png"), p.frame)
                and cv2.imwrite(str(stage / "labels" / f"{name}.png"), labels)):
            raise OSError(f"cannot write {stage}/images|labels/{name}.png")
        rec = {"name": name, "video": job.name, "frame": p.index,
               "time_s": round(p.pts_s, 4) if p.pts_s is not None else None,
               "margin": round(margin, 5), "score": round(score, 5)}
        if job.truth:
            tpath = Path(job.truth) / f"{p.index:06d}.png"
            if tpath.is_file():
                truth = load_label(tpath)
                keep = truth < n_classes
                cm[:] += np.bincount(truth[keep].astype(np.int64) * n_classes + labels[keep],
                                     minlength=n_classes * n_classes).reshape(n_classes, n_classes)
        records.append(rec)

    t0 = time.perf_counter()
    src.start(on_frame, lambda ev: events.append(str(ev)) if ev.kind in ("error", "warning") else None)
    src.join()
    for q in gate.finish():
        write_sampled(q)
    seconds = time.perf_counter() - t0
    report("frames", counter["unreported"])
    if not records and not gate.sampled_out:
        raise SourceError(f"{job.source}: no frame sampled ({'; '.join(events) or 'no frames decoded'})")
    out = {"frames_decoded": counter["decoded"], "frames_sampled": len(records), "decode_infer_s": seconds,
           "frames_out_of_body": gate.out_frames, "sampled_out_of_body": gate.sampled_out,
           "fps": counter["decoded"] / seconds if seconds > 0 else None,
           "mean_margin": float(np.mean([r["margin"] for r in records])) if records else None,
           "events": events + ([f"{gate.sampled_out} sampled frames out of the body: not written"]
                               if gate.sampled_out else []), "frames": records}
    if cm.sum():
        tp = np.diag(cm).astype(float)
        union = cm.sum(0) + cm.sum(1) - tp
        iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)[1:]
        out["truth_miou"] = float(np.nanmean(iou)) if np.isfinite(iou).any() else None
        out["truth_pixel_accuracy"] = float(tp.sum() / cm.sum())
    return out


class _VideoGate:
    """The privacy gate over one video (surgical_seg.realtime.privacy.Decider): every decoded frame is
    scored (within privacy.score_timeout_ms, else it is out: BoundedScorer); a sampled frame is held until
    decided and reaches images/, labels/ and the tasks only when in the body. Off when `options` is None
    (privacy.enabled false)."""

    def __init__(self, options: dict | None) -> None:
        from ..realtime.privacy import Decider
        self.on = options is not None
        self.out_frames = self.sampled_out = 0
        if self.on:
            from ..engine.oob import load_scorer
            from ..realtime.privacy import BoundedScorer
            self.scorer = BoundedScorer(load_scorer(options["model"], runtime=options.get("runtime", "onnxruntime")),
                                        options["score_timeout_ms"])
            self.decider = Decider(options["threshold"], options["in_body_ms"], options["writer_delay_ms"])
            self.fps = None
        self.held: dict[int, Any] = {}

    def _t_ms(self, p) -> float:
        return p.pts_s * 1000.0 if p.pts_s is not None else p.index * 1000.0 / 30.0

    def decide(self, p, sampled: bool) -> list:
        if not self.on:
            return [p] if sampled else []
        score, rule, error = self.scorer.score(p.frame)       # late or failed: out of the body
        if sampled:
            self.held[p.index] = p
        return self._released(self.decider.push(p.index, self._t_ms(p), score, rule, error))

    def finish(self) -> list:
        if not self.on:
            return []
        self.scorer.close()
        return self._released(self.decider.flush())

    def _released(self, decisions) -> list:
        ready = []
        for d in decisions:
            self.out_frames += d.out
            p = self.held.pop(d.index, None)
            if p is None:
                continue
            if d.out:
                self.sampled_out += 1
            else:
                ready.append(p)
        return ready


def _privacy_options(privacy: bool | None) -> dict | None:
    """The gate's settings from configs/app.yml's privacy section (None: gate off)."""
    from ..config import load_app_config
    p = load_app_config().privacy
    if privacy is False or (privacy is None and not p.enabled):
        return None
    return {"model": p.model, "runtime": p.runtime, "threshold": p.threshold, "in_body_ms": p.in_body_ms,
            "writer_delay_ms": p.writer_delay_ms, "score_timeout_ms": p.score_timeout_ms}


def select_uncertain(records: list[dict], k: int) -> list[dict]:
    """The k least certain frames (lowest margin), taking one per video in turn (least certain video first)."""
    by_video: dict[str, list[dict]] = {}
    for r in sorted(records, key=lambda r: (r["margin"], r["name"])):
        by_video.setdefault(r["video"], []).append(r)
    queues = sorted(by_video.values(), key=lambda q: (q[0]["margin"], q[0]["name"]))
    chosen: list[dict] = []
    while len(chosen) < k and any(queues):
        for q in queues:
            if q and len(chosen) < k:
                chosen.append(q.pop(0))
    return chosen


def _write_summary(results: list[dict], out: Path, wall_s: float, model: str) -> dict:
    """summary.csv / summary.md / summary.png: one row per video, plus the totals."""
    cols = ("name", "source", "status", "frames_decoded", "frames_sampled", "seconds", "fps", "mean_margin",
            "truth_miou", "truth_pixel_accuracy", "error")
    with (out / "summary.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, cols, extrasaction="ignore")
        w.writeheader()
        for r in results:
            w.writerow({c: r.get(c) for c in cols})
    ok = [r for r in results if r["status"] == "ok"]
    decoded = sum(r.get("frames_decoded", 0) for r in ok)
    totals = {"videos": len(results), "failed": len(results) - len(ok), "frames_decoded": decoded,
              "frames_sampled": sum(r.get("frames_sampled", 0) for r in ok), "wall_s": round(wall_s, 2),
              "total_fps": round(decoded / wall_s, 2) if wall_s > 0 else None, "model": model}

    def f(v, fmt="{:.1f}"):
        return "–" if v is None else fmt.format(v)
    lines = [f"# predict: {len(results)} videos, model {model}", "",
             f"{decoded} frames decoded, {totals['frames_sampled']} sampled, in {wall_s:.1f} s wall: "
             f"**{f(totals['total_fps'])} frames/s** over all videos; {totals['failed']} failed.", "",
             "| video | status | frames | sampled | fps | mean margin | truth mIoU | note |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['status']} | {r.get('frames_decoded', '–')} | {r.get('frames_sampled', '–')} | "
                     f"{f(r.get('fps'))} | {f(r.get('mean_margin'), '{:.3f}')} | {f(r.get('truth_miou'), '{:.3f}')} | "
                     f"{r.get('error') or '; '.join(r.get('events', []))} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(max(8, 0.7 * len(results) + 4), 3.8))
    x = np.arange(len(results))
    names = [r["name"] for r in results]
    ax[0].bar(x, [r.get("fps") or 0 for r in results], color=["tab:blue" if r["status"] == "ok" else "tab:red"
                                                               for r in results])
    ax[0].set(ylabel="frames / s (one job)", title=f"per video ({f(totals['total_fps'])} frames/s in all)")
    ax[1].bar(x - 0.2, [r.get("mean_margin") or 0 for r in results], 0.4, label="mean top-2 margin")
    ax[1].bar(x + 0.2, [r.get("truth_miou") or 0 for r in results], 0.4, label="truth mIoU (where known)")
    ax[1].set(ylim=(0, 1), title="certainty and accuracy")
    ax[1].legend(fontsize=8)
    for a in ax:
        a.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "summary.png", dpi=90)
    plt.close(fig)
    (out / "summary.json").write_text(json.dumps({**totals, "videos": [
        {k: v for k, v in r.items() if k not in ("frames", "traceback")} for r in results]}, indent=1))
    return totals


def run_predict(sources: list[str], model: str, out: str | Path, every: int | None = None, fps: float | None = None,
                labelstudio: str | Path | None = None, select: int | None = None, workers: int = 0,
                ray: str | None = None, backend: str = "auto", threads: int = 1, precision: str = "f32",
                max_frames: int | None = None, ls_document_root: str | Path | None = None,
                ls_url_prefix: str | None = None, progress: bool = True, privacy: bool | None = None) -> dict:
    """Predict over every source; returns the totals (also in OUT/summary.json)."""
    from ..data.classlist import ClassList
    from ..modelcard import ModelCard, resolve_model_dir
    from ..data import ls_tasks

    if (every is None) == (fps is None):
        raise ConfigError("predict: give exactly one of --every N or --fps F")
    if (every is not None and every <= 0) or (fps is not None and fps <= 0):
        raise ConfigError("predict: --every and --fps must be > 0")
    if select is not None and select <= 0:
        raise ConfigError(f"predict: --select uncertain K needs K > 0, not {select}")
    model_dir = resolve_model_dir(model)
    card = ModelCard.load(model_dir)
    jobs = expand_sources(list(sources))
    out = Path(out)
    stage = out / POOL_DIR if select else out
    for d in {stage / "images", stage / "labels", out / "images", out / "labels"}:
        d.mkdir(parents=True, exist_ok=True)
    from ..config import load_app_config
    options = {"model": str(model_dir), "backend": backend, "threads": threads, "precision": precision,
               "min_region": load_app_config().engine.min_region,      # the labels the app would show
               "every": every, "fps": fps, "stage": str(stage.resolve()), "max_frames": max_frames,
               "privacy": _privacy_options(privacy)}
    t0 = time.perf_counter()
    results = run_jobs(predict_video, jobs, options, workers=workers, ray=ray, progress=progress)
    wall = time.perf_counter() - t0
    records = [r for res in results if res["status"] == "ok" for r in res["frames"]]
    chosen = select_uncertain(records, select) if select else records
    chosen_names = {r["name"] for r in chosen}
    if select:
        for r in chosen:
            for sub in ("images", "labels"):
                shutil.move(str(stage / sub / f"{r['name']}.png"), str(out / sub / f"{r['name']}.png"))
        shutil.rmtree(stage)
    ClassList(tuple(card.classes), tuple(card.colors_rgb), source=str(out / "classes.yml")).save(out)
    with (out / "predictions.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, ("name", "video", "frame", "time_s", "margin", "score", "selected"))
        w.writeheader()
        for r in records:
            w.writerow({**r, "selected": int(r["name"] in chosen_names)})
    totals = _write_summary(results, out, wall, card.name)
    totals["written"] = len(chosen)
    if labelstudio:
        version = ls_tasks.model_version(model_dir, card.name)
        root = Path(ls_document_root) if ls_document_root else None
        tasks = []
        for r in sorted(chosen, key=lambda r: r["name"]):
            image = out / "images" / f"{r['name']}.png"
            labels = cv2.imread(str(out / "labels" / f"{r['name']}.png"), cv2.IMREAD_UNCHANGED)
            ref = ls_tasks.image_ref(image, root or out.resolve().parent, ls_url_prefix)
            tasks.append(ls_tasks.make_task(image, labels, tuple(card.classes), version, r["score"], ref,
                                            {"video": r["video"], "frame": r["frame"], "time_s": r["time_s"],
                                             "margin": r["margin"]}))
        path = Path(labelstudio)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(tasks))
        (path.parent / "labeling_config.xml").write_text(ls_tasks.labeling_config(tuple(card.classes),
                                                                                    card.colors_rgb))
        totals.update(labelstudio=str(path), model_version=version)
    return totals


__all__ = ["run_predict", "predict_video", "select_uncertain", "certainty", "Sampler"]
