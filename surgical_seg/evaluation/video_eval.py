"""`surgical-seg eval --video`: score labelled clips, or folders of them, frame by frame.

A labelled clip is a video file and a folder of per-frame truth PNGs, `000000.png`, `000001.png`,
... (as `synth --video CLIP --labels-dir DIR` writes). The folder is `--labels DIR` for one clip, or
found beside the clip as `<stem>_labels/` or `<stem>/`; `<stem>_instruments/` (255 = instrument,
`synth --instruments-dir`) adds the share of instrument pixels painted as anatomy. Every frame is
segmented in order by one segmenter (so temporal smoothing acts as in the app), with the app's
engine settings unless told otherwise, and scored by `clipscore.ClipScore`.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2

from ..atomic import atomic_write_json
from ..errors import ConfigError, DataError, ModelError
from .clipscore import ClipScore

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts")


def _truth_dir(clip: Path) -> Path | None:
    for d in (clip.with_name(clip.stem + "_labels"), clip.with_name(clip.stem)):
        if (d / "000000.png").is_file():
            return d
    return None


def find_clips(paths: list[str | Path], labels: str | Path | None = None) -> list[tuple[Path, Path, Path | None]]:
    """(clip, truth folder, instrument folder or None) for each clip in `paths` (files or folders)."""
    clips: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in VIDEO_SUFFIXES and q.is_file())
            if not found:
                raise ConfigError(f"eval --video {p}: no video file ({', '.join(VIDEO_SUFFIXES)}) in this folder")
            clips += found
        elif p.is_file():
            clips.append(p)
        else:
            raise ConfigError(f"eval --video {p}: no such file or folder")
    if labels is not None and len(clips) != 1:
        raise ConfigError(f"eval --labels names the truth of one clip, but --video gives {len(clips)}")
    out = []
    for clip in clips:
        truth = Path(labels) if labels is not None else _truth_dir(clip)
        if truth is None or not (truth / "000000.png").is_file():
            where = truth if truth is not None else f"{clip.stem}_labels/ or {clip.stem}/ beside it"
            raise ConfigError(f"eval --video {clip}: no per-frame truth ({where}: expected 000000.png, ..., as "
                              "`surgical-seg synth --video CLIP --labels-dir DIR` writes)")
        tools = clip.with_name(clip.stem + "_instruments")
        out.append((clip, truth, tools if (tools / "000000.png").is_file() else None))
    return out


def _read_mask(path: Path, what: str):
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None or m.ndim != 2:
        raise DataError(f"{path}: missing or not a single-channel {what} PNG")
    return m


def score_clip(seg, clip: Path, truth_dir: Path, tools_dir: Path | None = None, progress: bool = True,
               worst: int = 6, sheet: Path | None = None) -> dict:
    """Segment every frame of `clip` in order and score it against `truth_dir`; one clip's result."""
    import av
    from tqdm import tqdm

    seg.reset()
    score = ClipScore(seg.card.classes, worst=worst, colors_rgb=seg.card.colors_rgb)
    tool_px = tool_hit = 0
    try:
        container = av.open(str(clip))
    except (av.error.FFmpegError, OSError) as e:
        raise DataError(f"{clip}: cannot open video ({e})") from None
    with container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else None
        total = stream.frames or None
        size = None
        for i, frame in enumerate(tqdm(container.decode(stream), total=total, desc=f"eval {clip.name}",
                                       unit="frame", disable=not progress)):
            bgr = frame.to_ndarray(format="bgr24")
            size = bgr.shape[1::-1]
            truth = _read_mask(truth_dir / f"{i:06d}.png", "truth label")
            if truth.shape != bgr.shape[:2]:
                raise DataError(f"{truth_dir / f'{i:06d}.png'}: label is {truth.shape[1]}x{truth.shape[0]}, "
                                f"frame {i} of {clip.name} is {size[0]}x{size[1]}")
            pred = seg.segment(bgr).labels
            try:
                score.add(i, truth, pred, bgr)
            except ValueError as e:
                raise DataError(f"{clip.name}: {e}") from None
            if tools_dir is not None:
                on = _read_mask(tools_dir / f"{i:06d}.png", "instrument mask") > 0
                tool_px += int(on.sum())
                tool_hit += int((pred[on] != 0).sum())
    if score.frames == 0:
        raise DataError(f"{clip}: no frame decoded")
    if (truth_dir / f"{score.frames:06d}.png").is_file():
        raise DataError(f"{clip}: {score.frames} frames decoded but {truth_dir} has more truth PNGs "
                        "(a clip and truth that do not belong together?)")
    res = score.result()
    res.update({"clip": clip.name, "path": str(clip), "truth": str(truth_dir), "size": list(size),
                "fps": round(fps, 3) if fps else None,
                "instruments_labelled": (tool_hit / tool_px if tool_px else None) if tools_dir else None})
    if sheet is not None:
        written = score.contact_sheet(sheet, f"{clip.name}: worst frames by mIoU (frame | truth | prediction)")
        res["contact_sheet"] = str(written) if written else None
    return res


