"""Postprocessing for graphs that end at the head's logits (model card `output: logits`).

The graph hands out 1xCxhxw class scores at the head's stride s (Fast-SCNN: 1/8 of the input), with no
softmax and no resize. Everything here samples those scores once, bilinearly, straight onto the grid it
needs: the frame's region of the letterboxed input (box) mapped through the stride, half-pixel centres,
as the old graph's final Resize (align_corners False) did. One cv2.warpAffine does crop + resize in one go.

  labels         argmax of the scores sampled at ~2x model resolution ("bilinear") or at the model input's
                 resolution then a nearest-neighbour resize ("nearest"); no softmax (argmax does not need it)
  confidence     softmax(z / T) top-class probability at model input resolution (the overlay's shading)
  probabilities  softmax(z / T) at frame resolution (evaluation's ROC, calibration)
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .preprocess import Letterbox, argmax_classes

_CHUNK = 4          # cv2.warpAffine takes at most 4 channels per call


def _matrix(box: Letterbox, stride: int, size: tuple[int, int]) -> np.ndarray:
    """2x3 inverse map: destination pixel (of a w x h grid over the frame) -> logit-grid coordinate."""
    w, h = size
    sx, sy = box.w / w, box.h / h                     # input pixels per destination pixel
    return np.array([[sx / stride, 0.0, (box.x + 0.5 * sx) / stride - 0.5],
                     [0.0, sy / stride, (box.y + 0.5 * sy) / stride - 0.5]], np.float64)


def sample(logits: np.ndarray, box: Letterbox, stride: int, size: tuple[int, int]) -> np.ndarray:
    """1xCxhxw (or Cxhxw) scores -> CxHxW float32 on a `size` (w, h) grid over the frame's region, bilinear."""
    z = logits[0] if logits.ndim == 4 else logits
    m = _matrix(box, stride, size)
    planes = []
    for c0 in range(0, z.shape[0], _CHUNK):
        hwc = np.ascontiguousarray(z[c0:c0 + _CHUNK].transpose(1, 2, 0), dtype=np.float32)
        out = cv2.warpAffine(hwc, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
        planes.append(out[..., None] if out.ndim == 2 else out)
    hwc = planes[0] if len(planes) == 1 else np.concatenate(planes, axis=2)
    return np.ascontiguousarray(hwc.transpose(2, 0, 1))


def softmax(z: np.ndarray, temperature: float = 1.0, axis: int = 0) -> np.ndarray:
    """softmax(z / temperature) along `axis`, float32, stable."""
    e = np.asarray(z, np.float32) - np.max(z, axis=axis, keepdims=True)
    if temperature != 1.0:
        e *= np.float32(1.0 / temperature)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def confidence_from_logits(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """CxHxW scores -> HxW top-class probability of softmax(z / T): 1 / sum_c exp((z_c - z_max) / T)."""
    d = np.asarray(z, np.float32) - np.max(z, axis=0, keepdims=True)
    d *= np.float32(1.0 / temperature)
    np.exp(d, out=d)
    return 1.0 / d.sum(axis=0)


def _dark(labels: np.ndarray, box: Letterbox) -> np.ndarray:
    if box.dark is not None:
        h, w = labels.shape
        dark = box.dark if box.dark.shape == (h, w) else cv2.resize(
            box.dark.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).view(bool)
        labels[dark] = 0
    return labels


def labels_from_logits(logits: np.ndarray, box: Letterbox, stride: int, upsample: str = "bilinear") -> np.ndarray:
    """Class ids at frame size, HxW uint8.

    "bilinear": scores sampled at about twice the model's resolution (frame size / k, as the probability
    path does), argmax there, nearest to the frame. "nearest": argmax at the model input's resolution
    of the frame region (what the old graph's labels were), then nearest to the frame.
    """
    if upsample == "bilinear":
        k = max(1, math.ceil(box.frame_w / (2 * box.w)))
        size = (max(1, box.frame_w // k), max(1, box.frame_h // k))
    else:
        size = (box.w, box.h)
    labels = _dark(argmax_classes(sample(logits, box, stride, size)), box)
    if labels.shape == (box.frame_h, box.frame_w):
        return labels
    return cv2.resize(labels, (box.frame_w, box.frame_h), interpolation=cv2.INTER_NEAREST_EXACT)


def region_probabilities(logits: np.ndarray, box: Letterbox, stride: int, temperature: float = 1.0) -> np.ndarray:
    """CxhxW softmax probabilities of the frame's region at model input resolution (box.w x box.h)."""
    return softmax(sample(logits, box, stride, (box.w, box.h)), temperature)


def frame_probabilities(logits: np.ndarray, box: Letterbox, stride: int, temperature: float = 1.0) -> np.ndarray:
    """CxHxW softmax probabilities at frame resolution (evaluation / ROC)."""
    return softmax(sample(logits, box, stride, (box.frame_w, box.frame_h)), temperature)


__all__ = ["sample", "softmax", "confidence_from_logits", "labels_from_logits", "region_probabilities",
           "frame_probabilities"]
