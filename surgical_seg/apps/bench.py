"""`surgical-seg bench`: run the real pipeline on a source and measure it.

Per run it writes frames.csv (every stage's start/end per frame), summary.json and latency.png,
and prints a table. Beside the pipeline's own figures it measures, on the same frames:
  engine_only_fps  the segmenter alone (frames decoded first, then segment() timed back to back);
                   overhead_ratio = fps / engine_only_fps says what decode, threads and drawing cost;
  baseline (--baseline)  the loop people write from PaddleSeg's deploy example: cv2.VideoCapture read
                   → Paddle Inference → cv2.addWeighted → next, one frame at a time; and beside it the naive
                   sequential OpenVINO loop on the same ONNX with OpenVINO's defaults (apps.naive_openvino).
Several sources/models/backends → one run per combination in DIR/<name>/ plus compare.md/.png.
The headline is the overlay age (capture of the frame the drawn mask came from → composited), then
the video latency; with --truth LABELS_DIR the masks actually drawn are scored against per-frame
truth beside each frame's own mask (surgical_seg.evaluation.displayed): accuracy.csv/.png.
"""
from __future__ import annotations

import itertools
import os
import platform
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config import AppConfig, apply_overrides, load_app_config, replace_section
from ..errors import ConfigError, SourceError
from ..evaluation.displayed import ShownMasks, check_truth_dir, score_run
from .naive_openvino import naive_openvino_fps, timed_video_loop
from ..realtime.overlay import MaskAnnotator
from ..packet import FramePacket
from ..realtime.pipeline import Pipeline
from ..realtime.priority import set_opencv_threads
from ..sources import open_source
from ..realtime.stats import StatsRecorder
from ..viewer.layer import MaskLayer

DEFAULT_OUT_ROOT = "out/bench"      # bench without --out: a new timestamped folder under it
ENDLESS_DEFAULT_FRAMES = 300          # a camera/stream/synthetic run needs an end
ENGINE_ONLY_BUDGET_BYTES = 1 << 30    # frames held in memory for the engine-only timing
LIVE_KEEP_FRAMES = 60                 # live sources cannot be re-read: keep this many for engine-only
SUMMARY_KEYS = ("source", "mode", "backend", "model", "input_size", "frames_in", "frames_out", "dropped",
                "fps", "latency_ms", "stages_ms", "engine_only_fps", "overhead_ratio", "rss_mb")


@dataclass(frozen=True)
class RunSpec:
    source: str
    model: str
    backend: str
    mode: str = "replay"
    realtime: bool = False
    frames: int | None = None
    seconds: float | None = None
    baseline: bool = False
    truth: str | None = None          # per-frame label PNGs: score what was displayed
    infer_delay_ms: float = 0.0       # added to every inference (a slower model or machine)


def _slug(text: str) -> str:
    text = Path(text).stem if ("/" in text or "\\" in text or "." in text) and "://" not in text else text
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "run"


def _progress(line: str, final: bool = False) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r" + line.ljust(100)[:100] + ("\n" if final else ""))
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


# ------------------------------------------------------------------ engine-only and baseline
def _decode_frames(spec: str, n: int, cfg: AppConfig) -> list[np.ndarray]:
    """The first `n` frames of a file/folder source, decoded before any timing."""
    src = open_source(spec, replace_section(cfg, "source", realtime=False, loop=False).source, max_frames=n)
    frames: list[np.ndarray] = []
    budget = ENGINE_ONLY_BUDGET_BYTES

    def keep(p: FramePacket) -> None:
        nonlocal budget
        if budget > 0:
            frames.append(p.frame)
            budget -= p.frame.nbytes

    src.start(keep)
    if not src.join(600):
        src.stop(5)
    return frames


def engine_only_fps(seg, frames: list[np.ndarray]) -> float | None:
    """segment() back to back on frames already in memory: the model's own ceiling here."""
    if not frames:
        return None
    t0 = time.perf_counter()
    for f in frames:
        seg.segment(f)
    return len(frames) / (time.perf_counter() - t0)