def _clean(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def run_video_eval(paths: list[str | Path], model: str | Path = "fastscnn_spine", labels: str | Path | None = None,
                   backend: str = "auto", smoothing: float | None = None, upsample: str | None = None,
                   json_out: str | Path | None = None, report_dir: str | Path | None = None,
                   worst: int = 6, progress: bool = True, min_region: float | None = None,
                   precision: str | None = None) -> dict:
    """Score every labelled clip; engine settings default to the app config's (configs/app.yml)."""
    from ..config import load_app_config
    from ..engine import load_segmenter

    clips = find_clips(paths, labels)
    engine = load_app_config().engine
    smoothing = engine.smoothing if smoothing is None else smoothing
    upsample = engine.upsample if upsample is None else upsample
    min_region = engine.min_region if min_region is None else min_region
    seg = load_segmenter(model, backend=backend, smoothing=smoothing, upsample=upsample,
                         precision=engine.precision if precision is None else precision, min_region=min_region)
    if seg.card.classes[0] != "background":
        raise ModelError(f"model {model}: class 0 must be background, not {seg.card.classes[0]}")
    report = Path(report_dir) if report_dir else None
    results = []
    for clip, truth, tools in clips:
        sheet = report / f"{clip.stem}_worst.png" if report else None
        results.append(score_clip(seg, clip, truth, tools, progress, worst, sheet))
    out = _clean({"model": str(model), "backend": seg.backend_name, "precision": seg.precision,
                  "smoothing": smoothing, "upsample": upsample, "min_region": min_region,
                  "classes": list(seg.card.classes),
                  "clips": results})
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(json_out, out, indent=1)
    if report:
        report.mkdir(parents=True, exist_ok=True)
        (report / "report.md").write_text(format_markdown(out) + "\n")
    return out


def _pct(v, digits=1) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}"


def format_markdown(result: dict) -> str:
    """One row per clip: mIoU over the classes in its truth, per class, per-frame mIoU, spurious share."""
    fg = result["classes"][1:]
    head = ["clip", "size", "fps", "frames", "mIoU (classes present)", *[f"{c} IoU" for c in fg],
            "mean per-frame mIoU", "worst frame", "spurious share"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in result["clips"]:
        per = [(_pct(c["per_class"][k]) + ("" if k in c["present"] else " (absent)")) if c["per_class"][k] is not None
               else "–" for k in fg]
        worst = c["worst"][0] if c["worst"] else None
        rows.append("| " + " | ".join([
            f"`{c['clip']}`", "×".join(map(str, c["size"])), f"{c['fps']:g}" if c["fps"] else "–", str(c["frames"]),
            f"**{_pct(c['miou'])}**", *per, f"**{_pct(c['frame_miou'])}**",
            f"{_pct(worst['miou'])} (#{worst['frame']})" if worst else "–",
            f"{_pct(c['spurious_share'], 2)} %"]) + " |")
    rows.append("")
    rows.append(f"Model `{result['model']}` on {result['backend']} ({result['precision']}), smoothing "
                f"{result['smoothing']:g}, {result['upsample']} upsampling"
                + (f", regions under {100 * result['min_region']:g} % of the frame dropped" if result.get("min_region") else "")
                + ". Figures in %.")
    return "\n".join(rows)


def format_text(result: dict) -> str:
    lines = []
    for c in result["clips"]:
        per = ", ".join(f"{k} {_pct(v)}" for k, v in c["per_class"].items() if v is not None)
        lines.append(f"{c['clip']}: mIoU {_pct(c['miou'])} % over {', '.join(c['present']) or 'no class'} ({per}); "
                     f"mean per-frame mIoU {_pct(c['frame_miou'])} %; spurious {_pct(c['spurious_share'], 2)} % "
                     f"of {c['frames']} frames' pixels")
    return "\n".join(lines)


__all__ = ["run_video_eval", "score_clip", "find_clips", "format_markdown", "format_text"]
