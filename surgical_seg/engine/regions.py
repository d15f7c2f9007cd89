"""Small predicted regions removed: a spatial prior against stray blobs (engine.min_region).

On video a few dozen pixels of a class that is not in the frame cost that frame's mIoU half or
more (the class scores 0 instead of being left out). `drop_small_regions` gives every connected
region of a foreground class smaller than `min_frac` of the map to the label that surrounds it
most (the majority of a one-pixel ring around it).

The engine runs it on the model's own grid, before any resize (`suppress_small_regions`): at the
head's stride a 720p or 1080p frame is ~48x27 cells, so the filter costs tens of microseconds instead
of the 30-95 ms it took on full-resolution label maps; it changes class scores, not labels, so that
every later step (labels at any size, confidence, probabilities) agrees with it.
"""
from __future__ import annotations

import cv2
import numpy as np


def drop_small_regions(labels: np.ndarray, min_frac: float, num_classes: int) -> np.ndarray:
    """A new label map where foreground regions under `min_frac` of the map take their ring's majority."""
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


def suppress_small_regions(scores: np.ndarray, min_frac: float, rows: slice, cols: slice) -> np.ndarray:
    """CxHxW (or 1xCxHxW) class scores with no foreground region under `min_frac` of the `rows` x `cols`
    cells (the frame's), and no foreground class able to win away from its large regions.

    A cell of a small region swaps the scores of its class and of the class `drop_small_regions` gives
    it, so that class wins there. Resized bilinearly, scores also make slivers where no cell wins (a
    class second on both sides of a boundary): so outside its large regions and the ring of cells
    around them, each foreground class gets the cell's lowest score. The input is not changed; it is
    returned as is when nothing moves."""
    z = scores[0] if scores.ndim == 4 else scores
    if min_frac <= 0:
        return scores
    region = z[:, rows, cols]
    labels = np.argmax(region, axis=0).astype(np.uint8)
    clean = drop_small_regions(labels, min_frac, z.shape[0])
    out = scores.copy()
    sub = (out[0] if out.ndim == 4 else out)[:, rows, cols]           # a view into `out`
    ys, xs = np.nonzero(clean != labels)
    old, new = labels[ys, xs], clean[ys, xs]
    sub[old, ys, xs], sub[new, ys, xs] = region[new, ys, xs], region[old, ys, xs]
    low = region.min(axis=0)
    kernel = np.ones((3, 3), np.uint8)
    moved = ys.size > 0
    for k in range(1, z.shape[0]):
        away = cv2.dilate((clean == k).astype(np.uint8), kernel) == 0
        away &= sub[k] > low
        if away.any():
            sub[k][away] = low[away]
            moved = True
    return out if moved else scores


__all__ = ["drop_small_regions", "suppress_small_regions"]
