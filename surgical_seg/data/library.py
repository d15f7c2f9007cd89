"""Video libraries: many recorded sources, one job each, run in parallel (process pool or Ray).

`expand_sources` turns folders of videos, globs and manifest CSVs into named jobs. `run_jobs` runs
one job function per video on a local process pool (default), in this process (`workers=1`), or
as Ray tasks (`ray="auto"`, an address, or "local" to start a local Ray with `workers` CPUs). Each
job reports frames through a queue, so one progress bar counts videos and another frames; a job
that fails becomes a result with status "failed" and its message, and the others go on.
Job functions must be importable top-level functions (`fn(job, options, report) -> dict`).
"""
from __future__ import annotations

import csv
import glob
import os
import queue as _queue
import re
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, SourceError, SurgicalSegError

VIDEO_EXTS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".ts", ".mpg", ".mpeg", ".m4v", ".mts")


@dataclass(frozen=True)
class VideoJob:
    name: str                   # unique, file-name safe: prefixes the frames written for it
    source: str                 # anything open_source takes
    truth: str | None = None    # folder of per-frame label PNGs (000000.png ...), when known
    params: tuple[tuple[str, str], ...] = ()   # what else the job function needs (e.g. model, backend)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "video"


def _from_manifest(path: Path) -> list[tuple[str, str | None, str | None]]:
    """Rows of a CSV with a `source` (or `path`) column, optional `name` and `truth`; paths relative to the CSV."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not ({"source", "path"} & set(rows[0])):
        raise ConfigError(f"{path}: a source manifest needs a header with a 'source' (or 'path') column")
    out = []
    for n, row in enumerate(rows, 2):
        src = (row.get("source") or row.get("path") or "").strip()
        if not src:
            raise ConfigError(f"{path}:{n}: empty source")
        if "://" not in src and not src.startswith("synthetic:") and not Path(src).is_absolute():
            src = str(path.parent / src)
        truth = (row.get("truth") or "").strip() or None
        if truth and not Path(truth).is_absolute():
            truth = str(path.parent / truth)
        out.append((src, (row.get("name") or "").strip() or None, truth))
    return out


def expand_sources(specs: list[str]) -> list[VideoJob]:
    """Folders holding videos -> their videos; globs -> matches; *.csv -> manifest rows; else as given.

    A folder with no video in it stays one source (an image sequence). Names come from the file
    stem (or the manifest's `name`), made unique with -2, -3 ...
    """
    items: list[tuple[str, str | None, str | None]] = []
    for spec in specs:
        p = Path(spec)
        if spec.lower().endswith(".csv") and p.is_file():
            items += _from_manifest(p)
        elif p.is_dir() and any(c.suffix.lower() in VIDEO_EXTS for c in p.iterdir()):
            items += [(str(c), None, None) for c in sorted(p.iterdir()) if c.suffix.lower() in VIDEO_EXTS]
        elif any(ch in spec for ch in "*?[") and "://" not in spec:
            hits = sorted(glob.glob(spec, recursive=True))
            if not hits:
                raise SourceError(f"{spec}: the pattern matches no file")
            items += [(h, None, None) for h in hits]
        else:
            items.append((spec, None, None))
    if not items:
        raise SourceError("no sources given")
    jobs, used = [], set()
    for src, name, truth in items:
        base = _safe(name or (Path(src).stem if "://" not in src else src.split("://", 1)[1]))
        unique, k = base, 2
        while unique in used:
            unique, k = f"{base}-{k}", k + 1
        used.add(unique)
        jobs.append(VideoJob(unique, src, truth))
    return jobs


# ------------------------------------------------------------------ running
def _guarded(fn: Callable, job: VideoJob, options: dict, q) -> dict:
    """Run one job; any failure becomes a result, never an exception that stops the library."""
    t0 = time.perf_counter()

    def report(kind: str, value: int) -> None:
        if q is not None:
            q.put((job.name, kind, value))
    try:
        result = {"status": "ok", **fn(job, options, report)}
    except SurgicalSegError as e:
        result = {"status": "failed", "error": str(e)}
    except Exception as e:  # noqa: BLE001 - a broken video must not stop the others
        result = {"status": "failed", "error": f"{type(e).__name__}: {e}",
                  "traceback": traceback.format_exc(limit=4)}
    report("done", 0)
    return {**asdict(job), "seconds": time.perf_counter() - t0, **result}


class _Progress:
    """Two bars: videos done and frames processed (frame total grows as jobs learn their lengths)."""

    def __init__(self, n_videos: int, enabled: bool):
        from tqdm import tqdm
        self.videos = tqdm(total=n_videos, desc="videos", unit="video", disable=None if enabled else True, position=0)
        self.frames = tqdm(total=0, desc="frames", unit="frame", disable=None if enabled else True, position=1)

    def feed(self, msg: tuple[str, str, int]) -> None:
        _, kind, value = msg
        if kind == "total":
            self.frames.total = (self.frames.total or 0) + value
            self.frames.refresh()
        elif kind == "frames":
            self.frames.update(value)

    def video_done(self, result: dict) -> None:
        self.videos.update(1)
        if result["status"] != "ok":
            self.videos.write(f"{result['name']}: FAILED: {result['error']}")

    def close(self) -> None:
        self.frames.close()
        self.videos.close()


def _drain(q, progress: _Progress) -> None:
    while True:
        try:
            progress.feed(q.get_nowait())
        except Exception:  # noqa: BLE001 - queue.Empty, or ray.util.queue's own Empty
            return


def run_jobs(fn: Callable, jobs: list[VideoJob], options: dict, workers: int = 0, ray: str | None = None,
             progress: bool = True) -> list[dict]:
    """One result dict per job, in job order: the job's fields, status ok/failed, seconds, fn's output."""
    workers = workers or os.cpu_count() or 1
    bars = _Progress(len(jobs), progress)
    try:
        if ray:
            return _run_ray(fn, jobs, options, ray, workers, bars)
        if workers == 1:
            return _run_here(fn, jobs, options, bars)
        return _run_pool(fn, jobs, options, workers, bars)
    finally:
        bars.close()


def _run_here(fn, jobs, options, bars) -> list[dict]:
    q: _queue.Queue = _queue.Queue()
    out = []
    for job in jobs:
        res = _guarded(fn, job, options, q)
        _drain(q, bars)
        bars.video_done(res)
        out.append(res)
    return out


def _run_pool(fn, jobs, options, workers, bars) -> list[dict]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")          # no fork: inference runtimes hold threads and locks
    with ctx.Manager() as manager, ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
        q = manager.Queue()
        futures = {pool.submit(_guarded, fn, job, options, q): i for i, job in enumerate(jobs)}
        results: list[dict | None] = [None] * len(jobs)
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(q, bars)
            for f in done:
                i = futures[f]
                try:
                    results[i] = f.result()
                except Exception as e:  # noqa: BLE001 - a worker process died (e.g. killed for memory)
                    results[i] = {**asdict(jobs[i]), "status": "failed", "seconds": 0.0,
                                  "error": f"worker process failed: {type(e).__name__}: {e}"}
                bars.video_done(results[i])
        _drain(q, bars)
    return results  # type: ignore[return-value]


def _run_ray(fn, jobs, options, address, workers, bars) -> list[dict]:
    try:
        import ray
        from ray.util.queue import Queue as RayQueue
    except ImportError:
        raise ConfigError("--ray needs the ray package: pip install 'surgical-seg[ray]'") from None
    started = False
    if not ray.is_initialized():
        try:
            if address == "local":
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        except Exception as e:  # noqa: BLE001 - ray raises ConnectionError, RuntimeError, ValueError ...
            raise ConfigError(f"--ray {address}: cannot connect ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        started = True
    try:
        q = RayQueue(actor_options={"num_cpus": 0})
        remote = ray.remote(num_cpus=1, max_retries=0)(_guarded)
        refs = {remote.remote(fn, job, options, q): i for i, job in enumerate(jobs)}
        results: list[dict | None] = [None] * len(jobs)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=0.2)
            _drain(q, bars)
            for ref in done:
                i = refs[ref]
                try:
                    results[i] = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - worker crashed (RayTaskError, WorkerCrashedError)
                    results[i] = {**asdict(jobs[i]), "status": "failed", "seconds": 0.0,
                                  "error": f"ray task failed: {str(e).splitlines()[0]}"}
                bars.video_done(results[i])
        _drain(q, bars)
        q.shutdown()
        return results  # type: ignore[return-value]
    finally:
        if started:
            ray.shutdown()


__all__ = ["VideoJob", "expand_sources", "run_jobs", "VIDEO_EXTS"]
