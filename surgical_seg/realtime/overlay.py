"""Compositor drawers (cf. supervision's annotators): style in __init__, one `annotate` call.

Every `annotate` returns a NEW array and never draws on the frame it is given: the source frame is
shared with the display, the recorder and the stats, none of which may see half-drawn pixels.

Blend rule, per drawn pixel p of class k with colour c_k (BGR) and opacity a:
    out[p] = saturate(round(frame[p] * (1 - a) + c_k * a))      (cv2.addWeighted)
and out[p] = frame[p] where the class is background (0), hidden, or not on a contour (contour style).
With a ConfidenceShading (surgical_seg.engine.confidence), pixels whose confidence is under the model card's
threshold are blended at FADE_FACTOR * a (fade) or drawn only on diagonal stripes (hatch).
"""
from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from ..engine.confidence import FADE_FACTOR, ConfidenceShading
from ..packet import Segmentation

STYLES = ("fill", "contour")


class MaskAnnotator:
    """Class colours blended over the frame where the mask says so (fill) or along class borders (contour)."""

    def __init__(self, colors_rgb: Iterable[Iterable[int]], opacity: float = 0.45, style: str = "fill",
                 hidden: Iterable[str] = (), class_names: Iterable[str] | None = None, thickness: int = 2,
                 confidence: ConfidenceShading | None = None) -> None:
        colors = np.asarray(list(colors_rgb), dtype=np.int32).reshape(-1, 3)
        if colors.shape[0] == 0 or colors.min() < 0 or colors.max() > 255:
            raise ValueError("colors_rgb: one (r, g, b) in 0..255 per class")
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity must be in [0, 1], not {opacity}")
        if style not in STYLES:
            raise ValueError(f"style must be fill or contour, not {style!r}")
        names = tuple(class_names) if class_names is not None else tuple(str(i) for i in range(len(colors)))
        unknown = set(hidden) - set(names)
        if unknown:
            raise ValueError(f"hidden classes not in the model: {', '.join(sorted(unknown))}")
        self.opacity, self.style, self.thickness = float(opacity), style, max(1, int(thickness))
        self.class_names, self.hidden = names, tuple(hidden)
        self.confidence = confidence
        # 256-entry lookup tables on the class id (cv2.LUT: fast, and it releases the GIL):
        # one per colour channel (B, G, R), and "draw this class" as 0/1
        self.colors_rgb = [tuple(int(v) for v in c) for c in colors]
        lut = np.zeros((256, 3), np.uint8)
        lut[: len(colors)] = colors[:, ::-1]
        self.channel_luts = [np.ascontiguousarray(lut[:, c]) for c in range(3)]
        self.visible = np.zeros(256, np.uint8)
        self.visible[1: len(colors)] = 1               # 0 is background: never drawn
        for name in self.hidden:
            self.visible[names.index(name)] = 0

    @classmethod
    def from_config(cls, cfg, colors_rgb, class_names, confidence_threshold: float = 0.6) -> "MaskAnnotator":
        """From the `overlay:` section of configs/app.yml and the model card."""
        shading = ConfidenceShading(cfg.confidence, confidence_threshold) if cfg.confidence != "off" else None
        return cls(colors_rgb, opacity=cfg.opacity, style=cfg.style, hidden=cfg.hidden_classes,
                   class_names=class_names, confidence=shading)

    def draw_mask(self, labels: np.ndarray) -> np.ndarray:
        """HxW uint8, 1 where this style paints: a visible class (fill), or a visible class's border pixels
        (contour: a pixel whose (2*thickness+1)-square neighbourhood holds another class, so a line
        `thickness` pixels wide on each side of a border)."""
        drawn = cv2.LUT(labels, self.visible)
        if self.style == "contour":
            k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * self.thickness + 1,) * 2)
            border = cv2.bitwise_or(cv2.compare(cv2.erode(labels, k), labels, cv2.CMP_NE),
                                    cv2.compare(cv2.dilate(labels, k), labels, cv2.CMP_NE))
            drawn = cv2.bitwise_and(drawn, border)     # 1 & 255 = 1
        return drawn

    def annotate(self, frame: np.ndarray, segmentation: Segmentation | np.ndarray) -> np.ndarray:
        """A new BGR array: `frame` with the classes blended in. `frame` is not modified."""
        h, w = frame.shape[:2]
        if isinstance(segmentation, Segmentation):  # the live viewer's masks are small: burnt in at frame size
            labels = segmentation.labels_at(w, h)
        else:
            labels = segmentation
            if labels.shape != (h, w):             # a mask from before a resolution change
                labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        labels = np.ascontiguousarray(labels)
        out = frame.copy()
        drawn = self.draw_mask(labels)
        if self.opacity <= 0.0 or not cv2.countNonZero(drawn):
            return out
        faint = None
        if self.confidence is not None and isinstance(segmentation, Segmentation):
            drawn, faint = self.confidence.split(drawn, segmentation.confidence)
        colour = cv2.merge([cv2.LUT(labels, lut) for lut in self.channel_luts])
        blended = cv2.addWeighted(frame, 1.0 - self.opacity, colour, self.opacity, 0.0)
        cv2.copyTo(blended, drawn, out)
        if faint is not None and cv2.countNonZero(faint):
            a = self.opacity * FADE_FACTOR
            x, y, w, h = cv2.boundingRect(faint)          # blend only where faint pixels are
            roi = (slice(y, y + h), slice(x, x + w))
            cv2.copyTo(cv2.addWeighted(frame[roi], 1.0 - a, colour[roi], a, 0.0), faint[roi], out[roi])
        return out


