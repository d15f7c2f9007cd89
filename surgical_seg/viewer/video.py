"""The video widget: paints the newest raw BGR frame, letterboxed, the AI overlay layer over it when the
fail-safe gate allows at that instant, and closes the frame's latency record.

The overlay is never part of the painted frame: `set_layer` hands a separate premultiplied ARGB image
(viewer/layer.py) and `overlay_gate()` is asked in every paintEvent, so a frame that freezes is
repainted bare. `frozen_ms` (set by the viewer) lets the widget audit itself: `overlay_on_frozen`
counts paints that drew the layer on a frame older than that bound (must stay 0).

The frame is wrapped, not copied: a QImage over the numpy buffer (Format_BGR888). The widget keeps a
reference to the array for as long as the QImage may be painted. Scaling is the fast (nearest) path;
smooth scaling of 1080p would cost more than inference on this machine. A frame larger than the image
rectangle is best handed over already shrunk to it (`paint_copy`, on another thread): Qt converts every
pixel of the image it draws, on the UI thread and its pool. When a packet is painted
its "display" span is marked and `painted` is emitted, so the stats see capture → on-screen.
"""
from __future__ import annotations

import time

import cv2
import numpy as np
from PyQt6.QtCore import QRect, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QImage, QPainter
from PyQt6.QtWidgets import QSizePolicy, QWidget

from ..packet import FramePacket