def baseline_fps(video: str, model: str, n: int, threads: int, opacity: float) -> dict[str, Any]:
    """PaddleSeg-deploy-style loop: cv2.VideoCapture → Paddle Inference → cv2.addWeighted, serially."""
    import warnings

    from ..engine import load_segmenter
    with warnings.catch_warnings():                     # paddle's "No ccache found" on import
        warnings.simplefilter("ignore")
        seg = load_segmenter(model, backend="paddle", threads=threads)
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(seg.card.colors_rgb)] = np.asarray(seg.card.colors_rgb, np.uint8)[:, ::-1]

    def step(frame: np.ndarray) -> None:
        cv2.addWeighted(frame, 1.0 - opacity, lut[seg.segment(frame).labels], opacity, 0.0)

    timed = timed_video_loop(video, n, step)            # the first frame warms up, as for the pipeline
    if timed is None:
        return {"fps": None, "note": f"cv2.VideoCapture cannot read {video}"}
    done, spent = timed
    return {"fps": done / spent if done else None, "frames": done, "backend": "paddle",
            "loop": "cv2.VideoCapture read -> Paddle Inference -> cv2.addWeighted, one thread"}


# ------------------------------------------------------------------ one run
def run_one(run: RunSpec, out_dir: str | Path, cfg: AppConfig | None = None, progress: bool = True,
            command: str | None = None) -> dict[str, Any]:
    """Run the pipeline once; write frames.csv, summary.json, latency.png into out_dir; return the summary."""
    from ..engine import load_segmenter
    cfg = cfg or load_app_config()
    src_cfg = replace_section(cfg, "source", realtime=run.realtime, loop=False).source
    probe = open_source(run.source, src_cfg)
    endless = probe.live
    probe.close()
    max_frames = run.frames or (ENDLESS_DEFAULT_FRAMES if endless and not run.seconds else None)
    source = open_source(run.source, src_cfg, max_frames=max_frames)
    e = cfg.engine
    seg = load_segmenter(run.model, backend=run.backend, threads=e.pipeline_threads(run.mode), device=e.device,
                         smoothing=e.smoothing, precision=e.precision, confidence=cfg.overlay.confidence != "off",
                         upsample=e.upsample, min_region=e.min_region)
    w, h = source.size or (seg.card.input_width, seg.card.input_height)
    warm = np.zeros((h, w, 3), np.uint8)
    for _ in range(2):                                  # first calls compile/allocate: not part of the run
        seg.segment(warm)
    seg.reset()
    seg.infer_delay_ms = run.infer_delay_ms
    seg.frame_labels = False                            # as the viewer: small label maps, the painter scales them

    stats = StatsRecorder()
    kept: list[np.ndarray] = []
    sinks = [lambda p: len(kept) < LIVE_KEEP_FRAMES and kept.append(p.frame)] if endless else []
    shown = ShownMasks() if run.truth else None
    if shown is not None:
        sinks.append(shown)
    annotator = MaskAnnotator.from_config(cfg.overlay, seg.card.colors_rgb, seg.card.classes,
                                          seg.card.confidence_threshold)
    # the viewer's compositor: the overlay layer it paints, no burn-in (only recordings burn in, on their thread)
    pipe = Pipeline(source, seg, annotator, mode=run.mode, stale_ms=cfg.pipeline.stale_ms,
                    align_ms=cfg.pipeline.align_ms, warp=cfg.pipeline.warp, stats=stats, sinks=sinks,
                    burn_in=False)
    pipe.set_annotator(annotator, MaskLayer(annotator).build)
    name = f"{_slug(run.source)} · {seg.card.name} · {seg.backend_name} · {run.mode}"
    total = max_frames or source.frame_count
    t_start = time.perf_counter()
    opencv_before = set_opencv_threads(cfg.pipeline.opencv_threads)   # the loops compared run as they are
    pipe.start()
    try:
        while not pipe.wait(0.5):
            c = pipe.counts()
            spent = time.perf_counter() - t_start
            if progress:
                p95 = stats.window(5.0).rows[-1][2]
                _progress(f"[bench] {name}: frame {c.frames_out}/{total or '?'}  "
                          f"{c.frames_out / spent:5.1f} fps  p95 {p95 or 0:6.1f} ms  dropped {c.dropped}")
            if run.seconds and spent >= run.seconds:
                break
    finally:
        pipe.stop(10.0)
        set_opencv_threads(opencv_before)
    events = [str(ev) for ev in pipe.events() if ev.kind in ("error", "warning", "signal_lost", "model_error")]
    c = pipe.counts()
    if progress:
        _progress(f"[bench] {name}: {c.frames_out} frames in {time.perf_counter() - t_start:.1f} s", final=True)
    if c.frames_out == 0:
        raise SourceError(f"{run.source}: no frames came through ({'; '.join(events) or 'nothing decoded'})")

    rows = [r for r in stats.rows() if "composite" in r.spans]
    wall_s = (max(r.spans["composite"][1] for r in rows) - min(r.spans["capture"][0] if "capture" in r.spans
                                                              else r.t_capture_ns for r in rows)) / 1e9
    fps = len(rows) / wall_s if wall_s > 0 else 0.0

    rss_mb = stats.summary()["rss_mb"]                 # the pipeline's, before the comparisons load more
    frames = kept if endless else _decode_frames(run.source, len(rows), cfg)
    eo_fps = engine_only_fps(seg, frames)
    extra: dict[str, Any] = {
        "source": run.source, "source_kind": source.kind, "mode": run.mode, "realtime": run.realtime,
        "backend": seg.backend_name, "backend_why": getattr(seg, "why", ""),
        "engine_startup": getattr(seg.backend, "startup_note", ""),
        "device": seg.device, "precision": seg.precision, "precision_why": seg.precision_why, "model": seg.card.name,
        "model_dir": str(getattr(seg, "model_dir", run.model)), "architecture": seg.card.architecture,
        "input_size": f"{seg.card.input_width}x{seg.card.input_height}", "frame_size": f"{w}x{h}",
        "threads": e.threads, "fps": fps, "wall_s": wall_s,
        "source_cpu_ms_per_frame": source.read_cpu_ms_per_frame,     # the machine's speed in this run
        "align_ms": cfg.pipeline.align_ms, "warp": cfg.pipeline.warp, "stale_ms": cfg.pipeline.stale_ms,
        "upsample": e.upsample, "smoothing": e.smoothing, "min_region": e.min_region, "infer_delay_ms": run.infer_delay_ms,
        "engine_only_fps": eo_fps, "engine_only_frames": len(frames),
        "overhead_ratio": fps / eo_fps if eo_fps else None, "rss_mb": rss_mb,
        "events": events, "command": command,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
    }
    del frames, kept
    if run.baseline:
        if source.kind in ("file", "opencv-file"):
            path = run.source[len("opencv:"):] if run.source.startswith("opencv:") else run.source
            if progress:
                _progress(f"[bench] {name}: baseline (cv2 + Paddle Inference) on {len(rows)} frames ...")
            base = baseline_fps(path, run.model, len(rows), e.threads, cfg.overlay.opacity)
            if progress:
                _progress(f"[bench] {name}: naive sequential OpenVINO loop (its defaults) on {len(rows)} frames ...")
            naive = naive_openvino_fps(path, run.model, len(rows), cfg.overlay.opacity, precision=extra["precision"])
        else:
            base = {"fps": None, "note": "the baseline loop reads video files with cv2.VideoCapture only"}
            naive = dict(base)
        extra["baseline"] = base
        extra["speedup_vs_baseline"] = fps / base["fps"] if base.get("fps") else None
        extra["baseline_openvino"] = naive
        extra["speedup_vs_openvino_loop"] = fps / naive["fps"] if naive.get("fps") else None

    out_dir = Path(out_dir)
    if shown is not None:
        if progress:
            _progress(f"[bench] {name}: scoring {len(shown.rows)} displayed masks and the offline ones ...")
        again = open_source(run.source, replace_section(cfg, "source", realtime=False, loop=False).source,
                            max_frames=max_frames)
        extra["accuracy"] = score_run(shown, Path(run.truth), again, seg, out_dir, seg.card.classes)
        del shown
    _, _, summary = stats.write(out_dir, **extra)
    plot_run(stats, summary, out_dir / "latency.png")
    return summary


