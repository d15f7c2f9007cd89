"""Out-of-body frames for the privacy gate: the scope withdrawn on a schedule.

`synth --video X --out-of-body SPEC` withdraws the scope at the times SPEC gives ("START:SECONDS,...",
e.g. "2:1.5,6:2"). A withdrawal is the cannula going dark (the in-body picture fading into a black
tube, 0.25 s), then the theatre seen by a moving scope, then the cannula again on the way back in.
Every frame of a withdrawal, dark ones included, is out of the body in the truth file
(`<video>.oob.csv`: frame,out).

The theatre is a procedural stand-in: drapes, gloved hands, surgical lights, face-like shapes, screens,
papers with text. `held_out_photos()` lists real photographs and screenshots found on this machine
(sample images shipped inside installed packages), which the project never generated: the held-out test.
"""
from __future__ import annotations

import csv
import glob
import math
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError

DARK_S = 0.25                    # the cannula going dark, each way

DRAPE_COLORS = ((160, 110, 40), (110, 130, 50), (170, 150, 90), (120, 120, 120), (200, 200, 200))
GLOVE_COLORS = ((200, 140, 90), (230, 230, 225), (150, 200, 225), (90, 60, 160))
SKIN_COLORS = ((140, 170, 215), (90, 120, 170), (60, 85, 120), (170, 195, 230))
WORDS = ("PATIENT", "NAME", "DOB", "MRN", "THEATRE", "SPINE", "L4-L5", "CONSENT", "ANAESTHESIA", "12:45",
         "Ward 7", "Smith J", "Dr", "BP 120/80", "HR 72", "SpO2 98")


def parse_schedule(spec: str) -> list[tuple[float, float]]:
    """'2:1.5,6:2' -> [(2.0, 1.5), (6.0, 2.0)]: (start s, length s) of each withdrawal."""
    out = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        try:
            start, length = (float(x) for x in part.split(":"))
        except ValueError:
            raise ConfigError(f"--out-of-body: {part!r} is not START:SECONDS (e.g. 2:1.5,6:2)") from None
        if start < 0 or length <= 2 * DARK_S:
            raise ConfigError(f"--out-of-body: {part!r}: start must be >= 0 and length > {2 * DARK_S:g} s")
        out.append((start, length))
    out.sort()
    for (a, la), (b, _) in zip(out, out[1:]):
        if a + la > b:
            raise ConfigError(f"--out-of-body: withdrawals at {a:g} s and {b:g} s overlap")
    return out


def phase(t: float, schedule: list[tuple[float, float]]) -> tuple[str, float, int]:
    """('in' | 'dark' | 'theatre', darkness 0..1, withdrawal number) at time t."""
    for k, (start, length) in enumerate(schedule):
        if start <= t < start + length:
            into, left = t - start, start + length - t
            if into < DARK_S:
                return "dark", into / DARK_S, k
            if left < DARK_S:
                return "dark", left / DARK_S, k
            return "theatre", 1.0, k
    return "in", 0.0, -1


