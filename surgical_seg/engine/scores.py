"""Postprocessing for graphs that end at the head's logits (model card `output: logits`).

The graph hands out 1xCxhxw class scores at the head's stride s (Fast-SCNN: 1/8 of the input), with no
softmax and no resize. Everything here resizes those scores bilinearly onto the grid it needs: to the
model input (half-pixel centres, as the old graph's final Resize, align_corners False), the frame's
letterbox region cropped, then to the target grid; softmax comes after, only where probabilities are used.

  labels         argmax of the scores sampled at ~2x model resolution ("bilinear") or at the model input's
                 resolution then a nearest-neighbour resize ("nearest"); no softmax (argmax does not need it)
  confidence     softmax(z / T) top-class probability at model input resolution (the overlay's shading)
  probabilities  softmax(z / T) at frame resolution (evaluation's ROC, calibration)
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .preprocess import Letterbox

def sample_hwc(logits: np.ndarray, box: Letterbox, stride: int, size: tuple[int, int]) -> np.ndarray:
    """1xCxhxw (or Cxhxw) scores -> HxWxC float32 on a `size` (w, h) grid over the frame's region, bilinear.

    The small grid is resized to the model input (what the old graph's final Resize did, half-pixel
    centres), the letterbox region cropped, and resized again only if `size` differs from it. Two
    cv2.resize calls on 4 planes cost ~0.3 ms at 720p; one cv2.warpAffine straight to the grid costs ~2 ms.
    """
    z = logits[0] if logits.ndim == 4 else logits
    c, h, w = z.shape
    hwc = np.ascontiguousarray(z.transpose(1, 2, 0), dtype=np.float32)      # tiny: h x w x C
    full = cv2.resize(hwc, (w * stride, h * stride), interpolation=cv2.INTER_LINEAR) if stride > 1 else hwc
    region = full[box.y:box.y + box.h, box.x:box.x + box.w]
    if (box.w, box.h) != tuple(size):
        region = cv2.resize(region, tuple(size), interpolation=cv2.INTER_LINEAR)
    return region[..., None] if region.ndim == 2 else region                 # cv2 drops a single channel axis


def sample(logits: np.ndarray, box: Letterbox, stride: int, size: tuple[int, int]) -> np.ndarray:
    """As sample_hwc, CxHxW."""
    return np.ascontiguousarray(sample_hwc(logits, box, stride, size).transpose(2, 0, 1))


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


def _grid_size(box: Letterbox, upsample: str) -> tuple[int, int]:
    """Where the argmax is taken: about twice model resolution ("bilinear"), or the model input's ("nearest")."""
    if upsample == "bilinear":
        k = max(1, math.ceil(box.frame_w / (2 * box.w)))
        return max(1, box.frame_w // k), max(1, box.frame_h // k)
    return box.w, box.h


class LabelSampler:
    """Class ids at frame size (HxW uint8) from the head's logits; keeps its float buffers between frames.

    "bilinear": scores resized to about twice the model's resolution (frame size / k, as the probability
    path does), argmax there, nearest to the frame. "nearest": argmax at the model input's resolution of
    the frame region (what the old graph's labels were), then nearest to the frame. The big float
    temporaries (input-size scores, the argmax grid, its planes) are allocated once per geometry, not per
    frame. Not thread-safe: one inference thread owns it; the labels it returns are always a new array.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None

    def _buffers(self, key: tuple, full_hw: tuple[int, int], size: tuple[int, int], c: int) -> None:
        self._key = key
        self._full = np.empty(full_hw, np.float32)
        self._planes = [np.empty((size[1], size[0]), np.float32) for _ in range(c)]
        self._best = np.empty((size[1], size[0]), np.float32)
        self._ids = [np.full((size[1], size[0]), k, np.uint8) for k in range(c)]   # copyTo's sources

    def __call__(self, logits: np.ndarray, box: Letterbox, stride: int, upsample: str = "bilinear",
                 to_frame: bool = True) -> np.ndarray:
        """`to_frame=False`: the labels at their sampling grid (the live path's painter scales them)."""
        z = logits[0] if logits.ndim == 4 else logits
        c, h, w = z.shape
        size = _grid_size(box, upsample)
        if c < 2:
            return _nearest(np.zeros((size[1], size[0]), np.uint8), box)      # one class: nothing to choose
        key = (c, h, w, stride, box.x, box.y, box.w, box.h, size)
        if key != self._key:
            self._buffers(key, (h * stride, w * stride), size, c)
        planes = self._planes
        for k in range(c):                       # plane by plane: single-channel resizes, no transposes
            full = cv2.resize(np.ascontiguousarray(z[k], dtype=np.float32), (w * stride, h * stride),
                              dst=self._full, interpolation=cv2.INTER_LINEAR)
            cv2.resize(full[box.y:box.y + box.h, box.x:box.x + box.w], size, dst=planes[k],
                       interpolation=cv2.INTER_LINEAR)
        best, ids = self._best, self._ids
        np.copyto(best, planes[0])
        labels = np.zeros(best.shape, np.uint8)
        for k in range(1, c):                    # first max wins, as np.argmax (OpenCV: 0.5 ms, numpy 0.74 at 640x360)
            cv2.copyTo(ids[k], cv2.compare(planes[k], best, cv2.CMP_GT), labels)
            cv2.max(best, planes[k], dst=best)
        labels = _dark(labels, box)
        return _nearest(labels, box) if to_frame else labels


def _nearest(labels: np.ndarray, box: Letterbox) -> np.ndarray:
    if labels.shape == (box.frame_h, box.frame_w):
        return labels
    return cv2.resize(labels, (box.frame_w, box.frame_h), interpolation=cv2.INTER_NEAREST_EXACT)


def labels_from_logits(logits: np.ndarray, box: Letterbox, stride: int, upsample: str = "bilinear") -> np.ndarray:
    """Class ids at frame size, HxW uint8 (LabelSampler without kept buffers)."""
    return LabelSampler()(logits, box, stride, upsample)


def region_probabilities(logits: np.ndarray, box: Letterbox, stride: int, temperature: float = 1.0) -> np.ndarray:
    """CxhxW softmax probabilities of the frame's region at model input resolution (box.w x box.h)."""
    return softmax(sample(logits, box, stride, (box.w, box.h)), temperature)


def frame_probabilities(logits: np.ndarray, box: Letterbox, stride: int, temperature: float = 1.0) -> np.ndarray:
    """CxHxW softmax probabilities at frame resolution (evaluation / ROC)."""
    return softmax(sample(logits, box, stride, (box.frame_w, box.frame_h)), temperature)


__all__ = ["LabelSampler", "sample", "sample_hwc", "softmax", "confidence_from_logits", "labels_from_logits", "region_probabilities",
           "frame_probabilities"]
