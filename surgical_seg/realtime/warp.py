"""Move a label map from the frame it was computed on to a later frame, by dense optical flow.

When a frame's own mask is late, the newest mask is drawn on it; if the scope moved in between, that
mask is misregistered by the motion. `MaskWarper` measures the motion with OpenCV's DIS optical flow
(the ultrafast preset, as PP-HumanSeg uses for video) between the two frames at model resolution
(~0.5 ms per call here), scales the flow to the label map's own size and resamples the labels with
`cv2.remap` (nearest: class ids are never blended). The label map may be smaller than the frame (the
live viewer's masks stay near model resolution): then nothing here touches a full-resolution array
but the two shrinks of the frames. Everything stays in OpenCV calls: numpy work on full frames costs
more than the flow itself (see DESIGN §3). Each call's cost is kept (`last_ms`) for the warp gate.
"""
from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from ..packet import Segmentation

DEFAULT_WORK_SIZE = (320, 192)     # the shipped model's input: flow is computed at most at this size


def work_size(frame_w: int, frame_h: int, box: tuple[int, int]) -> tuple[int, int]:
    """The frame's size scaled to fit inside `box` (aspect kept), as the model's letterbox does."""
    scale = min(box[0] / frame_w, box[1] / frame_h, 1.0)
    return max(8, round(frame_w * scale)), max(8, round(frame_h * scale))


class MaskWarper:
    """labels computed on frame A -> labels for frame B. One caller thread at a time (the compositor)."""

    def __init__(self, box: tuple[int, int] = DEFAULT_WORK_SIZE,
                 preset: int = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST) -> None:
        self.box = box
        self._dis = cv2.DISOpticalFlow_create(preset)
        self._lock = threading.Lock()
        self._cache: tuple[np.ndarray, np.ndarray] | None = None   # (frame, its small grey): A repeats
        self._grid: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.last_ms: float | None = None    # the last warp's cost, wall clock

    def _small_grey(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        if self._cache is not None and self._cache[0] is frame:
            return self._cache[1]
        # linear, not area: a 1080p frame shrinks in ~0.3 ms instead of ~2 ms; the flow is as good
        grey = cv2.cvtColor(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2GRAY)
        self._cache = (frame, grey)
        return grey

    def _base_grid(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        grid = self._grid.get((w, h))
        if grid is None:
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            grid = self._grid[(w, h)] = (xs, ys)
        return grid

    def flow(self, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        """Backward flow at work size: pixel p of B came from p + flow[p] of A (h x w x 2, work pixels)."""
        h, w = frame_b.shape[:2]
        size = work_size(w, h, self.box)
        a = self._small_grey(frame_a, size)
        b = cv2.cvtColor(cv2.resize(frame_b, size, interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2GRAY)
        return self._dis.calc(b, a, None)

    def warp_labels(self, labels: np.ndarray, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        """`labels` of frame A (covering the whole frame, at any size) resampled onto frame B: a new
        uint8 array of the labels' size."""
        if frame_a.shape != frame_b.shape:
            raise ValueError(f"warp needs frames of one size, got {frame_a.shape}, {frame_b.shape}")
        t0 = time.perf_counter_ns()
        h, w = labels.shape
        with self._lock:
            small = self.flow(frame_a, frame_b)
            sh, sw = small.shape[:2]
            big = small if (sh, sw) == (h, w) else cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            xs, ys = self._base_grid(w, h)
            map_x = cv2.scaleAdd(big[..., 0], w / sw, xs)
            map_y = cv2.scaleAdd(big[..., 1], h / sh, ys)
        out = cv2.remap(labels, map_x, map_y, interpolation=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        self.last_ms = (time.perf_counter_ns() - t0) / 1e6
        return out

    def warp(self, seg: Segmentation, frame_a: np.ndarray, frame_b: np.ndarray) -> Segmentation:
        """The segmentation of frame A moved onto frame B; it keeps A's index and capture time (its age)."""
        return Segmentation(labels=self.warp_labels(seg.labels, frame_a, frame_b), class_names=seg.class_names,
                            colors_rgb=seg.colors_rgb, frame_index=seg.frame_index, t_capture_ns=seg.t_capture_ns)


__all__ = ["MaskWarper", "work_size", "DEFAULT_WORK_SIZE"]
