"""Small predicted regions removed from a label map: a spatial prior against stray blobs.

On video a few dozen pixels of a class that is not in the frame cost that frame's mIoU half or
more (the class scores 0 instead of being left out). `drop_small_regions` gives every connected
region of a foreground class smaller than `min_frac` of the frame to the label that surrounds it
most (the majority of a one-pixel ring around it). Not wired into the engine: `eval --video
--min-region` measures what it does first.
"""
from __future__ import annotations

import cv2
import numpy as np


def drop_small_regions(labels: np.ndarray, min_frac: float, num_classes: int) -> np.ndarray:
    """A new label map where foreground regions under `min_frac` of the frame take their ring's majority."""
    if min_frac <= 0:
        return labels
    out = labels.copy()
    min_px = max(1, int(round(min_frac * labels.size)))
    kernel = np.ones((3, 3), np.uint8)
    for k in range(1, num_classes):
        mask = (out == k).astype(np.uint8)
        if not mask.any():
            continue
        n, cc, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for c in np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_px) + 1:
            x, y, w, h = stats[c, :4]
            y0, y1, x0, x1 = max(0, y - 1), min(out.shape[0], y + h + 1), max(0, x - 1), min(out.shape[1], x + w + 1)
            blob = (cc[y0:y1, x0:x1] == c).astype(np.uint8)
            ring = cv2.dilate(blob, kernel).astype(bool) & ~blob.astype(bool)
            around = out[y0:y1, x0:x1][ring]
            around = around[around != k]
            fill = int(np.bincount(around, minlength=num_classes).argmax()) if around.size else 0
            out[y0:y1, x0:x1][blob.astype(bool)] = fill
    return out


__all__ = ["drop_small_regions"]
