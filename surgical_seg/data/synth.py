"""Synthetic transforaminal endoscopy scenes with exact labels (we have no clinical data).

A scene is tissue territories (bone, ligamentum flavum, disc, and unlabelled soft tissue) with
class textures that carry the signal, colours that deliberately overlap between classes (blood-
stained bone, yellow fat beside yellow ligament, white nerve root and bone dust beside white
disc), then things that are never labelled as the three classes (fat, nerve root / dura,
vessels, blood, instruments), then optics and nuisances (scope circle, vignetting, speculars,
bubbles, fog, blur, white balance, noise, JPEG). Everything is drawn from one seeded RNG, so a
seed gives the same pixels on every machine that has the same NumPy/OpenCV.

Labels: 0 background (everything else, instruments and the black surround outside the scope
circle included), 1 bone, 2 ligament, 3 disc. `--instrument-masks` also writes where instruments
are, so evaluation can check that no anatomy is painted on them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..modelcard import CLASS_COLORS_RGB, IGNORE_INDEX
from ..errors import ConfigError

BG, BONE, LIG, DISC = 0, 1, 2, 3

# Tints (BGR, 0..1) per tissue; the lists overlap on purpose so colour alone cannot separate classes.
TINTS = {
    "bone": [(0.78, 0.88, 0.93), (0.62, 0.80, 0.90), (0.55, 0.62, 0.85), (0.86, 0.90, 0.92), (0.45, 0.70, 0.85)],
    "ligament": [(0.25, 0.75, 0.92), (0.45, 0.82, 0.92), (0.20, 0.60, 0.85), (0.70, 0.85, 0.92), (0.40, 0.55, 0.80)],
    "disc": [(0.92, 0.92, 0.92), (0.95, 0.88, 0.82), (0.80, 0.88, 0.93), (0.70, 0.82, 0.90), (0.80, 0.80, 0.90)],
    "soft": [(0.30, 0.35, 0.75), (0.40, 0.45, 0.80), (0.25, 0.25, 0.60), (0.45, 0.60, 0.85)],
    "fat": [(0.20, 0.75, 0.95), (0.35, 0.85, 0.95), (0.15, 0.60, 0.90)],
    "nerve": [(0.85, 0.85, 0.95), (0.75, 0.80, 0.95), (0.88, 0.90, 0.92)],
}


SCOPE_RADIUS = (0.46, 0.62)     # the scope circle's radius, drawn from this range, as a share of the frame height


def light_falloff(r: np.ndarray) -> np.ndarray:
    """Brightness factor at `r` (distance from the scope's centre over its radius): light falls off
    towards the rim (synth's optics; augment.rescope and the zoom probe draw the same rim)."""
    return np.clip(1.1 - 0.7 * r ** 2, 0.15, 1.1)


@dataclass(frozen=True)
class Style:
    """What stays the same across the frames of one synthetic 'patient' / video."""
    tints: dict
    white_balance: tuple[float, float, float]
    scope_radius: float      # fraction of frame height
    scope_offset: tuple[float, float]
    brightness: float

    @staticmethod
    def random(rng: np.random.Generator) -> "Style":
        return Style(
            tints={k: v[rng.integers(len(v))] for k, v in TINTS.items()},
            white_balance=tuple(float(x) for x in rng.uniform(0.85, 1.15, 3)),
            scope_radius=float(rng.uniform(*SCOPE_RADIUS)),
            scope_offset=tuple(float(x) for x in rng.uniform(-0.04, 0.04, 2)),
            brightness=float(rng.uniform(0.75, 1.15)),
        )


# ---------------------------------------------------------------- textures

def _noise(rng, h, w, scale):
    """Smooth noise with features about `scale` pixels wide, zero mean, unit std."""
    gh, gw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    n = cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return (n - n.mean()) / (n.std() + 1e-6)


def _fibres(rng, h, w, angle_deg, length=40.0, width=2.5):
    """Streaks along one direction: ligamentum flavum's longitudinal fibres."""
    d = int(math.hypot(h, w)) + 4
    n = rng.standard_normal((max(2, int(d / width)), max(2, int(d / length)))).astype(np.float32)
    n = cv2.resize(n, (d, d), interpolation=cv2.INTER_LINEAR)
    m = cv2.getRotationMatrix2D((d / 2, d / 2), angle_deg, 1.0)
    m[:, 2] += (w - d) / 2, (h - d) / 2
    n = cv2.warpAffine(n, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return (n - n.mean()) / (n.std() + 1e-6)


def _lamellae(rng, h, w, period):
    """Concentric curved lamellae: the annulus fibrosus of the disc."""
    cy, cx = rng.uniform(-1.5, 2.5) * h, rng.uniform(-1.0, 2.0) * w
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dist = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) + 6.0 * _noise(rng, h, w, 40)
    return np.sin(2 * np.pi * dist / period).astype(np.float32)


def _pores(rng, h, w, scale):
    """Cancellous bone: dark irregular pores in a mottled matrix (0 = solid, 1 = pore)."""
    n = _noise(rng, h, w, scale)
    return np.clip((n - 0.9) * 2.5, 0, 1)


def _colourise(base_bgr, shade):
    return np.asarray(base_bgr, np.float32)[None, None, :] * shade[..., None]


# ---------------------------------------------------------------- scene

def _territories(rng, h, w, unit=None):
    """Label map of tissue territories with smooth anatomical boundaries."""
    s = unit or h / 360.0
    present = rng.random(3) < np.array([0.8, 0.75, 0.7])
    if not present.any():
        present[rng.integers(3)] = True
    fields = [_noise(rng, h, w, s * rng.uniform(90, 220)) + rng.uniform(-0.3, 0.5)]          # soft tissue
    for k in range(3):
        fields.append(_noise(rng, h, w, s * rng.uniform(90, 220)) + (rng.uniform(0.0, 0.8) if present[k] else -9))
    return np.argmax(np.stack(fields), axis=0).astype(np.uint8)


def _tissue(rng, style, labels, unit=None):
    """Colour + texture per territory. Texture is the real cue; colours overlap between classes."""
    h, w = labels.shape
    s = unit or h / 360.0   # texture sizes are designed at 360 lines and scale with the frame (see `unit`)
    img = np.zeros((h, w, 3), np.float32)
    # soft tissue / muscle: red with faint striations
    shade = 0.75 + 0.12 * _noise(rng, h, w, s * 30) + 0.06 * _fibres(rng, h, w, rng.uniform(0, 180), 25 * s, 4 * s)
    layer = _colourise(style.tints["soft"], shade)
    img[labels == BG] = layer[labels == BG]
    # bone: porous cancellous matrix, sometimes burr grooves, sometimes blood-stained
    pores = _pores(rng, h, w, s * rng.uniform(2.5, 5.0))
    shade = 0.85 + 0.10 * _noise(rng, h, w, s * 12) - 0.45 * pores
    if rng.random() < 0.5:
        grooves = _lamellae(rng, h, w, s * rng.uniform(5, 9)) * (_noise(rng, h, w, s * 60) > 0.3)
        shade += 0.08 * grooves
    tint = np.asarray(style.tints["bone"], np.float32)
    layer = _colourise(tint, shade)
    if rng.random() < 0.4:   # blood-stained bone is still bone
        stain = np.clip(0.5 + 0.4 * _noise(rng, h, w, s * 50), 0, 0.8)[..., None]
        layer = layer * (1 - stain) + stain * np.array([0.15, 0.15, 0.6], np.float32) * shade[..., None]
    img[labels == BONE] = layer[labels == BONE]
    # ligamentum flavum: longitudinal fibres
    angle = rng.uniform(0, 180)
    shade = 0.82 + 0.16 * _fibres(rng, h, w, angle, s * rng.uniform(30, 60), s * rng.uniform(1.8, 3.5)) \
        + 0.06 * _noise(rng, h, w, s * 40)
    layer = _colourise(style.tints["ligament"], shade)
    img[labels == LIG] = layer[labels == LIG]
    # disc: glossy lamellae + nucleus fragments
    shade = 0.86 + 0.10 * _lamellae(rng, h, w, s * rng.uniform(7, 14)) + 0.05 * _noise(rng, h, w, s * 25)
    frags = _noise(rng, h, w, s * 14) > 1.1
    shade = np.where(frags, shade + 0.08, shade)
    layer = _colourise(style.tints["disc"], shade)
    gloss = np.clip(_noise(rng, h, w, s * 20) - 1.6, 0, 1)[..., None] * 0.6
    layer = layer * (1 - gloss) + gloss
    img[labels == DISC] = layer[labels == DISC]
    # soften territory edges a little (tissue does not have aliased borders)
    return cv2.GaussianBlur(img, (0, 0), 0.8 * s)


def _random_curve(rng, h, w, n=4):
    pts = np.stack([rng.uniform(-0.1, 1.1, n) * w, rng.uniform(-0.1, 1.1, n) * h], 1)
    t = np.linspace(0, 1, 60)[:, None]
    # Bezier of degree n-1
    out = np.zeros((60, 2))
    for i, p in enumerate(pts):
        out += math.comb(n - 1, i) * (t ** i) * ((1 - t) ** (n - 1 - i)) * p
    return out.astype(np.int32)


def _negatives(rng, style, img, labels, nerve_id=BG, unit=None):
    """Unlabelled look-alikes drawn over the tissue; they take label 0 where they cover it
    (the nerve root / dura takes `nerve_id`: 0, or its own class with synth --classes ...,nerve)."""
    h, w = labels.shape
    s = unit or h / 360.0
    # nerve root / dura: a smooth white-pink tube with surface vessels (hard negative for disc)
    if rng.random() < 0.45:
        curve = _random_curve(rng, h, w, 3)
        thick = int(rng.uniform(25, 60) * s)
        mask = np.zeros((h, w), np.uint8)
        cv2.polylines(mask, [curve], False, 255, thick)
        dist = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
        shade = 0.65 + 0.35 * np.clip(dist / (thick / 2 + 1e-6), 0, 1) + 0.04 * _noise(rng, h, w, s * 20)
        layer = _colourise(style.tints["nerve"], shade)
        for _ in range(int(rng.integers(2, 5))):
            v = _random_curve(rng, h, w, 4)
            cv2.polylines(layer, [v], False, (0.35, 0.35, 0.75), max(1, int(1.5 * s)), cv2.LINE_AA)
        m = mask > 0
        img[m] = layer[m]
        labels[m] = nerve_id
    # fat globules (yellow, like ligament): clusters of round cells with bright rims
    for _ in range(int(rng.integers(0, 3))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        tint = np.asarray(style.tints["fat"], np.float32)
        mask = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(8, 30))):
            r = rng.uniform(6, 16) * s
            x, y = int(cx + rng.normal(0, 30 * s)), int(cy + rng.normal(0, 30 * s))
            col = tuple(float(c) for c in tint * rng.uniform(0.85, 1.05))
            cv2.circle(img, (x, y), int(r), col, -1, cv2.LINE_AA)
            cv2.circle(img, (x, y), int(r), tuple(float(c) * 0.7 for c in col), max(1, int(s)), cv2.LINE_AA)
            cv2.circle(img, (int(x - r / 3), int(y - r / 3)), max(1, int(r / 4)), (1, 1, 1), -1, cv2.LINE_AA)
            cv2.circle(mask, (x, y), int(r), 255, -1)
        labels[mask > 0] = BG
    # epidural vessels
    for _ in range(int(rng.choice([0, 0, 1, 2]))):
        v = _random_curve(rng, h, w, 4)
        thick = max(2, int(rng.uniform(2, 6) * s))
        mask = np.zeros((h, w), np.uint8)
        cv2.polylines(mask, [v], False, 255, thick, cv2.LINE_AA)
        col = np.array([0.25, 0.1, 0.45] if rng.random() < 0.5 else [0.15, 0.12, 0.55], np.float32)
        a = (mask.astype(np.float32) / 255.0)[..., None]
        img[:] = img * (1 - a) + a * col
        labels[mask > 128] = BG
    # bleeding: translucent stains keep the label, thick clots hide it
    if rng.random() < 0.5:
        alpha = np.clip(_noise(rng, h, w, s * rng.uniform(40, 100)) * 0.5 - rng.uniform(0.0, 0.6), 0, 0.95)
        img[:] = img * (1 - alpha[..., None]) + alpha[..., None] * np.array([0.05, 0.05, 0.4], np.float32)
        labels[alpha > 0.7] = BG
    # bone dust: white speckles on anything (hard negative for bone/disc); label unchanged
    if rng.random() < 0.5:
        n = int(rng.integers(20, 120))
        for _ in range(n):
            cv2.circle(img, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), max(1, int(rng.uniform(1, 3) * s)),
                       (0.95, 0.95, 0.95), -1, cv2.LINE_AA)


