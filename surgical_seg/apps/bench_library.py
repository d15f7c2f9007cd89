"""`bench --workers N | --ray ADDRESS`: replay a library of videos, one run per video x model x backend,
each a job of `library.run_jobs` (process pool or Ray), then one merged summary.

Runs in parallel share the machine, so their latencies are higher than a run alone: this mode
answers "how does this model do over my whole archive", a run alone answers "how fast is it".
Writes DIR/<run>/ (frames.csv, summary.json, latency.png) per run, and DIR/library.csv,
DIR/compare.md, DIR/compare.png over all runs; a failed video is a row with its error.
"""
from __future__ import annotations

import csv
import itertools
import time
from pathlib import Path
from typing import Any

from ..data.library import VideoJob, expand_sources, run_jobs
from ..errors import ConfigError
from ..modelcard import ModelCard, resolve_model_dir
from .bench import RunSpec, _slug, checked_settings, run_one, write_comparison

CSV_COLUMNS = ("run", "source", "model", "backend", "status", "frames_out", "fps", "engine_only_fps",
               "latency_p50_ms", "latency_p95_ms", "overlay_age_p50_ms", "overlay_age_p95_ms", "error")


def bench_job(job: VideoJob, o: dict, report) -> dict:
    """One replay run in this worker: the same run_one the sequential bench uses."""
    params = dict(job.params)
    spec = RunSpec(job.source, params["model"], params["backend"], mode="replay", frames=o.get("frames"))
    summary = run_one(spec, Path(o["out"]) / job.name, o["cfg"], progress=False)
    report("frames", int(summary["frames_out"]))
    return {"summary": summary}


def _row(r: dict) -> dict[str, Any]:
    params = dict(r["params"])
    row = {"run": r["name"], "source": r["source"], "model": params["model"], "backend": params["backend"],
           "status": r["status"], "error": r.get("error", "")}
    s = r.get("summary")
    if s:
        lat, age = s["latency_ms"], s.get("mask_age_ms") or s["latency_ms"]
        row.update(model=s["model"], backend=s["backend"], frames_out=s["frames_out"], fps=round(s["fps"], 2),
                   engine_only_fps=s["engine_only_fps"] and round(s["engine_only_fps"], 2),
                   **{k: None if v is None else round(v, 2) for k, v in (
                       ("latency_p50_ms", lat["p50"]), ("latency_p95_ms", lat["p95"]),
                       ("overlay_age_p50_ms", age["p50"]), ("overlay_age_p95_ms", age["p95"]))})
    return row


def run_library(sources: list[str], models: list[str], backends: list[str], out: str | Path, cfg,
                frames: int | None = None, workers: int = 0, ray: str | None = None) -> list[dict]:
    """Every video x model x backend as one job; returns the rows of library.csv."""
    videos = expand_sources(sources)
    jobs = [VideoJob(f"{v.name}__{_slug(Path(m).name)}__{b}" if len(models) * len(backends) > 1 else v.name,
                     v.source, v.truth, (("model", m), ("backend", b)))
            for v, m, b in itertools.product(videos, models, backends)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = run_jobs(bench_job, jobs, {"out": str(out.resolve()), "cfg": cfg, "frames": frames},
                       workers=workers, ray=ray)
    wall = time.perf_counter() - t0
    rows = [_row(r) for r in results]
    with (out / "library.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    ok = [(r["name"], r["summary"]) for r in results if r["status"] == "ok"]
    if ok:
        write_comparison(ok, out)
    total = sum(s["frames_out"] for _, s in ok)
    failed = [f"| {r['name']} | failed | {r['error']} |" for r in results if r["status"] != "ok"]
    how = f"ray {ray}" if ray else f"{workers or 'all CPU'} workers"
    with (out / "compare.md").open("a") as f:
        f.write(f"\n{len(ok)} of {len(results)} runs ok; {total} frames in {wall:.1f} s wall = "
                f"{total / wall:.1f} frames/s over the library ({how}).\n")
        if failed:
            f.write("\n| run | status | error |\n|---|---|---|\n" + "\n".join(failed) + "\n")
    return rows


def main(args) -> int:
    """bench --workers N / --ray: every video of folders, globs and manifests, in parallel."""
    cfg, _, models, backends = checked_settings(args)
    if args.mode != "replay" or args.realtime or args.baseline or args.seconds:
        raise ConfigError("bench: --workers/--ray run replay benchmarks only (no --mode live, --realtime, "
                          "--baseline or --seconds)")
    for m in models:
        ModelCard.load(resolve_model_dir(m))
    rows = run_library(list(args.sources), models, backends, args.out, cfg, frames=args.frames,
                       workers=0 if args.ray and args.workers == 1 else args.workers, ray=args.ray)
    print((Path(args.out) / "compare.md").read_text() if (Path(args.out) / "compare.md").is_file() else "")
    print(f"wrote {Path(args.out) / 'library.csv'}, compare.md, compare.png and one folder per run")
    return 1 if any(r["status"] != "ok" for r in rows) else 0


__all__ = ["main", "run_library", "bench_job", "CSV_COLUMNS"]