# ------------------------------------------------------------------ output
def _f(v: Any, fmt: str = "{:.1f}") -> str:
    return "–" if v is None else fmt.format(v)


def format_table(s: dict[str, Any]) -> str:
    """The run's figures for a terminal."""
    lines = [f"source {s['source']} ({s['frame_size']}), mode {s['mode']}{' realtime' if s.get('realtime') else ''}",
             f"model {s['model']} ({s['architecture']}, input {s['input_size']}), backend {s['backend']} "
             f"({s.get('device', 'cpu')}, {s.get('precision', 'f32')})"
             + (f": {s['backend_why']}" if s.get("backend_why") else ""),
             f"precision {s.get('precision', 'f32')}: {s.get('precision_why') or 'not recorded'}",
             f"frames in {s['frames_in']}  out {s['frames_out']}  dropped {s['dropped']}  "
             f"fps {_f(s['fps'])}  engine-only fps {_f(s['engine_only_fps'])}  "
             f"overhead ratio {_f(s['overhead_ratio'], '{:.2f}')}",
             f"machine speed: the source's reads took {_f(s.get('source_cpu_ms_per_frame'), '{:.2f}')} ms of CPU a frame "
             f"(the same work in every run of a clip: compare runs at like speed)",
             f"{'stage':<12}{'mean':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}  ms"]
    age, video = s["overlay_age_ms"], s["video_latency_ms"]
    lines.insert(0, f"overlay age p50 {_f(age['p50'])} ms  p95 {_f(age['p95'])} ms  (capture of the mask's "
                    f"frame → composited) · video latency p95 {_f(video['p95'])} ms · mask source "
                    + " ".join(f"{k} {v}" for k, v in s.get("mask_source", {}).items())
                    + (f" · infer delay +{s['infer_delay_ms']:g} ms" if s.get("infer_delay_ms") else ""))
    rows = list(s["stages_ms"].items()) + [("video lat.", video), ("overlay age", age)]
    for stage, d in rows:
        lines.append(f"{stage:<12}" + "".join(f"{_f(d[k]):>9}" for k in ("mean", "p50", "p95", "p99", "max")))
    if s["mode"] == "replay":
        lines.append("(replay: video latency and overlay age include the wait in the decode-ahead queue; stages are pure cost)")
    if s.get("realtime") or s.get("source_kind") in ("camera", "stream", "synthetic"):
        lines.append("(paced source: fps and overhead ratio are bounded by the source's frame rate)")
    r = s["rss_mb"]
    lines.append(f"RSS MB start {r['start']:.0f}  end {r['end']:.0f}  max {r['max']:.0f}")
    if s.get("engine_startup"):
        lines.append(s["engine_startup"])
    if "baseline" in s:
        b = s["baseline"]
        lines.append(f"baseline (cv2 + Paddle Inference, serial): {_f(b.get('fps'))} fps"
                     + (f" → speedup {s['speedup_vs_baseline']:.2f}x" if s.get("speedup_vs_baseline") else
                        f" ({b.get('note', '')})"))
    if "baseline_openvino" in s:
        b = s["baseline_openvino"]
        lines.append(f"baseline (cv2 + OpenVINO with its defaults: {b.get('precision', '?')}, {b.get('threads', '?')} "
                     f"threads; serial): {_f(b.get('fps'))} fps"
                     + (f" → speedup {s['speedup_vs_openvino_loop']:.2f}x" if s.get("speedup_vs_openvino_loop") else
                        f" ({b.get('note', '')})"))
    if "accuracy" in s:
        a = s["accuracy"]
        lines.append(f"accuracy vs {a['truth']} ({a['frames_scored']} frames): displayed mIoU "
                     f"{a['displayed']['miou']:.4f} Dice {a['displayed']['dice']:.4f} · offline mIoU "
                     f"{a['offline']['miou']:.4f} Dice {a['offline']['dice']:.4f} · ratio "
                     f"{_f(a['displayed_over_offline'], '{:.4f}')} · flicker displayed {a['displayed']['flicker']:.4f}"
                     f" offline {a['offline']['flicker']:.4f}")
    for ev in s.get("events", []):
        lines.append(f"event: {ev}")
    return "\n".join(lines)