INSTRUMENT_TIPS = ("round", "jaws", "burr", "cannula", "hook")


def _instrument(rng, img, labels, tip=None, angle=None, kind=None, instruments=None, unit=None):
    """A metal instrument entering from the rim of the view (label 0: it hides the tissue).

    Endoscopic spine instruments differ in the tip (rounded probe, forceps jaws, burr ball, open
    cannula, hook), size with depth, finish (bright steel, gold, black coating), glare and focus;
    every variant is drawn so the model learns that none of it is anatomy. `instruments` (HxW
    uint8, optional) gets 255 where the instrument is.
    """
    h, w = labels.shape
    s = unit or h / 360.0
    if tip is None:
        tip = (rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h)
    if angle is None:
        angle = rng.uniform(0, 2 * np.pi)
    kind = kind or INSTRUMENT_TIPS[int(rng.integers(len(INSTRUMENT_TIPS)))]
    width = rng.uniform(14, 55) * s                       # depth: near instruments are wide
    ca, sa = math.cos(angle), math.sin(angle)             # shaft direction: from the tip outwards
    nx, ny = -sa * width / 2, ca * width / 2
    far = (tip[0] + ca * 2 * w, tip[1] + sa * 2 * w)
    mask = np.zeros((h, w), np.uint8)
    poly = np.array([[tip[0] + nx, tip[1] + ny], [far[0] + nx, far[1] + ny],
                     [far[0] - nx, far[1] - ny], [tip[0] - nx, tip[1] - ny]], np.int32)
    cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA)
    t = (int(tip[0]), int(tip[1]))
    dark = np.zeros((h, w), np.uint8)                     # openings/grooves drawn dark on the metal
    if kind == "round":
        cv2.circle(mask, t, int(width / 2), 255, -1, cv2.LINE_AA)
    elif kind == "burr":
        cv2.circle(mask, t, int(width * rng.uniform(0.6, 0.9)), 255, -1, cv2.LINE_AA)
        for k in range(8):                                # flutes of the burr
            a = angle + k * np.pi / 4
            cv2.line(dark, t, (int(t[0] + math.cos(a) * width * 0.7), int(t[1] + math.sin(a) * width * 0.7)),
                     255, max(1, int(2 * s)))
        dark &= mask
    elif kind == "cannula":                               # open tube end: a dark lumen
        cv2.ellipse(mask, t, (max(1, int(width * 0.2)), int(width / 2)), math.degrees(angle), 0, 360, 255, -1)
        cv2.ellipse(dark, t, (max(1, int(width * 0.12)), int(width * 0.35)), math.degrees(angle), 0, 360, 255, -1)
    elif kind == "hook":
        end = (int(tip[0] - ca * width * 1.2 + nx * 1.6), int(tip[1] - sa * width * 1.2 + ny * 1.6))
        cv2.line(mask, t, end, 255, max(2, int(width * 0.35)), cv2.LINE_AA)
        cv2.circle(mask, end, max(1, int(width * 0.18)), 255, -1, cv2.LINE_AA)
    else:                                                 # forceps / rongeur jaws, opened a little
        opening = rng.uniform(0.1, 0.6)
        jaw_len = width * rng.uniform(1.0, 1.8)
        for side in (-1, 1):
            a = angle + np.pi + side * opening
            end = (int(tip[0] + math.cos(a) * jaw_len), int(tip[1] + math.sin(a) * jaw_len))
            cv2.line(mask, t, end, 255, max(2, int(width * 0.42)), cv2.LINE_AA)
            cv2.circle(mask, end, max(1, int(width * 0.21)), 255, -1, cv2.LINE_AA)
        cv2.circle(mask, t, int(width * 0.45), 255, -1, cv2.LINE_AA)
    # cylinder shading across the shaft, a glare streak along it, glints on the tip
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    across = ((xx - tip[0]) * -sa + (yy - tip[1]) * ca) / (width / 2)
    streak = rng.uniform(-0.6, 0.6)
    glare = rng.uniform(0.3, 0.9)
    shade = 0.3 + 0.45 * np.clip(1 - across ** 2, 0, 1) + glare * np.exp(-((across - streak) / 0.12) ** 2)
    finish = [(0.78, 0.76, 0.74), (0.85, 0.85, 0.85), (0.35, 0.65, 0.80), (0.18, 0.18, 0.20),
              (0.60, 0.62, 0.66)][int(rng.choice(5, p=[0.35, 0.2, 0.15, 0.15, 0.15]))]
    grey = np.clip(shade, 0, 1.3)[..., None] * np.array(finish, np.float32)
    grey[dark > 0] *= 0.25
    for _ in range(int(rng.integers(1, 4))):              # specular glints near the tip
        g = (int(tip[0] + rng.normal(0, width * 0.3)), int(tip[1] + rng.normal(0, width * 0.3)))
        cv2.circle(grey, g, max(1, int(rng.uniform(1.5, 5) * s)), (1.4, 1.4, 1.4), -1, cv2.LINE_AA)
    a = (mask.astype(np.float32) / 255.0)
    if rng.random() < 0.35:                               # out of focus: too near or too far
        sigma = rng.uniform(1.0, 3.5) * s
        a = cv2.GaussianBlur(a, (0, 0), sigma)
        grey = cv2.GaussianBlur(grey, (0, 0), sigma)
    a = a[..., None]
    img[:] = img * (1 - a) + grey * a
    hit = a[..., 0] > 0.5
    labels[hit] = BG
    if instruments is not None:
        instruments[hit] = 255


