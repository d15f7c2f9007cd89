"""One scene world for stills and clips: a scene seen through a moving scope, at any size and zoom.

`write_video` and the clip stills of `synth --clip-stills` render from the same `ClipScene`:
a scene (territories, tissue, look-alikes) drawn once on a canvas 1.35x the frame, then, per
frame, a camera path (pan, breathing zoom, roll), the instrument and the optics.

Sizes are physical: `zoom` is tissue and texture size relative to the scope field (the frame
height), 1.0 being what a 640x360 still of `synth --out` shows. A 1920x1080 frame at zoom 1 shows
the same anatomy as a 640x360 one, three times sharper; zoom 2 shows half as much, twice as large.
Without `zoom` a clip keeps its historical look (the scene's textures sized on the 1.35x canvas:
zoom 1.35), so clips written before this module are reproduced pixel for pixel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import synth
from ..errors import ConfigError

MARGIN = 0.35           # the canvas is (1 + MARGIN) x the frame, so the camera can pan


@dataclass
class ClipScene:
    size: tuple[int, int]
    style: synth.Style
    scene: np.ndarray           # float32 BGR canvas
    labels: np.ndarray          # uint8 canvas labels
    params: np.ndarray          # camera path phases (6)
    seed: int
    unit: float | None          # pixels per design pixel for the frame's instrument (None: h / 360)
    motion: str | None = None

    @staticmethod
    def build(seed: int, size: tuple[int, int], zoom: float | None = None, motion: str | None = None,
              nerve_id: int = synth.BG) -> "ClipScene":
        if motion is not None and motion not in synth.MOTION_PX_S:
            raise ConfigError(f"synth: --motion must be one of {', '.join(synth.MOTION_PX_S)}, not {motion!r}")
        if zoom is not None and not 0.1 <= zoom <= 10:
            raise ConfigError(f"synth: --zoom must be between 0.1 and 10, not {zoom}")
        w, h = size
        rng = np.random.default_rng([seed, 7])
        style = synth.Style.random(rng)
        sw, sh = int(w * (1 + MARGIN)), int(h * (1 + MARGIN))
        unit = None if zoom is None else zoom * h / 360.0     # None: sized on the canvas (sh / 360)
        labels = synth._territories(rng, sh, sw, unit)
        scene = synth._tissue(rng, style, labels, unit)
        synth._negatives(rng, style, scene, labels, nerve_id, unit)
        params = rng.uniform(0, 1, 6)
        return ClipScene(size, style, scene, labels, params, seed, unit, motion)

    def frame(self, i: int, t: float, strength: float = 0.0, instrument: bool = True,
              rng: np.random.Generator | None = None):
        """Frame `i` at time `t` s: (BGR uint8, labels uint8, instruments uint8 255 = instrument)."""
        w, h = self.size
        sh, sw = self.labels.shape
        px, py, zoom, roll, _, _ = synth._camera(t, self.params, w, h, MARGIN, self.motion)
        m = cv2.getRotationMatrix2D((sw / 2 + px, sh / 2 + py), roll, zoom)
        m[:, 2] += (w - sw) / 2, (h - sh) / 2
        img = cv2.warpAffine(self.scene, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        lab = cv2.warpAffine(self.labels, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
        tools = np.zeros((h, w), np.uint8)
        if instrument:   # the same instrument in every frame (its own seed), moving along a smooth path
            tip = (w * (0.5 + 0.2 * math.sin(0.5 * t + self.params[4] * 6)), h * (0.5 + 0.2 * math.sin(0.37 * t)))
            synth._instrument(np.random.default_rng([self.seed, 8]), img, lab, tip=tip,
                              angle=self.params[5] * 2 * math.pi + 0.3 * math.sin(0.2 * t), instruments=tools,
                              unit=self.unit)
        frame_rng = rng if rng is not None else np.random.default_rng([self.seed, i, 9])
        bgr = synth._optics(frame_rng, self.style, img, lab, strength=strength, instruments=tools)
        return bgr, lab, tools


def write_video(path: str | Path, seconds: float = 5.0, fps: float = 30.0, size: tuple[int, int] = (1280, 720),
                seed: int = 0, labels_dir: str | Path | None = None, crf: int = 26,
                motion: str | None = None, zoom: float | None = None,
                instruments_dir: str | Path | None = None, out_of_body: str | None = None) -> int:
    """An H.264 clip of one synthetic scene seen through a moving scope, with a moving instrument.

    `out_of_body` ("START:SECONDS,..."): the scope withdrawn on that schedule (surgical_seg.data.theatre),
    per-frame truth in <path>.oob.csv.

    `zoom`: tissue size relative to the scope field (1 = a 640x360 still's); None keeps the
    historical look (1.35). See synth_clips.ClipScene."""
    import av
    from fractions import Fraction
    from tqdm import tqdm

    if seconds <= 0 or fps <= 0:
        raise ConfigError(f"synth: --seconds and --fps must be > 0 (got {seconds}, {fps})")
    w, h = size
    if w % 2 or h % 2:
        raise ConfigError(f"synth: --size {w}x{h} must be even for H.264")
    from . import theatre
    withdrawals = theatre.parse_schedule(out_of_body) if out_of_body else []
    outs: list[int] = []
    scene = ClipScene.build(seed, size, zoom, motion)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for d in (labels_dir, instruments_dir):
        if d:
            Path(d).mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * fps))
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for i in tqdm(range(n), desc="synth video", unit="frame"):
            bgr, lab, tools = scene.frame(i, i / fps)
            if withdrawals:                                   # the scope withdrawn: dark cannula, then the theatre
                bgr, lab = theatre.withdrawn(bgr, lab, i / fps, withdrawals, seed, outs)
            frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
            if labels_dir:
                cv2.imwrite(str(Path(labels_dir) / f"{i:06d}.png"), lab)
            if instruments_dir:
                cv2.imwrite(str(Path(instruments_dir) / f"{i:06d}.png"), tools)
        for packet in stream.encode():
            container.mux(packet)
    if withdrawals:
        theatre.write_truth(theatre.truth_path(path), outs)
    return n


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def random_size(rng: np.random.Generator, lo: tuple[int, int] = (640, 360), hi: tuple[int, int] = (1920, 1080)):
    """A 16:9 frame size between lo and hi (even width and height, as H.264 wants)."""
    w = int(rng.uniform(lo[0], hi[0]) / 16) * 16
    return w, w * 9 // 16 // 2 * 2


TOWER_SIZES = ((1280, 720), (1920, 1080))      # what theatre towers send: 720p to 1080p


def random_scene(rng: np.random.Generator, zoom: tuple[float, float],
                 sizes: tuple[tuple[int, int], tuple[int, int]] = ((640, 360), (1920, 1080)),
                 nerve_id: int = synth.BG) -> tuple["ClipScene", float]:
    """A clip scene at a random 16:9 size within `sizes`, a log-uniform zoom within `zoom` and any motion;
    returns (scene, zoom)."""
    size = random_size(rng, *sizes)
    z = log_uniform(rng, *zoom)
    motion = str(rng.choice(list(synth.MOTION_PX_S)))
    return ClipScene.build(int(rng.integers(2**31)), size, z, motion, nerve_id), z


def capture_chain(rng: np.random.Generator, bgr: np.ndarray, lowest_quality: int = 35) -> np.ndarray:
    """The capture chain's compression on 70 % of frames: JPEG at a quality from `lowest_quality` to 95."""
    return synth._jpeg(rng, bgr, lowest_quality) if rng.random() < 0.7 else bgr


def clip_stills(seed: int, n_frames: int, zoom: tuple[float, float] = (0.7, 1.6),
                sizes: tuple[tuple[int, int], tuple[int, int]] = ((640, 360), (1920, 1080)), nerve_id: int = synth.BG):
    """Frames of one short random clip: random 16:9 size, zoom (log-uniform), motion, instrument,
    optics strength and compression, taken at random times of its first 8 seconds.
    Returns (info, [(BGR, labels, instruments), ...])."""
    rng = np.random.default_rng([seed, 3])
    scene, z = random_scene(rng, zoom, sizes, nerve_id)
    with_tool = bool(rng.random() < 0.75)
    out = []
    for k, t in enumerate(np.sort(rng.uniform(0, 8.0, n_frames))):
        bgr, lab, tools = scene.frame(k, float(t), strength=float(rng.uniform(0, 1)), instrument=with_tool, rng=rng)
        out.append((capture_chain(rng, bgr), lab, tools))
    return {"size": list(scene.size), "zoom": round(z, 3), "motion": scene.motion}, out


def write_clip_dataset(out, n_images: int, seed: int = 0, frames_per_clip: int = 5,
                       zoom: tuple[float, float] = (0.7, 1.6),
                       sizes: tuple[tuple[int, int], tuple[int, int]] = ((640, 360), (1920, 1080)),
                       instrument_masks: bool = False, classes: tuple[str, ...] = ("bone", "ligament", "disc"),
                       progress: bool = True) -> str:
    """A still dataset (images/, labels/, splits grouped by clip) whose frames are frames of short
    random clips (`clip_stills`), each at its own size and zoom; sizes and zooms go to clips.json."""
    import json
    from pathlib import Path
    from tqdm import tqdm
    from .datasets import make_split

    if n_images <= 0:
        raise ConfigError(f"synth: --images must be > 0, not {n_images}")
    if not 0 < zoom[0] <= zoom[1]:
        raise ConfigError(f"synth: --zoom must be LO,HI with 0 < LO <= HI, not {zoom}")
    if not (0 < sizes[0][0] <= sizes[1][0] and 0 < sizes[0][1] <= sizes[1][1]):
        raise ConfigError(f"synth: with --clip-stills, --size must be at most {sizes[1][0]}x{sizes[1][1]}, "
                          f"not {sizes[0][0]}x{sizes[0][1]}")
    class_list, nerve_id = synth.synth_classes(classes)
    out = Path(out)
    for sub in ("images", "labels") + (("instruments",) if instrument_masks else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)
    class_list.save(out)
    clips = []
    bar = tqdm(total=n_images, desc="synth clip stills", unit="img", disable=not progress)
    done, c = 0, 0
    while done < n_images:
        k = min(frames_per_clip, n_images - done)
        info, frames = clip_stills(int(np.random.default_rng([seed, c, 4]).integers(2**31)), k, zoom, sizes, nerve_id)
        clips.append({"clip": c, **info})
        for j, (bgr, lab, tools) in enumerate(frames):
            stem = f"c{seed}p{c:04d}_{j:04d}"
            cv2.imwrite(str(out / "images" / f"{stem}.png"), bgr)
            cv2.imwrite(str(out / "labels" / f"{stem}.png"), lab)
            if instrument_masks:
                cv2.imwrite(str(out / "instruments" / f"{stem}.png"), tools)
        done += k
        c += 1
        bar.update(k)
    bar.close()
    zoom_arg = f"{zoom[0]:g},{zoom[1]:g}"
    (out / "synth.json").write_text(json.dumps({
        "generator": "surgical_seg.data.synth_clips", "seed": seed, "images": n_images, "clip_stills": True,
        "frames_per_clip": frames_per_clip, "zoom": list(zoom), "sizes": [list(s) for s in sizes],
        "command": f"surgical-seg synth --out {out} --images {n_images} --seed {seed} --clip-stills --zoom {zoom_arg}"
                   + (f" --size {sizes[0][0]}x{sizes[0][1]}" if tuple(sizes[0]) != (640, 360) else "")
                   + (" --instrument-masks" if instrument_masks else "")
                   + (f" --classes {','.join(class_list.foreground)}" if nerve_id else ""),
        "classes": list(class_list.names)}))
    (out / "clips.json").write_text(json.dumps(clips, indent=0))
    counts = make_split(out, group_pattern=r"^(.+?)_\d+$", seed=seed)
    return f"wrote {n_images} clip stills from {c} clips to {out} ({', '.join(f'{k} {v}' for k, v in counts.items())})"


__all__ = ["write_video", "write_clip_dataset", "ClipScene", "clip_stills", "random_size", "log_uniform", "MARGIN"]
