"""The corner HUD over the video: fps, latency and the AI state, readable from across the theatre.

It is a child label of the video widget, so it is on top of every frame without being painted into
it (the recorder and snapshots get clean pictures). When the overlay is off for a reason (stale
mask, model failure, lost source) it turns red and says so in words.

It changes several times a second on the UI thread, so a change costs a text layout and one repaint:
the colours are painted, not a style sheet (each `setStyleSheet` re-polishes the widget), and the
font is fitted again only when the video's size changes or the text stops fitting.
"""
from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QPainter
from PyQt6.QtWidgets import QLabel, QWidget

OK_COLORS = (QColor(0, 0, 0, 150), "#7CFC7C")        # (background, text)
OFF_COLORS = (QColor(150, 0, 0, 210), "#FFFFFF")
RADIUS_PX = 6


class Hud(QLabel):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setContentsMargins(10, 6, 10, 6)
        self.large = False
        self.ai_text = ""
        self.alarms: tuple[str, ...] = ()
        self.off = False
        self.background = OK_COLORS[0]
        self._fitted_for: tuple | None = None    # (video width, height, large) the font was fitted to

    def show_state(self, fps: float, latency_ms: float | None, off_reason: str | None,
                   extra: str = "", overlay_age_ms: float | None = None, alarms: tuple[str, ...] = ()) -> None:
        """One line of numbers (fps, video latency), one line of AI state with the overlay's age
        (capture of the frame the mask came from → on screen; green ON, red OFF — reason), then one
        bold line per alarm ("REC FAILED — disk full", "OUT OF BODY — recording blanked"), in red."""
        self.alarms = tuple(alarms)
        self.off = off_reason is not None
        age = "" if overlay_age_ms is None else f" · {overlay_age_ms:.0f} ms old"
        self.ai_text = f"AI OVERLAY OFF — {off_reason}" if self.off else f"AI overlay ON{age}"
        lat = "–" if latency_ms is None else f"{latency_ms:.0f} ms"
        numbers = f"{fps:4.1f} fps &nbsp; video {lat}" + (f" &nbsp; {extra}" if extra else "")
        self.background, color = OFF_COLORS if self.off or self.alarms else OK_COLORS
        alarm_lines = "".join(f"<br><b>{a}</b>" for a in self.alarms)
        text = f'<span style="color:{color}">{numbers}<br><b>{self.ai_text}</b>{alarm_lines}</span>'
        if text != self.text():
            self.setText(text)
            self.relayout(refit=False)

    def set_large(self, large: bool) -> None:
        self.large = large
        self.relayout()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.background)
        p.drawRoundedRect(self.rect(), RADIUS_PX, RADIUS_PX)
        p.end()
        super().paintEvent(event)

    def relayout(self, refit: bool = True) -> None:
        """Font size follows the video height: about 1/18 of it in theatre mode (60 px ≈ 2 cm capitals on a 27" 1080p screen, readable at 3 m).
        A new text keeps the fitted font while it fits (`refit=False`); a new video size fits it again."""
        parent = self.parentWidget()
        h = parent.height() if parent is not None else 480
        w = parent.width() if parent is not None else 640
        px = max(28, h // 18) if self.large else max(14, h // 40)
        room = w - px
        font = self.font()
        if not refit and self._fitted_for == (w, h, self.large) and font.pixelSize() == px:
            self.adjustSize()
            if self.width() <= room:          # the usual case: same size, the text still fits
                return
        while True:                       # shrink until the whole reason fits across the video
            if font.pixelSize() != px:
                font.setPixelSize(px)
                self.setFont(font)
            self.adjustSize()
            if self.width() <= room or px <= 10:
                break
            px = max(10, int(px * 0.9))
        self._fitted_for = (w, h, self.large)
        self.move(px // 2, px // 2)
        self.raise_()


__all__ = ["Hud"]
