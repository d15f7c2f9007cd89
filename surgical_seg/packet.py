"""The one packet that flows through every stage (cf. supervision's `Detections`).

A `FramePacket` is made by a source, carries its frame and capture time, and collects a
`perf_counter_ns` (start, end) span for every stage it passes; the stats recorder reads the
spans, nothing in the loop checks "if benchmark". Shapes are checked once, where it is made.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STAGES = ("capture", "preprocess", "infer", "postprocess", "composite", "display")


@dataclass(frozen=True)
class Segmentation:
    """A model's answer for one frame: class ids + what they mean.

    `labels` covers the whole frame, at frame resolution, or smaller where the engine was asked not to
    resize (Segmenter.frame_labels = False: the live viewer, which paints the small map scaled). Who
    needs frame size resizes nearest (`labels_at`)."""
    labels: np.ndarray                        # HxW uint8 class ids, 0 = background
    class_names: tuple[str, ...]
    colors_rgb: tuple[tuple[int, int, int], ...]
    frame_index: int = -1                     # the frame it was computed from
    t_capture_ns: int = 0                     # that frame's capture time (for staleness)
    probabilities: np.ndarray | None = None   # CxHxW float32 softmax at frame resolution, if asked
    confidence: np.ndarray | None = None      # hxw float32 calibrated top-class probability of the frame's
                                              # region at MODEL resolution, if asked (surgical_seg.engine.confidence)

    def __post_init__(self) -> None:
        if self.labels.ndim != 2 or self.labels.dtype != np.uint8:
            raise ValueError(f"labels must be HxW uint8, got {self.labels.shape} {self.labels.dtype}")
        if len(self.colors_rgb) != len(self.class_names):
            raise ValueError("one colour per class")

    def labels_at(self, width: int, height: int) -> np.ndarray:
        """The label map at width x height (nearest: class ids are never blended); itself when it fits."""
        if self.labels.shape == (height, width):
            return self.labels
        import cv2
        return cv2.resize(self.labels, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


@dataclass
class FramePacket:
    index: int                                # frame number from the source, 0-based
    frame: np.ndarray                         # HxWx3 uint8 BGR, never drawn on after capture
    t_capture_ns: int                         # time.perf_counter_ns() when the frame arrived
    pts_s: float | None = None                # source presentation time, if known
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)   # stage -> (start, end) ns
    segmentation: Segmentation | None = None
    composited: np.ndarray | None = None      # the overlaid picture (a new array; None: not burnt in)
    overlay_off_reason: str | None = None     # why no overlay is drawn on this frame
    mask_source: str | None = None            # own | warped | latest | off (surgical_seg.realtime.align), once composited
    layer: Any = None                         # the viewer's overlay paint layer (Pipeline.set_annotator)
    privacy: str | None = None                # in | out: the privacy gate's decision (surgical_seg.realtime.privacy)
    oob_score: float | None = None            # the gate classifier's p(out of body) for this frame
    screen: np.ndarray | None = None          # the viewer's copy of `frame` at its paint size (viewer.video.paint_copy)
    yuv: Any = None                           # the decoded picture before BGR (PyAV yuv420p VideoFrame), when it is
                                              # the same picture: the recorder encodes it as is (no BGR -> I420)

    def __post_init__(self) -> None:
        f = self.frame
        if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
            raise ValueError(f"frames must be HxWx3 uint8 BGR, got {f.shape} {f.dtype}")

    def mark(self, stage: str, start_ns: int, end_ns: int | None = None) -> None:
        """Record that `stage` ran from start_ns to end_ns (now if omitted)."""
        self.spans[stage] = (start_ns, time.perf_counter_ns() if end_ns is None else end_ns)

    def stage_ms(self, stage: str) -> float | None:
        span = self.spans.get(stage)
        return None if span is None else (span[1] - span[0]) / 1e6

    def latency_ms(self, until: str = "composite") -> float | None:
        """Capture to the end of `until` (composite, or display when a viewer closes it)."""
        span = self.spans.get(until)
        return None if span is None else (span[1] - self.t_capture_ns) / 1e6


__all__ = ["FramePacket", "Segmentation", "STAGES"]