def plot_run(stats: StatsRecorder, summary: dict[str, Any], path: Path) -> Path:
    """Latency over time, its CDF, and per-stage bars (mean and p95)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in stats.rows() if "composite" in r.spans]
    t0 = min(r.t_capture_ns for r in rows)
    t = np.array([(r.t_capture_ns - t0) / 1e9 for r in rows])
    e2e = np.array([r.latency_ms() for r in rows])
    inf = np.array([np.nan if r.stage_ms("infer") is None else r.stage_ms("infer") for r in rows])
    age = np.array([np.nan if r.overlay_age_ms() is None else r.overlay_age_ms() for r in rows])
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    ax[0].plot(t, age, lw=1, label="overlay age")
    ax[0].plot(t, e2e, lw=1, label="video latency")
    ax[0].plot(t, inf, lw=1, label="infer")
    ax[0].set(xlabel="capture time (s)", ylabel="ms", title="latency over time")
    ax[0].legend()
    for values, label in ((age[~np.isnan(age)], "overlay age"), (e2e, "video latency"), (inf[~np.isnan(inf)], "infer")):
        v = np.sort(values)
        if v.size:
            ax[1].plot(v, np.arange(1, v.size + 1) / v.size, label=label)
    ax[1].set(xlabel="ms", ylabel="fraction of frames", title="latency CDF")
    ax[1].grid(alpha=0.3)
    ax[1].legend()
    names = list(summary["stages_ms"])
    x = np.arange(len(names))
    ax[2].bar(x - 0.2, [summary["stages_ms"][n]["mean"] for n in names], 0.4, label="mean")
    ax[2].bar(x + 0.2, [summary["stages_ms"][n]["p95"] for n in names], 0.4, label="p95")
    ax[2].set_xticks(x, names, rotation=20)
    ax[2].set(ylabel="ms", title="per stage")
    ax[2].legend()
    fig.suptitle(f"{summary['source']} · {summary['model']} · {summary['backend']} · {summary['mode']} · "
                 f"{summary['fps']:.1f} fps")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_comparison(results: list[tuple[str, dict[str, Any]]], out_dir: Path) -> tuple[Path, Path]:
    """compare.md (one row per run) and compare.png (fps and p95 latency side by side)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    head = ("run", "source", "model", "backend", "mode", "frames", "fps", "engine-only fps", "overhead",
            "p50 ms", "p95 ms", "p99 ms", "max ms", "dropped", "RSS max MB", "baseline fps", "speedup")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in results:
        lat = s["latency_ms"]
        lines.append("| " + " | ".join([
            name, s["source"], s["model"], s["backend"], s["mode"], str(s["frames_out"]), _f(s["fps"]),
            _f(s["engine_only_fps"]), _f(s["overhead_ratio"], "{:.2f}"), _f(lat["p50"]), _f(lat["p95"]),
            _f(lat["p99"]), _f(lat["max"]), str(s["dropped"]), _f(s["rss_mb"]["max"], "{:.0f}"),
            _f(s.get("baseline", {}).get("fps")), _f(s.get("speedup_vs_baseline"), "{:.2f}")]) + " |")
    md = out_dir / "compare.md"
    md.write_text("# Benchmark comparison\n\n" + "\n".join(lines) + "\n")
    fig, ax = plt.subplots(1, 2, figsize=(max(8, 1.6 * len(results) + 4), 4.2))
    names = [n for n, _ in results]
    x = np.arange(len(names))
    ax[0].bar(x - 0.2, [s["fps"] for _, s in results], 0.4, label="pipeline")
    ax[0].bar(x + 0.2, [s["engine_only_fps"] or 0 for _, s in results], 0.4, label="engine only")
    ax[0].set(ylabel="frames / s", title="throughput")
    ax[0].legend()
    ax[1].bar(x - 0.2, [s["latency_ms"]["p50"] for _, s in results], 0.4, label="p50")
    ax[1].bar(x + 0.2, [s["latency_ms"]["p95"] for _, s in results], 0.4, label="p95")
    ax[1].set(ylabel="ms", title="video latency")
    ax[1].legend()
    for a in ax:
        a.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    fig.tight_layout()
    png = out_dir / "compare.png"
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return md, png


