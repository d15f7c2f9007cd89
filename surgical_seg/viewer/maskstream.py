"""The recording's mask stream (`labels.bin`), from which viewer/compose.py makes the overlay video later.

A 1080p60 recording cannot afford a second H.264 encode and a full-resolution burn-in per frame
beside the live view on 2 cores (measured: the recorder dropped 419 of 609 frames and the screen
lost own masks). So the recorder writes the raw video, the CSV, and each frame's small label map,
zlib-compressed (~5 kB, 0.5 ms); `surgical-seg compose REC_DIR` burns the overlay in later, from
raw.mp4 (already privacy-blanked), `labels.bin` and the overlay style saved at REC on
(`overlay.json`). Where it fits (`recorder.overlay: auto`, up to 1280x720 at 30 fps) overlay.mp4 is
still written live, and `labels.bin` is written either way.

`labels.bin`: a magic line, then one record per recorded frame, appended and flushed as it is
written: header `<qiHHI` (frame index, ms since the first recorded frame, width, height, payload
bytes) + the zlib payload. Width 0: no overlay on that frame (off, late, or blanked). A file cut by
a crash ends at its last whole record.
"""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError

MAGIC = b"surgical_seg labels v1\n"
HEADER = struct.Struct("<qiHHI")
LABELS_NAME, STYLE_NAME = "labels.bin", "overlay.json"
LIVE_PIXEL_RATE = 1280 * 720 * 30       # `overlay: auto` burns in live up to this many pixels per second


def overlay_mode(setting: str, width: int, height: int, fps: float) -> str:
    """`live` or `later` for a recording of this format (`setting`: auto | live | later)."""
    if setting != "auto":
        return setting
    return "live" if width * height * (fps or 30.0) <= LIVE_PIXEL_RATE else "later"


class LabelWriter:
    """Appends one record per frame; every record reaches the OS before the next frame."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "wb")
        self.f.write(MAGIC)

    def write(self, index: int, t_ms: int, labels: np.ndarray | None) -> None:
        if labels is None:
            self.f.write(HEADER.pack(index, t_ms, 0, 0, 0))
        else:
            payload = zlib.compress(np.ascontiguousarray(labels, np.uint8).tobytes(), 1)
            h, w = labels.shape
            self.f.write(HEADER.pack(index, t_ms, w, h, len(payload)) + payload)
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def read_labels(path: str | Path) -> Iterator[tuple[int, int, np.ndarray | None]]:
    """(frame index, ms, label map or None) per record, stopping quietly at a cut-off end."""
    path = Path(path)
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise DataError(f"{path}: not a surgical_seg label stream")
        while len(head := f.read(HEADER.size)) == HEADER.size:
            index, t_ms, w, h, n = HEADER.unpack(head)
            payload = f.read(n)
            if len(payload) < n:
                return
            if w == 0:
                yield index, t_ms, None
                continue
            try:
                yield index, t_ms, np.frombuffer(zlib.decompress(payload), np.uint8).reshape(h, w)
            except (zlib.error, ValueError):
                return                      # a torn last record


def save_style(path: Path, annotator) -> None:
    """The overlay as the viewer drew it at REC on: colours, opacity, style, hidden classes."""
    style = None if annotator is None else {
        "class_names": list(annotator.class_names), "colors_rgb": annotator.colors_rgb,
        "opacity": annotator.opacity, "style": annotator.style, "hidden": list(annotator.hidden)}
    path.write_text(json.dumps({"overlay": style}, indent=1) + "\n")


def load_annotator(path: Path):
    """The MaskAnnotator saved by `save_style`, or None when the overlay was off."""
    from ..realtime.overlay import MaskAnnotator
    try:
        style = json.loads(path.read_text())["overlay"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path}: cannot read the overlay style ({e})") from None
    if style is None:
        return None
    return MaskAnnotator(style["colors_rgb"], opacity=style["opacity"], style=style["style"],
                         hidden=style["hidden"], class_names=style["class_names"])


__all__ = ["LabelWriter", "read_labels", "save_style", "load_annotator", "overlay_mode", "LABELS_NAME", "STYLE_NAME"]
