"""A folder of still images (exported frames, annotation batches) played as a clip in name order."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from ..errors import SourceError
from .base import Source

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
FOLDER_FPS = 30.0


def _natural_key(p: Path) -> list:
    """frame_2 before frame_10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


class FolderSource(Source):
    kind = "folder"
    live = False

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return Path(spec).is_dir()

    def _open(self) -> None:
        folder = Path(self.spec)
        if not folder.is_dir():
            raise SourceError(f"{folder}: not a folder")
        self._files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file()),
                             key=_natural_key)
        if not self._files:
            raise SourceError(f"{folder}: no images ({', '.join(IMAGE_EXTS)}) in this folder")
        self.fps = FOLDER_FPS
        self.frame_count = len(self._files)
        first = cv2.imread(str(self._files[0]), cv2.IMREAD_COLOR)
        if first is not None:
            self.size = (first.shape[1], first.shape[0])
        self._next = 0

    def _read(self):
        while self._next < len(self._files):
            path = self._files[self._next]
            pts = self._next / self.fps
            self._next += 1
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)   # grey/16-bit/alpha → 8-bit BGR
            if img is None:
                self._emit("warning", f"{path.name}: cannot be decoded, skipped", self._next - 1)
                self.frame_count -= 1
                continue
            self.size = (img.shape[1], img.shape[0])
            return np.ascontiguousarray(img), pts
        return None


__all__ = ["FolderSource", "IMAGE_EXTS"]