def _optics(rng, style, img, labels, strength=1.0, instruments=None, unit=None):
    """Speculars, bubbles, fog, white balance, vignetting, scope circle, blur, noise."""
    h, w = labels.shape
    s = unit or h / 360.0
    for _ in range(int(rng.integers(0, 12 * strength + 1))):   # specular highlights (saline-wet tissue)
        cv2.ellipse(img, (int(rng.uniform(0, w)), int(rng.uniform(0, h))),
                    (max(1, int(rng.uniform(2, 12) * s)), max(1, int(rng.uniform(1, 5) * s))),
                    rng.uniform(0, 180), 0, 360, (1.3, 1.3, 1.3), -1, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 6 * strength + 1))):    # bubbles
        c, r = (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(4, 20) * s)
        cv2.circle(img, c, r, (0.95, 0.95, 0.95), max(1, int(1.5 * s)), cv2.LINE_AA)
        cv2.circle(img, (c[0] - r // 3, c[1] - r // 3), max(1, r // 4), (1.2, 1.2, 1.2), -1, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 10 * strength + 1))):   # floating debris
        cv2.circle(img, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), max(1, int(rng.uniform(1, 3) * s)),
                   (0.2, 0.2, 0.3), -1, cv2.LINE_AA)
    if rng.random() < 0.3 * strength:                            # lens fog
        fog = np.clip(0.15 + 0.2 * _noise(rng, h, w, s * 150), 0, 0.5)[..., None]
        img[:] = img * (1 - fog) + fog * 0.85
    img *= np.asarray(style.white_balance, np.float32) * style.brightness * rng.uniform(0.85, 1.15)
    # light falls off from the centre of the scope; the scope circle is black outside
    cy = h / 2 + style.scope_offset[1] * h
    cx = w / 2 + style.scope_offset[0] * h
    radius = style.scope_radius * h * rng.uniform(0.97, 1.03)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / radius
    img *= light_falloff(r)[..., None]
    outside = r > 1.0
    img[outside] = 0.0
    labels[outside] = BG                  # the black surround is background: the model must learn it
    if instruments is not None:
        instruments[outside] = 0
    if rng.random() < 0.3 * strength:                            # motion blur
        k = int(rng.integers(3, 12))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kern = cv2.warpAffine(kern, rot, (k, k))
        img[:] = cv2.filter2D(img, -1, kern / max(kern.sum(), 1e-6))
    elif rng.random() < 0.3 * strength:                          # defocus
        img[:] = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 2.5))
    img += rng.normal(0, rng.uniform(0.004, 0.03), img.shape).astype(np.float32)   # sensor noise
    img[outside] = rng.normal(0.01, 0.006, (int(outside.sum()), 3)).clip(0, 1)
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)