def letterbox_rect(frame_w: int, frame_h: int, box_w: int, box_h: int) -> QRect:
    """Largest rectangle of the frame's aspect ratio centred in the box."""
    if frame_w <= 0 or frame_h <= 0 or box_w <= 0 or box_h <= 0:
        return QRect(0, 0, 0, 0)
    scale = min(box_w / frame_w, box_h / frame_h)
    w, h = max(1, round(frame_w * scale)), max(1, round(frame_h * scale))
    return QRect((box_w - w) // 2, (box_h - h) // 2, w, h)


def bgr_qimage(array: np.ndarray) -> QImage:
    """A QImage that views (does not copy) a contiguous HxWx3 uint8 BGR array, or HxWx4 BGRx (Qt's own
    32-bit format, which it draws without converting)."""
    if not array.flags["C_CONTIGUOUS"]:
        array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    fmt = QImage.Format.Format_RGB32 if array.shape[2] == 4 else QImage.Format.Format_BGR888
    return QImage(array.data, w, h, array.strides[0], fmt)


def _bars(widget: QRect, image: QRect) -> list[QRect]:
    """The parts of `widget` outside `image` (the letterbox's bars; all of it when there is no image)."""
    if image.isEmpty():
        return [widget]
    w, h = widget.width(), widget.height()
    bars = [QRect(0, 0, w, image.top()), QRect(0, image.bottom() + 1, w, h - image.bottom() - 1),
            QRect(0, image.top(), image.left(), image.height()),
            QRect(image.right() + 1, image.top(), w - image.right() - 1, image.height())]
    return [b for b in bars if not b.isEmpty()]


def paint_copy(frame: np.ndarray, paint_size: tuple[tuple[int, int], tuple[int, int]] | None) -> np.ndarray | None:
    """`frame` shrunk the way the painter scales (nearest) to the image rectangle `paint_size` gives for a
    frame of its size ((frame w, h), (rect w, h) in device pixels: VideoWidget.paint_size), or None where that does not
    apply (another frame size, a rectangle not smaller). Qt converts every pixel of a BGR888 image it
    draws, on the UI thread and its pool; this copy is in its own 32-bit format (BGRx), drawn as is."""
    if paint_size is None or paint_size[0] != (frame.shape[1], frame.shape[0]):
        return None
    w, h = paint_size[1]
    if not (0 < w < frame.shape[1] and 0 < h < frame.shape[0]):
        return None
    return cv2.cvtColor(cv2.resize(frame, (w, h), interpolation=cv2.INTER_NEAREST), cv2.COLOR_BGR2BGRA)


class VideoWidget(QWidget):
    """Black letterbox + the newest frame + an optional banner (e.g. "SIGNAL LOST")."""

    painted = pyqtSignal(object)   # the FramePacket whose frame just reached the screen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 90)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._array: np.ndarray | None = None     # the frame shown (frame())
        self._image: QImage | None = None
        self._painted_array: np.ndarray | None = None   # what _image views (kept alive): the frame, or its copy
                                                        # at the paint size
        self.paint_size = None     # ((frame w, h), (image rectangle w, h) in device pixels) at the last paint;
                                   # any thread reads it
        self._packet: FramePacket | None = None   # set when a new frame waits to be painted
        self._banner = ""
        self.last_paint_ms = 0.0
        self._layer: tuple[np.ndarray, QImage] | None = None    # (buffer, image over it)
        self.overlay_gate = lambda: True     # asked at paint time: may the overlay be on screen now?
        self.frozen_ms = 100.0
        self._frame_ns = 0                   # when the frame on screen was handed over
        self.layer_painted = False           # whether the last paint drew the overlay layer
        self.overlay_paints = 0
        self.overlay_on_frozen = 0

    def set_frame(self, array: np.ndarray, packet: FramePacket | None = None,
                  at_paint_size: np.ndarray | None = None) -> None:
        """Show `array` (not copied: the caller must not draw on it afterwards) at the next paint;
        `at_paint_size`, when given, is painted instead: the same picture already shrunk (`paint_copy`)."""
        self._array = array if array.flags["C_CONTIGUOUS"] else np.ascontiguousarray(array)
        self._painted_array = self._array if at_paint_size is None else at_paint_size
        self._image = bgr_qimage(self._painted_array)
        self._packet = packet
        self._frame_ns = time.perf_counter_ns()
        self.update()

    def set_layer(self, layer: tuple[np.ndarray, QImage] | None) -> None:
        """The overlay layer for the frame just set (None: nothing to draw)."""
        self._layer = layer
        self.update()

    @property
    def banner(self) -> str:
        return self._banner

    def set_banner(self, text: str) -> None:
        if text != self._banner:
            self._banner = text
            self.update()

    def frame(self) -> np.ndarray | None:
        """The array currently shown (read-only use)."""
        return self._array

    def image_rect(self) -> QRect:
        if self._array is None:
            return QRect(0, 0, 0, 0)
        h, w = self._array.shape[:2]
        return letterbox_rect(w, h, self.width(), self.height())

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        t0 = time.perf_counter_ns()
        rect = self.image_rect()
        if self._array is not None:
            dpr = self.devicePixelRatioF()          # a HiDPI screen paints the rectangle with more pixels
            device = (round(rect.width() * dpr), round(rect.height() * dpr))
            self.paint_size = ((self._array.shape[1], self._array.shape[0]), device)
            copy = self._painted_array
            if copy is not self._array and copy.shape[:2] != (device[1], device[0]):
                self._painted_array = self._array           # resized since the copy was made (e.g. while paused)
                self._image = bgr_qimage(self._array)
        p = QPainter(self)
        for bar in _bars(self.rect(), rect if self._image is not None else QRect()):   # the image covers the rest
            p.fillRect(bar, QColor(0, 0, 0))
        if self._image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            p.drawImage(QRectF(rect), self._image)
        self.layer_painted = self._layer is not None and self._image is not None and self.overlay_gate()
        if self.layer_painted:
            p.drawImage(QRectF(rect), self._layer[1])
            self.overlay_paints += 1
            if (t0 - self._frame_ns) / 1e6 > self.frozen_ms:
                self.overlay_on_frozen += 1
        if self._banner:
            self._draw_banner(p)
        p.end()
        t1 = time.perf_counter_ns()
        self.last_paint_ms = (t1 - t0) / 1e6
        packet, self._packet = self._packet, None
        if packet is not None:
            packet.mark("display", t0, t1)
            self.painted.emit(packet)

    def _draw_banner(self, p: QPainter) -> None:
        font = QFont()
        font.setBold(True)
        font.setPixelSize(max(18, self.height() // 12))
        p.setFont(font)
        r = p.fontMetrics().boundingRect(self._banner)
        box = QRect(0, 0, r.width() + 40, r.height() + 20)
        box.moveCenter(self.rect().center())
        p.fillRect(box, QColor(0, 0, 0, 170))
        p.setPen(QColor(255, 60, 60))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, self._banner)


__all__ = ["VideoWidget", "letterbox_rect", "bgr_qimage", "paint_copy"]