class HudAnnotator:
    """Burnt-in HUD for bench videos and recordings: fps, latency, AI state, class legend.

    The viewer draws its own Qt HUD; this one is for pictures that leave the app. Hershey fonts are
    ASCII, so the flag reads "AI OVERLAY OFF - reason".
    """

    def __init__(self, class_names: Iterable[str] = (), colors_rgb: Iterable[Iterable[int]] = (),
                 scale: float | None = None, legend: bool = True) -> None:
        self.class_names = tuple(class_names)
        self.colors_bgr = [tuple(int(v) for v in reversed(tuple(c))) for c in colors_rgb]
        self.scale, self.legend = scale, legend

    def annotate(self, frame: np.ndarray, fps: float | None = None, latency_ms: float | None = None,
                 off_reason: str | None = None, extra: str = "") -> np.ndarray:
        """A new array with the HUD drawn; `frame` is not modified."""
        out = frame.copy()
        h = out.shape[0]
        s = self.scale or max(0.4, h / 720 * 0.8)
        th = max(1, round(s * 2))
        line = int(32 * s)
        parts = [f"{fps:.1f} fps" if fps is not None else None,
                 f"{latency_ms:.0f} ms" if latency_ms is not None else None, extra or None]
        lines = [("  ".join(p for p in parts if p), (255, 255, 255))]
        lines.append((f"AI OVERLAY OFF - {off_reason}" if off_reason else "AI overlay on",
                      (60, 60, 255) if off_reason else (120, 250, 120)))
        y = line
        for text, colour in lines:
            if not text:
                continue
            (tw, tht), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, s, th)
            cv2.rectangle(out, (int(6 * s), y - tht - int(6 * s)), (int(18 * s) + tw, y + int(8 * s)), (0, 0, 0), -1)
            cv2.putText(out, text, (int(12 * s), y), cv2.FONT_HERSHEY_SIMPLEX, s, colour, th, cv2.LINE_AA)
            y += line + int(8 * s)
        if self.legend:
            for name, bgr in list(zip(self.class_names, self.colors_bgr))[1:]:
                box = int(18 * s)
                cv2.rectangle(out, (int(12 * s), y - box), (int(12 * s) + box, y), bgr, -1)
                cv2.putText(out, name, (int(20 * s) + box, y), cv2.FONT_HERSHEY_SIMPLEX, s * 0.8,
                            (255, 255, 255), th, cv2.LINE_AA)
                y += box + int(10 * s)
        return out


__all__ = ["MaskAnnotator", "HudAnnotator", "STYLES"]