# ------------------------------------------------------------------ command
def plan(sources: list[str], models: list[str], backends: list[str], **kw: Any) -> list[RunSpec]:
    return [RunSpec(s, m, b, **kw) for s, m, b in itertools.product(sources, models, backends)]


def checked_settings(args) -> tuple[AppConfig, float, list[str], list[str]]:
    """What every bench run takes from its arguments, checked up front: config, inference delay,
    models, backends."""
    cfg = load_app_config(args.config)
    if getattr(args, "set", None):
        cfg = apply_overrides(cfg, args.set)
    if getattr(args, "truth", None):
        check_truth_dir(args.truth)
        if len(dict.fromkeys(args.sources)) > 1:
            raise ConfigError("bench: --truth scores one source; give one")
    delay = getattr(args, "infer_delay_ms", None) or 0.0
    if delay < 0:
        raise ConfigError(f"bench: --infer-delay-ms must be >= 0, not {delay}")
    cfg = replace_section(cfg, "engine", precision=args.precision, device=getattr(args, "device", None))
    if args.frames is not None and args.frames <= 0:
        raise ConfigError(f"bench: --frames must be > 0, not {args.frames}")
    if args.seconds is not None and args.seconds <= 0:
        raise ConfigError(f"bench: --seconds must be > 0, not {args.seconds}")
    return cfg, delay, args.model or [cfg.engine.model], args.backend or [cfg.engine.backend]


