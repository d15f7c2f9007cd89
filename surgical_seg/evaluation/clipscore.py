"""Score one labelled clip frame by frame: what a surgeon watching it would see go right or wrong.

Per clip (`ClipScore.result()`):
- `per_class`: IoU per foreground class pooled over every pixel of every frame; `present`: the
  classes the clip's truth holds; `miou`: the mean of `per_class` over the present classes only
  (a class never in the truth is not averaged in; if the model paints it, that shows in `spurious`).
- `frame_miou`: the mean over frames of each frame's mIoU, where a frame's mIoU averages the classes
  in that frame's truth or prediction (a class absent from both is left out, never scored 0 or 1;
  a class predicted but absent from the truth scores 0). A frame with no foreground in either is
  left out of the mean and counted in `frames_empty`.
- `spurious_share`: pixels labelled with a foreground class absent from that frame's truth, over
  scored pixels (label 255 = ignore is not scored); `spurious_by_class` splits it.
- `worst`: the frames with the lowest mIoU (index, mIoU, spurious pixels), with thumbnails kept
  for `contact_sheet()`.
"""
from __future__ import annotations

import heapq
import math
from pathlib import Path

import cv2
import numpy as np

from ..modelcard import CLASS_COLORS_RGB, IGNORE_INDEX


def _ratio(num, den) -> float:
    return float(num) / float(den) if den else math.nan


def overlay(bgr: np.ndarray, labels: np.ndarray, colors_rgb, opacity: float = 0.5) -> np.ndarray:
    """Class colours blended over a frame (a new array); background and ignore stay as they are."""
    lut = np.zeros((256, 3), np.uint8)
    for k, rgb in enumerate(colors_rgb):
        lut[k] = rgb[::-1]
    fg = ((labels > 0) & (labels != IGNORE_INDEX))[..., None]
    return np.where(fg, cv2.addWeighted(bgr, 1 - opacity, lut[labels], opacity, 0), bgr)


class ClipScore:
    """Feed (index, truth, prediction[, frame]) in any order; `result()` and `contact_sheet()` at the end."""

    def __init__(self, class_names: tuple[str, ...], ignore: int = IGNORE_INDEX, worst: int = 6,
                 thumb_width: int = 320, colors_rgb=CLASS_COLORS_RGB) -> None:
        self.names, self.ignore, self.n = tuple(class_names), ignore, len(class_names)
        self.confusion = np.zeros((self.n, self.n), np.int64)
        self.truth_pixels = np.zeros(self.n, np.int64)
        self.frame_mious: list[float] = []
        self.frames = self.frames_empty = 0
        self.scored = 0
        self.spurious = np.zeros(self.n, np.int64)
        self.worst_n, self.thumb_width, self.colors = worst, thumb_width, colors_rgb
        self._worst: list[tuple[float, int, int, np.ndarray | None]] = []   # heap of (-miou, -index, spurious, thumb)

    def add(self, index: int, truth: np.ndarray, pred: np.ndarray, frame_bgr: np.ndarray | None = None) -> float:
        """Score one frame; returns its mIoU (NaN when neither truth nor prediction has foreground)."""
        if truth.shape != pred.shape:
            raise ValueError(f"frame {index}: truth {truth.shape[::-1]} and prediction {pred.shape[::-1]} differ in size")
        valid = truth != self.ignore
        t = truth[valid].astype(np.int64)
        p = np.minimum(pred[valid], self.n - 1).astype(np.int64)
        if t.size and t.max() >= self.n:
            raise ValueError(f"frame {index}: truth holds class id {int(t.max())}, the model has {self.n} classes")
        cm = np.bincount(t * self.n + p, minlength=self.n * self.n).reshape(self.n, self.n)
        self.confusion += cm
        in_truth, in_pred = cm.sum(1), cm.sum(0)
        self.truth_pixels += in_truth
        ious = []
        for k in range(1, self.n):
            if in_truth[k] or in_pred[k]:
                ious.append(cm[k, k] / (in_truth[k] + in_pred[k] - cm[k, k]))
            if not in_truth[k]:
                self.spurious[k] += in_pred[k]
        miou = float(np.mean(ious)) if ious else math.nan
        self.frames += 1
        self.scored += int(t.size)
        if math.isnan(miou):
            self.frames_empty += 1
            return miou
        self.frame_mious.append(miou)
        spurious = int(sum(in_pred[k] for k in range(1, self.n) if not in_truth[k]))
        key = (-miou, -index)
        if self.worst_n > 0 and (len(self._worst) < self.worst_n or key > self._worst[0][:2]):
            item = (*key, spurious, self._thumb(frame_bgr, truth, pred) if frame_bgr is not None else None)
            if len(self._worst) < self.worst_n:
                heapq.heappush(self._worst, item)
            else:
                heapq.heapreplace(self._worst, item)
        return miou

    def _thumb(self, frame, truth, pred) -> np.ndarray:
        h, w = truth.shape
        size = (self.thumb_width, max(1, round(h * self.thumb_width / w)))
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        lab = [cv2.resize(x, size, interpolation=cv2.INTER_NEAREST) for x in (truth, pred)]
        return np.hstack([small, overlay(small, lab[0], self.colors), overlay(small, lab[1], self.colors)])

    def worst(self) -> list[dict]:
        rows = sorted(self._worst, key=lambda r: (-r[0], -r[1]))     # lowest mIoU first
        return [{"frame": -i, "miou": -m, "spurious_pixels": s} for m, i, s, _ in rows]

    def result(self) -> dict:
        cm = self.confusion
        per_class, present = {}, []
        for k in range(1, self.n):
            tp = cm[k, k]
            union = cm[k, :].sum() + cm[:, k].sum() - tp
            per_class[self.names[k]] = _ratio(tp, union) if union else None
            if self.truth_pixels[k]:
                present.append(self.names[k])
        mious = [per_class[c] for c in present]
        return {
            "per_class": per_class, "present": present,
            "miou": float(np.mean(mious)) if mious else None,
            "frame_miou": float(np.mean(self.frame_mious)) if self.frame_mious else None,
            "frame_miou_min": float(np.min(self.frame_mious)) if self.frame_mious else None,
            "frames": self.frames, "frames_empty": self.frames_empty,
            "spurious_share": _ratio(self.spurious.sum(), self.scored) if self.scored else None,
            "spurious_by_class": {self.names[k]: _ratio(self.spurious[k], self.scored) for k in range(1, self.n)},
            "scored_pixels": self.scored,
            "confusion_matrix": cm.tolist(),
            "worst": self.worst(),
        }

    def contact_sheet(self, path: str | Path, title: str = "") -> Path | None:
        """One row per worst frame: the frame, its truth, the prediction (labels overlaid)."""
        rows = sorted(self._worst, key=lambda r: (-r[0], -r[1]))
        rows = [r for r in rows if r[3] is not None]
        if not rows:
            return None
        tiles = []
        for m, i, s, thumb in rows:
            bar = np.full((22, thumb.shape[1], 3), 255, np.uint8)
            cv2.putText(bar, f"frame {-i}: mIoU {-m:.2f}, spurious {s} px   |   frame   |   truth   |   prediction",
                        (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
            tiles.append(np.vstack([bar, thumb]))
        sheet = np.vstack(tiles)
        if title:
            head = np.full((26, sheet.shape[1], 3), 255, np.uint8)
            cv2.putText(head, title, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
            sheet = np.vstack([head, sheet])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), sheet):
            raise OSError(f"{path}: cannot write PNG")
        return path


__all__ = ["ClipScore", "overlay"]