def _jpeg(rng, bgr, lowest: int = 35):
    q = int(rng.integers(lowest, 95))
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else bgr


def render_sample(seed: int, size: tuple[int, int] = (640, 360), style: Style | None = None, nerve_id: int = BG):
    """One still frame, its label map and its instrument mask (255 = instrument, inside the scope)."""
    w, h = size
    rng = np.random.default_rng(seed)
    style = style or Style.random(rng)
    labels = _territories(rng, h, w)
    img = _tissue(rng, style, labels)
    _negatives(rng, style, img, labels, nerve_id)
    instruments = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.choice([0, 1, 1, 2, 3], p=[0.2, 0.35, 0.15, 0.2, 0.1]))):
        _instrument(rng, img, labels, instruments=instruments)
    bgr = _optics(rng, style, img, labels, instruments=instruments)
    return _jpeg(rng, bgr), labels, instruments


def render_frame(seed: int, size: tuple[int, int] = (640, 360), style: Style | None = None, nerve_id: int = BG):
    """One still frame and its label map. Returns (BGR uint8 HxWx3, labels uint8 HxW)."""
    img, labels, _ = render_sample(seed, size, style, nerve_id)
    return img, labels


# ---------------------------------------------------------------- dataset

SYNTH_CLASSES = ("bone", "ligament", "disc", "nerve")