def main(args) -> int:
    """The CLI handler for one or more runs in sequence: check everything up front, then run each."""
    cfg, delay, models, backends = checked_settings(args)
    src_cfg = replace_section(cfg, "source", realtime=args.realtime).source
    for spec in dict.fromkeys(args.sources):           # fail fast, before any model loads
        open_source(spec, src_cfg).close()
    from ..engine.backends import BACKENDS
    from ..modelcard import ModelCard, resolve_model_dir
    for m in models:
        ModelCard.load(resolve_model_dir(m))
    for b in backends:
        if b != "auto" and b not in BACKENDS:
            raise ConfigError(f"bench: --backend {b!r} unknown (choose from auto, {', '.join(BACKENDS)})")

    runs = plan(list(args.sources), models, backends, mode=args.mode, realtime=args.realtime,
                frames=args.frames, seconds=args.seconds, baseline=args.baseline,
                truth=getattr(args, "truth", None), infer_delay_ms=delay)
    out = Path(args.out) if args.out else new_results_dir(DEFAULT_OUT_ROOT)
    out.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, dict[str, Any]]] = []
    used: set[str] = set()
    for run in runs:
        if len(runs) == 1:
            name, run_dir = "run", out
        else:
            name = "__".join(_slug(v) for v in (run.source, Path(run.model).name, run.backend))
            while name in used:
                name += "_"
            used.add(name)
            run_dir = out / name
        argv = getattr(args, "argv", None)
        summary = run_one(run, run_dir, cfg, command=shlex.join(["surgical-seg", *argv]) if argv else None)
        print(format_table(summary))
        print(f"wrote {run_dir / 'frames.csv'}, {run_dir / 'summary.json'}, {run_dir / 'latency.png'}")
        results.append((name, summary))
    if len(results) > 1:
        md, png = write_comparison(results, out)
        print(md.read_text())
        print(f"wrote {md}, {png}")
    print(f"results in {out}")
    return 0


def new_results_dir(root: str | Path) -> Path:
    """A new folder root/YYYYmmdd-HHMMSS (suffix -2, -3 ... within the same second): never overwrite a run."""
    base = Path(root) / time.strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


__all__ = ["RunSpec", "run_one", "engine_only_fps", "baseline_fps", "format_table", "plot_run",
           "write_comparison", "plan", "main", "new_results_dir", "SUMMARY_KEYS"]
