"""`surgical-seg compose REC_DIR`: a recording's overlay video, burnt in afterwards from raw.mp4,
labels.bin and overlay.json (viewer/maskstream.py), with raw.mp4's timestamps."""
from __future__ import annotations

from pathlib import Path

import av
from tqdm import tqdm

from ..errors import ConfigError
from ..packet import Segmentation
from .maskstream import LABELS_NAME, STYLE_NAME, load_annotator, read_labels
from .recorder import OVERLAY_NAME, RAW_NAME, _FragmentedMp4


def compose(rec_dir: str | Path, out: str | Path | None = None, progress: bool = True) -> tuple[Path, int]:
    """overlay.mp4 (or `out`) from a recording's raw.mp4 + labels.bin + overlay.json, with raw.mp4's
    timestamps. Returns (path, frames written)."""
    rec = Path(rec_dir)
    raw, labels, style = rec / RAW_NAME, rec / LABELS_NAME, rec / STYLE_NAME
    for p in (raw, labels, style):
        if not p.is_file():
            raise ConfigError(f"compose {rec}: {p.name} missing (not a recording folder written by the viewer?)")
    dest = Path(out) if out else rec / OVERLAY_NAME
    if dest.exists():
        raise ConfigError(f"compose: {dest} already exists (give --out FILE)")
    annotator = load_annotator(style)
    records = read_labels(labels)
    n = 0
    with av.open(str(raw)) as src:
        stream = src.streams.video[0]
        fps = float(stream.average_rate or 30)
        writer = None
        bar = tqdm(total=stream.frames or None, desc="compose", unit="frame", disable=not progress)
        try:
            for frame in _decodable(src.decode(stream)):
                record = next(records, None)
                if record is None:          # raw.mp4 outlived the mask stream (a crash between the two)
                    break
                bgr = frame.to_ndarray(format="bgr24")
                mask = record[2]
                if mask is not None and annotator is not None:   # resized as live: Segmentation.labels_at
                    bgr = annotator.annotate(bgr, Segmentation(mask, annotator.class_names, annotator.colors_rgb))
                if writer is None:
                    writer = _FragmentedMp4(dest, bgr.shape[1], bgr.shape[0], fps, "libx264", threads=0)
                writer.write(bgr, round(frame.time * 1000) if frame.time is not None else record[1])
                n += 1
                bar.update()
        finally:
            bar.close()
            if writer is not None:
                writer.close()
    return dest, n


def _decodable(frames):
    """The frames up to a cut-off end (what is left of raw.mp4 after a crash), quietly."""
    try:
        yield from frames
    except (av.error.FFmpegError, EOFError):
        return


__all__ = ["compose"]
