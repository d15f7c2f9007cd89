"""Per-pixel confidence: the calibrated top-class probability at model resolution, and how the
overlay shows where it is low.

Models exported since the graph cut hand out logits z (model card `output: logits`): the map is then
engine.scores.confidence_from_logits, 1 / sum_c exp((z_c - z_max) / T), at model input resolution. For
cards exported before (softmax probabilities p at the input size) temperature scaling works on p directly:
softmax(z / T) = softmax(log p / T), and its top class probability is

    conf = 1 / sum_c (p_c / p_max) ** (1 / T)

(T = 1: conf = p_max). The argmax, so the drawn labels, never change with T. The map is computed on
the letterboxed frame region at model resolution (320x180 for a 16:9 frame): ~0.4 ms with T != 1,
~0.03 ms with T = 1 on this project's CPU (scripts/time_confidence.py).

Display (`overlay.confidence`):
  fade   pixels below the model card's `confidence_threshold` are blended at a fraction of the opacity;
  hatch  they are drawn only on diagonal stripes (the colour stays, the tissue shows between);
  off    every pixel the same, as before.
"""
from __future__ import annotations

import cv2
import numpy as np

MODES = ("fade", "hatch", "off")
FADE_FACTOR = 0.3          # fade: low-confidence pixels get this fraction of the overlay opacity
HATCH_PERIOD = 8           # hatch: stripe period in frame pixels (half drawn, half clear)


def apply_temperature(probs: np.ndarray, temperature: float, axis: int = 0) -> np.ndarray:
    """Softmax probabilities -> the same softmax with logits divided by `temperature` (float32)."""
    p = np.asarray(probs, np.float32)
    if temperature == 1.0:
        return p
    r = p / np.max(p, axis=axis, keepdims=True)
    q = np.power(r, np.float32(1.0 / temperature))
    q /= q.sum(axis=axis, keepdims=True)
    return q


def confidence_map(probs: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """CxHxW softmax probabilities -> HxW float32 top-class probability after temperature scaling."""
    best = probs[0].copy()
    for c in range(1, probs.shape[0]):
        np.maximum(best, probs[c], out=best)
    if temperature == 1.0:
        return best
    ratios = probs / best
    np.power(ratios, np.float32(1.0 / temperature), out=ratios)
    return 1.0 / ratios.sum(axis=0)


def low_confidence(confidence: np.ndarray, threshold: float, shape: tuple[int, int]) -> np.ndarray:
    """HxW uint8 at frame size `shape` (h, w): 1 where the (model-resolution) confidence < threshold."""
    low = (confidence < threshold).astype(np.uint8)
    if low.shape != tuple(shape):
        low = cv2.resize(low, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return low


def low_share(drawn: np.ndarray, low: np.ndarray) -> float | None:
    """Share of the drawn overlay pixels that are low-confidence; None when nothing is drawn."""
    n = cv2.countNonZero(drawn)
    if not n:
        return None
    return cv2.countNonZero(cv2.bitwise_and(drawn, low)) / n


def overlay_low_share(annotator, segmentation) -> float | None:
    """For the HUD: share of what `annotator` draws for `segmentation` that is under its threshold.

    None when there is nothing to say (no annotator, no confidence shading, no map, nothing drawn).
    """
    shading = getattr(annotator, "confidence", None)
    if shading is None or segmentation is None or segmentation.confidence is None:
        return None
    drawn = annotator.draw_mask(segmentation.labels)
    return low_share(drawn, low_confidence(segmentation.confidence, shading.threshold, drawn.shape))


_HATCH: dict[tuple[int, int], np.ndarray] = {}


def hatch_pattern(shape: tuple[int, int], period: int = HATCH_PERIOD) -> np.ndarray:
    """HxW uint8, 1 on diagonal stripes half a period wide (cached per frame size)."""
    key = (shape[0], shape[1])
    pat = _HATCH.get(key)
    if pat is None:
        yy, xx = np.indices(key)
        pat = _HATCH[key] = (((xx + yy) % period) < period // 2).astype(np.uint8)
    return pat


class ConfidenceShading:
    """How the overlay treats low-confidence pixels: `split` the drawn mask into a full and a faint part."""

    def __init__(self, mode: str = "fade", threshold: float = 0.6) -> None:
        if mode not in MODES:
            raise ValueError(f"overlay.confidence must be one of {', '.join(MODES)}, not {mode!r}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"confidence threshold must be in (0, 1], not {threshold}")
        self.mode, self.threshold = mode, float(threshold)

    def split(self, drawn: np.ndarray, confidence: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """(pixels drawn at full opacity, pixels drawn at FADE_FACTOR of it or None).

        `drawn` is the annotator's HxW 0/1 mask; `confidence` the segmentation's model-resolution map
        (None: the engine did not compute one, so nothing changes). Never modifies `drawn`.
        """
        if self.mode == "off" or confidence is None:
            return drawn, None
        low = low_confidence(confidence, self.threshold, drawn.shape)
        if self.mode == "fade":
            return cv2.subtract(drawn, low), cv2.bitwise_and(drawn, low)
        keep_low = cv2.bitwise_and(cv2.bitwise_and(drawn, low), hatch_pattern(drawn.shape))
        return cv2.bitwise_or(cv2.subtract(drawn, low), keep_low), None


__all__ = ["MODES", "FADE_FACTOR", "apply_temperature", "confidence_map", "low_confidence", "low_share",
           "overlay_low_share",
           "hatch_pattern", "ConfidenceShading"]
