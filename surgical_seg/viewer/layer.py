"""The AI overlay as its own layer: a premultiplied ARGB image composed over the raw frame at paint time.

The viewer never paints a picture with the overlay burnt in: it paints the raw frame, then, only if the
fail-safe gate says so at that instant, this layer on top. A frame that freezes keeps no overlay,
because the overlay is not part of it. Colours, opacity, hidden classes and contour style come from
the same MaskAnnotator the recorder uses, so the painted picture equals the recorded overlay to
within rounding (premultiplied alpha: at most 2 levels per channel).
"""
from __future__ import annotations

import cv2
import numpy as np
from PyQt6.QtGui import QImage

from ..realtime.overlay import MaskAnnotator
from ..packet import Segmentation


class MaskLayer:
    """Builds the overlay layer for one style; `build(segmentation)` -> (array, QImage) or None."""

    def __init__(self, annotator: MaskAnnotator) -> None:
        self.annotator = annotator
        alpha = round(255 * annotator.opacity)
        # premultiplied BGRA per class id: colour * opacity, alpha; 0 for background and hidden classes
        self.luts = [np.ascontiguousarray((lut.astype(np.float32) * annotator.opacity + 0.5).astype(np.uint8)
                                          * annotator.visible) for lut in annotator.channel_luts]
        self.luts.append(np.ascontiguousarray(annotator.visible * np.uint8(alpha)))

    def build(self, segmentation: Segmentation | None) -> tuple[np.ndarray, QImage] | None:
        """The layer for this mask (a new array; the QImage views it), or None when nothing is drawn."""
        if segmentation is None or self.annotator.opacity <= 0.0:
            return None
        labels = np.ascontiguousarray(segmentation.labels)
        if self.annotator.style == "contour":
            labels = labels * self.annotator.draw_mask(labels)      # 0 off the contour lines
        bgra = cv2.merge([cv2.LUT(labels, lut) for lut in self.luts])
        h, w = labels.shape
        return bgra, QImage(bgra.data, w, h, w * 4, QImage.Format.Format_ARGB32_Premultiplied)


__all__ = ["MaskLayer"]
