"""The corner HUD over the video: fps, latency and the AI state, readable from across the theatre.

It is a child label of the video widget, so it is on top of every frame without being painted into
it (the recorder and snapshots get clean pictures). When the overlay is off for a reason (stale
mask, model failure, lost source) it turns red and says so in words.
"""
from __future__ import annotations

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QPainter, QPalette
from PyQt6.QtWidgets import QLabel, QWidget

OK_COLORS = (QColor(0, 0, 0, 150), QColor("#7CFC7C"))          # (background, text)
OFF_COLORS = (QColor(150, 0, 0, 210), QColor("white"))


class Hud(QLabel):
    """Painted and laid out cheaply: the background is drawn here and the text colour is a palette
    entry (a style sheet re-polishes the label at every change of state), and the font size fitted
    for each wording is remembered (each size tried lays the text out again). Done the plain way at
    each change, a state change cost the UI thread up to 45 ms (measured in the soak)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setContentsMargins(10, 6, 10, 6)
        self.large = False
        self.ai_text = ""
        self.off = False
        self._set_colors(OK_COLORS)
        self._fitted: dict[tuple, int] = {}      # (large, video size, wording) -> font pixel size

    @property
    def background(self) -> QColor:
        return self._background

    def _set_colors(self, colors: tuple[QColor, QColor]) -> None:
        self._background = colors[0]
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.WindowText, colors[1])
        self.setPalette(pal)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self._background)
        p.drawRoundedRect(QRectF(self.rect()), 6, 6)
        p.end()
        super().paintEvent(event)

    def show_state(self, fps: float, latency_ms: float | None, off_reason: str | None,
                   extra: str = "", overlay_age_ms: float | None = None) -> None:
        """One line of numbers (fps, video latency), one line of AI state with the overlay's age
        (capture of the frame the mask came from → on screen; green ON, red OFF — reason)."""
        off = off_reason is not None
        if off != self.off:
            self._set_colors(OFF_COLORS if off else OK_COLORS)
            self.update()
        self.off = off
        age = "" if overlay_age_ms is None else f" · {overlay_age_ms:.0f} ms old"
        self.ai_text = f"AI OVERLAY OFF — {off_reason}" if self.off else f"AI overlay ON{age}"
        lat = "–" if latency_ms is None else f"{latency_ms:.0f} ms"
        numbers = f"{fps:4.1f} fps &nbsp; video {lat}" + (f" &nbsp; {extra}" if extra else "")
        text = f"{numbers}<br><b>{self.ai_text}</b>"
        if text != self.text():
            self.setText(text)
            self.relayout()

    def set_large(self, large: bool) -> None:
        self.large = large
        self.relayout()

    def relayout(self) -> None:
        """Font size follows the video height: about 1/18 of it in theatre mode (60 px ≈ 2 cm capitals on a 27" 1080p screen, readable at 3 m)."""
        parent = self.parentWidget()
        h = parent.height() if parent is not None else 480
        w = parent.width() if parent is not None else 640
        # the size depends on the longest line: fitted once per wording (the numbers' digits do not
        # count: "12 ms" to "105 ms" is not worth a refit) and video size
        key = (self.large, h, w, "".join(c for c in self.text() if not c.isdigit()))
        px = self._fitted.get(key)
        font = self.font()
        if px is None:
            px = max(28, h // 18) if self.large else max(14, h // 40)
            room = w - px
            while True:                       # shrink until the whole reason fits across the video
                font.setPixelSize(px)
                self.setFont(font)
                self.adjustSize()
                if self.width() <= room or px <= 10:
                    break
                px = max(10, int(px * 0.9))
            if len(self._fitted) > 256:       # wordings carry numbers in brackets: keep it bounded
                self._fitted.clear()
            self._fitted[key] = px
        else:
            if font.pixelSize() != px:
                font.setPixelSize(px)
                self.setFont(font)
            self.adjustSize()
        self.move(px // 2, px // 2)
        self.raise_()


__all__ = ["Hud"]