def cannula(bgr: np.ndarray, darkness: float) -> np.ndarray:
    """The in-body picture seen down a darkening tube (darkness 0 = as is, 1 = black with a faint rim)."""
    h, w = bgr.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    r = np.sqrt((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (0.5 * h)
    open_r = max(0.02, 1.0 - darkness)
    gain = np.clip((open_r - r) / 0.15 + 0.0, 0, 1) * (1 - 0.85 * darkness)
    rim = np.exp(-((r - open_r - 0.05) / 0.05) ** 2) * 40 * darkness
    out = bgr.astype(np.float32) * gain[..., None] + rim[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _blurred_noise(rng, h, w, scale):
    n = rng.standard_normal((max(2, int(h / scale)), max(2, int(w / scale)))).astype(np.float32)
    return cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC)


def theatre_canvas(seed: int, size: tuple[int, int] = (1920, 1080)) -> np.ndarray:
    """A big theatre stand-in scene (BGR) that a withdrawn scope pans over."""
    w, h = size
    rng = np.random.default_rng([seed, 23])
    base = np.array(DRAPE_COLORS[int(rng.integers(len(DRAPE_COLORS)))], np.float32)
    folds = 0.75 + 0.25 * np.tanh(_blurred_noise(rng, h, w, 90) + 0.5 * _blurred_noise(rng, h, w, 25))
    img = base[None, None, :] * folds[..., None]
    light = 0.7 + 0.5 * np.exp(-(((np.arange(w)[None, :] - rng.uniform(0, w)) / (0.6 * w)) ** 2
                                  + ((np.arange(h)[:, None] - rng.uniform(0, h)) / (0.6 * h)) ** 2))
    img = np.clip(img * light[..., None], 0, 255).astype(np.uint8)
    items = [_screen, _paper, _face, _glove, _lamp, _face, _paper, _glove]
    for k in range(int(rng.integers(6, 12))):
        items[int(rng.integers(len(items)))](rng, img)
    return img


def _screen(rng, img):
    h, w = img.shape[:2]
    sw, sh = int(rng.uniform(0.12, 0.3) * w), int(rng.uniform(0.1, 0.25) * h)
    x, y = int(rng.uniform(0, w - sw)), int(rng.uniform(0, h - sh))
    cv2.rectangle(img, (x - 8, y - 8), (x + sw + 8, y + sh + 8), (30, 30, 30), -1)
    cv2.rectangle(img, (x, y), (x + sw, y + sh), tuple(int(c) for c in rng.integers(10, 70, 3)), -1)
    for k in range(int(rng.integers(2, 6))):             # vital-sign traces and numbers
        col = tuple(int(c) for c in rng.choice([(80, 255, 80), (255, 255, 80), (80, 200, 255), (230, 230, 230)]))
        yy = y + int((k + 0.7) * sh / 6)
        pts = [(x + i * sw // 40, yy + int(8 * math.sin(i * rng.uniform(0.3, 1.2)))) for i in range(40)]
        cv2.polylines(img, [np.array(pts, np.int32)], False, col, 2, cv2.LINE_AA)
        cv2.putText(img, str(rng.choice(WORDS)), (x + sw - sw // 3, yy), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.4, sh / 250), col, 1, cv2.LINE_AA)


def _paper(rng, img):
    h, w = img.shape[:2]
    pw, ph = int(rng.uniform(0.08, 0.2) * w), int(rng.uniform(0.15, 0.35) * h)
    x, y = int(rng.uniform(0, w - pw)), int(rng.uniform(0, h - ph))
    shade = int(rng.uniform(200, 250))
    cv2.rectangle(img, (x, y), (x + pw, y + ph), (shade, shade, shade - 5), -1)
    for k in range(int(ph / 22)):
        cv2.putText(img, " ".join(str(rng.choice(WORDS)) for _ in range(3)), (x + 6, y + 20 + 22 * k),
                    cv2.FONT_HERSHEY_SIMPLEX, max(0.35, pw / 500), (20, 20, 20), 1, cv2.LINE_AA)


def _face(rng, img):
    h, w = img.shape[:2]
    r = int(rng.uniform(0.05, 0.14) * h)
    cx, cy = int(rng.uniform(r, w - r)), int(rng.uniform(r, h - r))
    skin = tuple(int(c) for c in SKIN_COLORS[int(rng.integers(len(SKIN_COLORS)))])
    cv2.ellipse(img, (cx, cy - int(0.2 * r)), (int(1.05 * r), int(1.25 * r)), 0, 180, 360,
                tuple(int(c) for c in rng.integers(10, 90, 3)), -1, cv2.LINE_AA)          # hair / cap
    cv2.ellipse(img, (cx, cy), (int(0.8 * r), r), 0, 0, 360, skin, -1, cv2.LINE_AA)
    for dx in (-1, 1):
        cv2.circle(img, (cx + dx * int(0.32 * r), cy - int(0.15 * r)), max(2, r // 9), (30, 30, 30), -1, cv2.LINE_AA)
    if rng.random() < 0.6:                                  # a surgical mask
        cv2.ellipse(img, (cx, cy + int(0.45 * r)), (int(0.75 * r), int(0.45 * r)), 0, 0, 360,
                    (200, 170, 120), -1, cv2.LINE_AA)
    else:
        cv2.ellipse(img, (cx, cy + int(0.45 * r)), (int(0.3 * r), int(0.1 * r)), 0, 0, 360, (60, 60, 140), -1)


def _glove(rng, img):
    h, w = img.shape[:2]
    s = rng.uniform(0.05, 0.12) * h
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    col = tuple(int(c) for c in GLOVE_COLORS[int(rng.integers(len(GLOVE_COLORS)))])
    ang = rng.uniform(0, 2 * math.pi)
    cv2.ellipse(img, (int(cx), int(cy)), (int(s), int(0.8 * s)), math.degrees(ang), 0, 360, col, -1, cv2.LINE_AA)
    for k in range(5):
        a = ang + (k - 2) * 0.35
        tip = (int(cx + math.cos(a) * 2.0 * s), int(cy + math.sin(a) * 2.0 * s))
        cv2.line(img, (int(cx), int(cy)), tip, col, max(2, int(0.35 * s)), cv2.LINE_AA)


def _lamp(rng, img):
    h, w = img.shape[:2]
    r = int(rng.uniform(0.06, 0.15) * h)
    cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
    cv2.circle(img, (cx, cy), int(1.4 * r), (170, 170, 175), -1, cv2.LINE_AA)
    for k in range(int(rng.integers(3, 8))):
        a = 2 * math.pi * k / 7
        cv2.circle(img, (cx + int(0.6 * r * math.cos(a)), cy + int(0.6 * r * math.sin(a))), max(3, r // 4),
                   (255, 255, 255), -1, cv2.LINE_AA)
    glow = np.zeros(img.shape[:2], np.float32)
    cv2.circle(glow, (cx, cy), 2 * r, 1.0, -1)
    glow = cv2.GaussianBlur(glow, (0, 0), r)
    img[:] = np.clip(img + 120 * glow[..., None], 0, 255).astype(np.uint8)


def theatre_view(canvas: np.ndarray, t: float, size: tuple[int, int], seed: int) -> np.ndarray:
    """What a withdrawn scope sees at time t: a moving, zooming window on the canvas, with blur and noise."""
    ch, cw = canvas.shape[:2]
    w, h = size
    rng = np.random.default_rng([seed, 29])
    a, b, c = rng.uniform(0, 1, 3)
    zoom = 0.35 + 0.3 * (0.5 + 0.5 * math.sin(2 * math.pi * (0.15 * t + c)))
    vw, vh = cw * zoom, cw * zoom * h / w
    vh = min(vh, ch * 0.95)
    x = (cw - vw) * (0.5 + 0.5 * math.sin(2 * math.pi * (0.11 * t + a)))
    y = (ch - vh) * (0.5 + 0.5 * math.sin(2 * math.pi * (0.08 * t + b)))
    m = np.float32([[w / vw, 0, -x * w / vw], [0, h / vh, -y * h / vh]])
    view = cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    frame_rng = np.random.default_rng([seed, int(t * 1000), 31])
    if frame_rng.random() < 0.4:
        view = cv2.GaussianBlur(view, (0, 0), frame_rng.uniform(0.8, 3.0))
    noise = frame_rng.normal(0, 3, view.shape).astype(np.float32)
    return np.clip(view.astype(np.float32) + noise, 0, 255).astype(np.uint8)


_CANVASES: dict[tuple, np.ndarray] = {}


def withdrawn(bgr: np.ndarray, labels: np.ndarray, t: float, schedule: list[tuple[float, float]], seed: int,
              outs: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The frame at time t of a clip with withdrawals; appends its truth (1 = out) to `outs`."""
    where, darkness, k = phase(t, schedule)
    outs.append(0 if where == "in" else 1)
    if where == "in":
        return bgr, labels
    blank = np.zeros_like(labels)
    if where == "dark":
        return cannula(bgr, darkness), blank
    h, w = bgr.shape[:2]
    key = (seed, k, w, h)
    if key not in _CANVASES:
        _CANVASES.clear()
        _CANVASES[key] = theatre_canvas(seed * 100 + k, (int(w * 1.6), int(h * 1.6)))
    return theatre_view(_CANVASES[key], t, (w, h), seed * 100 + k), blank


def photo_canvas(photo: str | Path, size: tuple[int, int]) -> np.ndarray:
    """A photograph stretched to cover a canvas of `size` (the scope pans over it like over the theatre)."""
    img = cv2.imread(str(photo))
    if img is None:
        raise ConfigError(f"{photo}: not an image")
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if img.shape[1] > size[0] else cv2.INTER_CUBIC)


def write_heldout_clip(src: str | Path, out: str | Path, spec: str, photos: list[Path], fps: float = 30.0) -> Path:
    """`src` (an in-body clip) with the scope withdrawn on `spec`, the withdrawals filmed over real
    photographs (`photos`, one per withdrawal in turn): out-of-body content the project never generated.
    Truth in <out>.oob.csv."""
    import av
    from fractions import Fraction
    schedule = parse_schedule(spec)
    if not photos:
        raise ConfigError("held-out clip: no photographs found")
    outs: list[int] = []
    canvases: dict[int, np.ndarray] = {}
    with av.open(str(src)) as inp, av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        vs = inp.streams.video[0]
        stream.width, stream.height, stream.pix_fmt = vs.width, vs.height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for i, frame in enumerate(inp.decode(video=0)):
            bgr = frame.to_ndarray(format="bgr24")
            h, w = bgr.shape[:2]
            where, darkness, k = phase(i / fps, schedule)
            outs.append(0 if where == "in" else 1)
            if where == "dark":
                bgr = cannula(bgr, darkness)
            elif where == "theatre":
                if k not in canvases:
                    canvases[k] = photo_canvas(photos[k % len(photos)], (int(w * 1.6), int(h * 1.6)))
                bgr = theatre_view(canvases[k], i / fps, (w, h), 1000 + k)
            for packet in stream.encode(av.VideoFrame.from_ndarray(bgr, format="bgr24")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    write_truth(truth_path(out), outs)
    return Path(out)


def write_truth(path: str | Path, outs: list[int]) -> Path:
    """`frame,out` per frame (1 = out of the body)."""
    path = Path(path)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("frame", "out"))
        w.writerows(enumerate(outs))
    return path


def read_truth(path: str | Path) -> np.ndarray:
    with Path(path).open() as f:
        return np.array([int(r["out"]) for r in csv.DictReader(f)], np.uint8)


def truth_path(video: str | Path) -> Path:
    return Path(str(video) + ".oob.csv")


PHOTO_GLOBS = (                     # real photographs and screenshots shipped inside installed packages
    "**/site-packages/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
    "**/site-packages/sklearn/datasets/images/*.jpg",
    "**/site-packages/skimage/data/*.png",
    "**/site-packages/skimage/data/*.jpg",
)
EXTRA_PHOTO_DIRS = ("/usr/share/doc/valgrind/html/images", "/usr/share/backgrounds", "/usr/share/pixmaps")


def held_out_photos(roots: tuple[str, ...] = (), min_side: int = 200) -> list[Path]:
    """Photographs and screenshots on this machine that the project never generated (a held-out test)."""
    import sys
    found: set[Path] = set()
    for prefix in {sys.prefix, *roots}:
        for pattern in PHOTO_GLOBS:
            found.update(Path(p) for p in glob.glob(str(Path(prefix) / pattern), recursive=True))
            found.update(Path(p) for p in glob.glob(str(Path(prefix) / pattern.replace("**/site-packages", "lib/python*/site-packages")), recursive=True))
    for d in EXTRA_PHOTO_DIRS:
        found.update(Path(p) for p in glob.glob(f"{d}/*.png") + glob.glob(f"{d}/*.jpg"))
    ok = []
    for p in sorted(found):
        img = cv2.imread(str(p))
        if img is not None and min(img.shape[:2]) >= min_side:
            ok.append(p)
    return sorted({p.resolve() for p in ok})



__all__ = ["parse_schedule", "phase", "cannula", "theatre_canvas", "theatre_view", "write_truth", "read_truth",
           "truth_path", "held_out_photos", "withdrawn", "write_heldout_clip", "photo_canvas", "DARK_S"]
