"""`synthetic:WxH[@fps][;dropout=FRAME+SECONDS]`: a camera that needs no hardware.

One synthetic spine scene (surgical_seg.data.synth, when present) rendered once, larger than the
frame, then seen through a slowly panning, zooming, rolling scope: cheap per frame, so it can run at
30 fps beside the model. `@0` delivers as fast as possible. `dropout=60+3` stops delivering after
frame 60 for 3 s, the way a pulled cable does, to exercise "signal lost" in the UI and the tests.
"""
from __future__ import annotations

import math
import re
import time

import cv2
import numpy as np

from ..errors import SourceError
from .base import Source

PREFIX = "synthetic:"
_SPEC = re.compile(r"^synthetic:(\d+)x(\d+)(?:@(\d+(?:\.\d+)?))?(?:;dropout=(\d+)\+(\d+(?:\.\d+)?))?$")
MARGIN = 0.35     # scene is this much larger than the frame, room for the camera to move


def _scene(w: int, h: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A (BGR, labels) scene of size w x h: the synth generator's, or gradients and discs."""
    try:
        from ..data.synth import render_frame
        return render_frame(seed, size=(w, h))
    except ImportError:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.dstack([60 + 40 * np.sin(xx / 37.0), 70 + 30 * np.cos(yy / 23.0), 150 + 60 * np.sin((xx + yy) / 51.0)])
        labels = np.zeros((h, w), np.uint8)
        for k, (cx, cy, r) in enumerate(((0.3, 0.4, 0.18), (0.65, 0.35, 0.12), (0.5, 0.7, 0.15)), start=1):
            disc = (xx - cx * w) ** 2 + (yy - cy * h) ** 2 < (r * h) ** 2
            labels[disc] = k
            img[disc] = (70 * k, 200 - 40 * k, 220)
        return np.clip(img, 0, 255).astype(np.uint8), labels


class SyntheticSource(Source):
    kind = "synthetic"
    live = True

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return spec.startswith(PREFIX)

    def _open(self) -> None:
        if getattr(self, "_scene_bgr", None) is not None:      # reconnect during a dropout
            if time.monotonic() < self._silent_until:
                raise SourceError(f"{self.spec}: no signal")
            return
        m = _SPEC.match(self.spec.replace(" ", ""))
        if not m:
            raise SourceError(f"{self.spec}: synthetic source must look like synthetic:640x360@30 "
                              "(optionally ;dropout=FRAME+SECONDS)")
        w, h = int(m.group(1)), int(m.group(2))
        if not (16 <= w <= 7680 and 16 <= h <= 4320):
            raise SourceError(f"{self.spec}: size {w}x{h} out of range (16x16 .. 7680x4320)")
        self.size = (w, h)
        self.fps = float(m.group(3)) if m.group(3) is not None else 30.0
        self._dropout = (int(m.group(4)), float(m.group(5))) if m.group(4) else None
        sw, sh = int(w * (1 + MARGIN)), int(h * (1 + MARGIN))
        self._scene_bgr, self._scene_labels = _scene(sw, sh, seed=3)
        self._i = 0
        self._t_next: float | None = None
        self._silent_until = 0.0
        self.labels: np.ndarray | None = None   # ground truth of the last frame (for checks)

    def paced(self) -> bool:
        return False          # it paces itself, like a camera

    def _read(self):
        w, h = self.size
        if self._dropout and self._i == self._dropout[0]:
            self._silent_until = time.monotonic() + self._dropout[1]
            self._dropout = None
        remaining = self._silent_until - time.monotonic()
        if remaining > 0:
            if self._stop.wait(min(remaining, self.cfg.read_timeout_s)):
                return None
            if time.monotonic() < self._silent_until:
                raise TimeoutError(f"no frame for {self.cfg.read_timeout_s:.1f} s")
            self._t_next = None
        if self.fps > 0:
            now = time.monotonic()
            self._t_next = now if self._t_next is None or now - self._t_next > 1.0 else self._t_next
            if self._stop.wait(max(0.0, self._t_next - now)):
                return None
            self._t_next += 1.0 / self.fps
        t = self._i / (self.fps or 30.0)
        sh, sw = self._scene_bgr.shape[:2]
        px = MARGIN * w * 0.45 * math.sin(2 * math.pi * 0.07 * t)
        py = MARGIN * h * 0.45 * math.sin(2 * math.pi * 0.05 * t + 1.0)
        zoom = 1.0 + 0.15 * (0.5 + 0.5 * math.sin(2 * math.pi * 0.04 * t))
        m = cv2.getRotationMatrix2D((sw / 2 + px, sh / 2 + py), 10.0 * math.sin(2 * math.pi * 0.03 * t), zoom)
        m[:, 2] += (w - sw) / 2, (h - sh) / 2
        frame = cv2.warpAffine(self._scene_bgr, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        self.labels = cv2.warpAffine(self._scene_labels, m, (w, h), flags=cv2.INTER_NEAREST,
                                     borderMode=cv2.BORDER_REFLECT)
        self._i += 1
        return frame, t


__all__ = ["SyntheticSource"]
