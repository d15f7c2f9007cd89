"""Theatre-video degradations: what a real scope tower, capture card and encoder do to a frame.

Used twice, so training and evaluation mean the same thing by "degraded": as augmentation
(`augment.degrade_prob`) and by `surgical-seg eval --degrade` (deterministic per frame).
"""
from __future__ import annotations

import cv2
import numpy as np


def crop_16_9(img: np.ndarray, masks: list[np.ndarray], rng: np.random.Generator,
              keep: tuple[float, float] = (0.75, 0.92)) -> tuple[np.ndarray, list[np.ndarray]]:
    """A random 16:9 window of 75-92 % of the width, scaled back to the frame size (a zoomed,
    recentred capture: the scope circle may be cut). Masks are resampled nearest-neighbour."""
    h, w = img.shape[:2]
    cw = int(w * rng.uniform(*keep))
    ch = min(h, int(round(cw * 9 / 16)))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    out = cv2.resize(img[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    return out, [cv2.resize(m[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_NEAREST) for m in masks]


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma and white-balance shift, blur, sensor noise, then JPEG (in that order, as in a camera chain)."""
    f = img.astype(np.float32) / 255.0
    f = np.power(f, rng.uniform(0.7, 1.45))                                   # gamma / exposure
    f *= rng.uniform(0.85, 1.15, 3).astype(np.float32)                        # white balance, BGR gains
    f = np.clip(f * 255.0, 0, 255)
    sigma = rng.uniform(0.5, 1.8)
    f = cv2.GaussianBlur(f, (0, 0), sigma)
    f += rng.normal(0, rng.uniform(2.0, 7.0), f.shape).astype(np.float32)
    out = np.clip(f, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 71))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else out


def degrade(img: np.ndarray, masks: list[np.ndarray], rng: np.random.Generator,
            crop: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
    """All degradations at once: a 16:9 crop (optional), then the photometric chain."""
    if crop:
        img, masks = crop_16_9(img, masks, rng)
    return photometric(img, rng), masks


__all__ = ["degrade", "crop_16_9", "photometric"]
