"""Small video clips encoded with PyAV for tests (owned by sources).

Every clip frame carries its index in two 48x48 grey blocks at the top left (i % 16 and i // 16, in
steps of 12 grey levels), so `read_index(frame)` recovers it after lossy H.264 and YUV round trips
(which shift greys by a few levels).
"""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

CLIP_FRAMES = 72
CLIP_SIZE = (320, 240)          # width x height


INDEX_STEP = 12


def read_index(bgr: np.ndarray, x0: int = 0, y0: int = 0) -> int:
    """The frame index written by clip_frame (blocks at x0, y0 in the picture as delivered)."""
    lo = float(bgr[y0 + 8:y0 + 40, x0 + 8:x0 + 40].mean())
    hi = float(bgr[y0 + 8:y0 + 40, x0 + 56:x0 + 88].mean())
    return round((lo - 40) / INDEX_STEP) + 16 * round((hi - 40) / INDEX_STEP)


def clip_frame(i: int, size: tuple[int, int] = CLIP_SIZE) -> np.ndarray:
    """A BGR test frame: gradient, a moving square, and the index block."""
    w, h = size
    xx = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    yy = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (xx * 0.5 + yy * 0.2).astype(np.uint8)
    img[..., 1] = (yy * 0.6).astype(np.uint8)
    img[..., 2] = (160 + 0 * xx + 0 * yy).astype(np.uint8)
    x = int((i * 7) % max(1, w - 60))
    cv2.rectangle(img, (x, h // 2), (x + 50, h // 2 + 40), (40, 200, 240), -1)
    img[0:48, 0:48] = 40 + INDEX_STEP * (i % 16)
    img[0:48, 48:96] = 40 + INDEX_STEP * (i // 16)
    return img


def make_clip(path: str | Path, n: int = CLIP_FRAMES, size: tuple[int, int] = CLIP_SIZE, fps: int = 30,
              codec: str = "libx264", pix_fmt: str = "yuv420p", faststart: bool = True,
              rotation: int | None = None, interlaced: bool = False) -> Path:
    """Encode `n` clip_frame()s with PyAV; returns the path."""
    path = Path(path)
    opts = {"movflags": "+faststart"} if faststart and path.suffix in (".mp4", ".mov") else {}
    with av.open(str(path), "w", options=opts) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = size[0], size[1], pix_fmt
        x264 = ["keyint=24"] + (["interlaced=1", "tff=1"] if interlaced else [])
        s.options = {"preset": "ultrafast", "crf": "18", "x264-params": ":".join(x264)}
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i in range(n):
            c.mux(s.encode(av.VideoFrame.from_ndarray(clip_frame(i, size), format="bgr24")))
        c.mux(s.encode())
    return path


def truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip_path(media_dir) -> Path:
    """72 frames, 320x240, 30 fps, H.264 in MP4 (moov first)."""
    return make_clip(media_dir / "clip.mp4")


@pytest.fixture(scope="session")
def odd_clip_path(media_dir) -> Path:
    """Odd size 321x239 (H.264 4:4:4 in Matroska, which has no frame count)."""
    return make_clip(media_dir / "odd.mkv", n=24, size=(321, 239), pix_fmt="yuv444p")


@pytest.fixture(scope="session")
def tenbit_clip_path(media_dir) -> Path:
    return make_clip(media_dir / "tenbit.mp4", n=12, pix_fmt="yuv420p10le")


@pytest.fixture(scope="session")
def rotated_clip_path(media_dir) -> Path:
    """Display matrix: rotate 90° counter-clockwise (a portrait recording)."""
    return make_clip(media_dir / "rotated.mp4", n=6, rotation=90)


@pytest.fixture(scope="session")
def interlaced_clip_path(media_dir) -> Path:
    return make_clip(media_dir / "interlaced.mp4", n=12, interlaced=True)


@pytest.fixture(scope="session")
def truncated_clip_path(media_dir, clip_path) -> Path:
    """clip.mp4 cut in the middle of its media data: the index survives, the second half does not."""
    return truncate(clip_path, media_dir / "truncated.mp4")


@pytest.fixture(scope="session")
def headless_truncated_path(media_dir) -> Path:
    """An MP4 with its index (moov) at the end, cut in half: unopenable."""
    full = make_clip(media_dir / "moov_last.mp4", n=24, faststart=False)
    return truncate(full, media_dir / "moov_lost.mp4")


@pytest.fixture(scope="session")
def zero_byte_path(media_dir) -> Path:
    p = media_dir / "empty.mp4"
    p.write_bytes(b"")
    return p


@pytest.fixture(scope="session")
def text_mp4_path(media_dir) -> Path:
    p = media_dir / "notes.mp4"
    p.write_text("this is a text file, not a video\n" * 20)
    return p


@pytest.fixture(scope="session")
def image_folder(media_dir) -> Path:
    """10 PNG frames named so that plain sorting would misorder them (f_2 < f_10), plus a stray file."""
    d = media_dir / "frames"
    d.mkdir()
    for i in range(10):
        cv2.imwrite(str(d / f"f_{i}.png"), clip_frame(i))
    (d / "readme.txt").write_text("not an image")
    return d


@pytest.fixture(scope="session")
def empty_folder(media_dir) -> Path:
    d = media_dir / "no_images"
    d.mkdir()
    (d / "readme.txt").write_text("nothing to see")
    return d


__all__ = ["make_clip", "clip_frame", "read_index", "truncate", "CLIP_FRAMES", "CLIP_SIZE",
           "media_dir", "clip_path", "odd_clip_path", "tenbit_clip_path", "rotated_clip_path",
           "interlaced_clip_path", "truncated_clip_path", "headless_truncated_path", "zero_byte_path",
           "text_mp4_path", "image_folder", "empty_folder"]