def synth_classes(classes) -> tuple["ClassList", int]:
    """The class list synth writes and the id its nerve root / dura gets (0 unless 'nerve' is asked)."""
    from .classlist import ClassList
    names = tuple(str(c).strip().lower() for c in classes)
    if names not in (SYNTH_CLASSES[:3], SYNTH_CLASSES):
        raise ConfigError(f"synth: --classes must be bone,ligament,disc or bone,ligament,disc,nerve, not {','.join(names)}")
    return ClassList.from_foreground(names, "synth --classes"), (4 if "nerve" in names else BG)


def write_dataset(out: str | Path, n_images: int, seed: int = 0, size: tuple[int, int] = (640, 360),
                  frames_per_patient: int = 10, contact_sheet: str | None = None, progress: bool = True,
                  instrument_masks: bool = False, classes: tuple[str, ...] = ("bone", "ligament", "disc")) -> str:
    """Write images/, labels/ and a train/val/test split grouped by synthetic patient.

    Frames of one 'patient' share a style (tints, white balance, scope), like frames of one
    video, so the grouped split tests generalisation to unseen patients, as the study did.
    """
    from tqdm import tqdm

    if n_images <= 0:
        raise ConfigError(f"synth: --images must be > 0, not {n_images}")
    class_list, nerve_id = synth_classes(classes)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    class_list.save(out)
    if instrument_masks:
        (out / "instruments").mkdir(parents=True, exist_ok=True)
    styles: dict[int, Style] = {}
    for i in tqdm(range(n_images), desc="synth", unit="img", disable=not progress):
        patient = i // frames_per_patient
        if patient not in styles:
            styles[patient] = Style.random(np.random.default_rng([seed, patient, 1]))
        frame_seed = int(np.random.default_rng([seed, i, 2]).integers(2**31))
        img, lab, instruments = render_sample(frame_seed, size, styles[patient], nerve_id)
        stem = f"s{seed}p{patient:04d}_{i % frames_per_patient:04d}"
        cv2.imwrite(str(out / "images" / f"{stem}.png"), img)
        cv2.imwrite(str(out / "labels" / f"{stem}.png"), lab)
        if instrument_masks:
            cv2.imwrite(str(out / "instruments" / f"{stem}.png"), instruments)
    (out / "synth.json").write_text(json.dumps({
        "generator": "surgical_seg.data.synth", "seed": seed, "images": n_images, "size": list(size),
        "command": f"surgical-seg synth --out {out} --images {n_images} --seed {seed} --size {size[0]}x{size[1]}"
                   + (" --instrument-masks" if instrument_masks else "")
                   + (f" --classes {','.join(class_list.foreground)}" if nerve_id else ""),
        "classes": list(class_list.names)}))
    from .datasets import make_split
    counts = make_split(out, group_pattern=r"^(.+?)_\d+$", seed=seed)
    if contact_sheet:
        write_contact_sheet(out, contact_sheet)
    return f"wrote {n_images} images to {out} ({', '.join(f'{k} {v}' for k, v in counts.items())})"


