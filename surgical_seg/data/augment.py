"""Training augmentation as one affine warp + photometric jitter.

Scale, rotation, flip, translation and the letterbox to the model input are composed into a
single cv2.warpAffine (image bilinear, labels nearest), so the identity parameters give exactly
the engine's letterbox (centred, black padding). Padding is labelled background, like the black
surround of the scope: black is never anatomy. `degrade_prob` applies the theatre-video chain
of `degrade.py` (crop, gamma, white balance, blur, noise, JPEG) first. `scale_log: true` draws the
scale log-uniformly (scale [0.5, 2.0]: as many frames zoomed out 2x as zoomed in 2x).
`rescope_prob`: a frame zoomed in (scale > RESCOPE_MIN_SCALE) gets a new scope circle and its light
fall-off at frame size, as a scope nearer the tissue shows it: textures large, the circle and the dim rim
where they were. Zooming the whole frame moves the circle out of the picture, so without this the model
never sees large textures inside a visible rim (the held-out zoom-2 clip's failure, docs/model.md).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .degrade import degrade
from .synth import SCOPE_RADIUS, light_falloff

RESCOPE_MIN_SCALE = 1.15


def rescope(img: np.ndarray, lab: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A new scope circle on a frame: light falling off towards its rim (synth's optics), black and
    background outside."""
    h, w = lab.shape
    radius = rng.uniform(*SCOPE_RADIUS) * h
    cx, cy = w / 2 + rng.uniform(-0.05, 0.05) * h, h / 2 + rng.uniform(-0.05, 0.05) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / radius
    out = img.astype(np.float32) * light_falloff(r)[..., None]
    outside = r > 1.0
    out[outside] = rng.normal(2.5, 1.5, (int(outside.sum()), 3)).clip(0, 255)
    lab = lab.copy()
    lab[outside] = 0                      # background, as the black surround of every frame
    return np.clip(out, 0, 255).astype(np.uint8), lab


def letterbox_matrix(src_w: int, src_h: int, dst_w: int, dst_h: int, scale: float = 1.0, angle_deg: float = 0.0,
                     flip: bool = False, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """2x3 matrix: fit src into dst keeping aspect ratio (centred), then zoom/rotate/flip/shift."""
    fit = min(dst_w / src_w, dst_h / src_h) * scale
    a = math.radians(angle_deg)
    c, s = math.cos(a) * fit, math.sin(a) * fit
    fx = -1.0 if flip else 1.0
    m = np.array([[c * fx, -s, 0.0], [s * fx, c, 0.0]], np.float64)
    # move the source centre to the destination centre (+ shift in destination pixels)
    src_c = np.array([(src_w - 1) / 2, (src_h - 1) / 2])
    dst_c = np.array([(dst_w - 1) / 2 + shift[0], (dst_h - 1) / 2 + shift[1]])
    m[:, 2] = dst_c - m[:, :2] @ src_c
    return m


def warp_pair(img: np.ndarray, lab: np.ndarray, m: np.ndarray, size: tuple[int, int]):
    w, h = size
    out_img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out_lab = cv2.warpAffine(lab, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
    return out_img, out_lab


class Augment:
    """Random geometric + photometric augmentation; `None` settings mean evaluation (letterbox only)."""

    def __init__(self, size: tuple[int, int], settings: dict | None):
        self.size = size
        self.s = settings

    def __call__(self, img: np.ndarray, lab: np.ndarray, rng: np.random.Generator):
        h, w = lab.shape
        if not self.s:
            return warp_pair(img, lab, letterbox_matrix(w, h, *self.size), self.size)
        if rng.random() < float(self.s.get("degrade_prob", 0.0)):
            img, (lab,) = degrade(img, [lab], rng, crop=rng.random() < 0.5)
        lo, hi = self.s.get("scale", [1.0, 1.0])
        if self.s.get("scale_log", False):   # as often 2x smaller as 2x larger: textures at 0.5-2x
            scale = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        else:
            scale = float(rng.uniform(lo, hi))
        angle = float(rng.uniform(-1, 1) * self.s.get("rotate_deg", 0.0))
        flip = bool(self.s.get("flip", False) and rng.random() < 0.5)
        free = max(0.0, scale - 0.8)
        shift = (float(rng.uniform(-free, free) * self.size[0] / 2), float(rng.uniform(-free, free) * self.size[1] / 2))
        img, lab = warp_pair(img, lab, letterbox_matrix(w, h, *self.size, scale, angle, flip, shift), self.size)
        if flip and rng.random() < 0.5:   # vertical flips too: scopes are rotated freely
            img, lab = img[::-1].copy(), lab[::-1].copy()
        if scale > RESCOPE_MIN_SCALE and rng.random() < float(self.s.get("rescope_prob", 0.0)):
            img, lab = rescope(img, lab, rng)
        j = float(self.s.get("color_jitter", 0.0))
        if j > 0:
            f = img.astype(np.float32)
            gains = rng.uniform(1 - j, 1 + j, 3).astype(np.float32) * rng.uniform(1 - j, 1 + j)
            mean = f.mean(axis=(0, 1), keepdims=True)
            contrast = rng.uniform(1 - j, 1 + j)
            f = (f - mean) * contrast + mean
            grey = f.mean(axis=2, keepdims=True)
            f = grey + (f - grey) * rng.uniform(1 - j, 1 + j)          # saturation
            img = np.clip(f * gains, 0, 255).astype(np.uint8)
        if rng.random() < float(self.s.get("blur_prob", 0.0)):
            img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 1.6)))
        return img, lab


__all__ = ["Augment", "letterbox_matrix", "rescope", "warp_pair"]