def overlay_labels(bgr: np.ndarray, labels: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Labels drawn over a frame for contact sheets (a new array)."""
    lut = np.zeros((256, 3), np.uint8)
    for k, rgb in enumerate(CLASS_COLORS_RGB):
        lut[k] = rgb[::-1]
    colour = lut[labels]
    fg = ((labels > 0) & (labels != IGNORE_INDEX))[..., None]
    blend = cv2.addWeighted(bgr, 1 - opacity, colour, opacity, 0)
    return np.where(fg, blend, bgr)


def write_contact_sheet(data_dir: str | Path, out_png: str | Path, n: int = 8, thumb_w: int = 320) -> Path:
    """Top row: frames; bottom row: the same frames with their labels overlaid."""
    data_dir = Path(data_dir)
    stems = sorted(p.stem for p in (data_dir / "labels").glob("*.png"))[: n * 7: 7][:n]
    cols = []
    for stem in stems:
        img = cv2.imread(str(data_dir / "images" / f"{stem}.png"))
        lab = cv2.imread(str(data_dir / "labels" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        th = int(img.shape[0] * thumb_w / img.shape[1])
        a = cv2.resize(img, (thumb_w, th), interpolation=cv2.INTER_AREA)
        b = cv2.resize(overlay_labels(img, lab), (thumb_w, th), interpolation=cv2.INTER_AREA)
        cols.append(np.vstack([a, b]))
    tallest = max(c.shape[0] for c in cols)     # frames of clip stills differ in size (and by rounding)
    sheet = np.hstack([cv2.copyMakeBorder(c, 0, tallest - c.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
                       for c in cols])
    legend = np.full((28, sheet.shape[1], 3), 255, np.uint8)
    x = 8
    for name, rgb in zip(("bone", "ligament", "disc"), CLASS_COLORS_RGB[1:]):
        cv2.rectangle(legend, (x, 6), (x + 16, 22), rgb[::-1], -1)
        cv2.putText(legend, name, (x + 22, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        x += 140
    cv2.putText(legend, "synthetic frames (top) and exact labels (bottom); instruments and scope surround are background",
                (x, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (60, 60, 60), 1, cv2.LINE_AA)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), np.vstack([legend, sheet]))
    return out_png


__all__ = ["render_frame", "render_sample", "write_dataset", "write_contact_sheet", "overlay_labels", "Style"]


# ---------------------------------------------------------------- video

# Camera-motion presets for `synth --video --motion`: peak pan speed in px/s on a 1280-wide frame
# (scaled with the width); the pan swings back and forth inside the scene's margin, so the speed
# passes through 0 at each end. Without --motion the slow default path of the sample clip is kept.
MOTION_PX_S = {"slow": 60.0, "medium": 200.0, "fast": 500.0}


def _camera(t: float, rng_params: np.ndarray, w: int, h: int, margin: float, motion: str | None = None):
    """Smooth camera path: slow pan, breathing zoom and a little roll, as a hand-held scope."""
    a, b, c, d, e, f = rng_params
    fx, fy = 0.07, 0.05
    if motion is not None:             # pan frequency from the preset's peak speed: v = 2π f A
        amp = margin * w * 0.45
        fx = MOTION_PX_S[motion] * w / 1280.0 / (2 * math.pi * amp)
        fy = 0.7 * fx
    pan_x = margin * w * 0.45 * math.sin(2 * math.pi * (fx * t + a))
    pan_y = margin * h * 0.45 * math.sin(2 * math.pi * (fy * t + b))
    zoom = 1.0 + 0.18 * (0.5 + 0.5 * math.sin(2 * math.pi * (0.04 * t + c)))
    roll = 12.0 * math.sin(2 * math.pi * (0.03 * t + d))
    return pan_x, pan_y, zoom, roll, e, f


__all__ += ["MOTION_PX_S"]   # clips: synth_clips.write_video
