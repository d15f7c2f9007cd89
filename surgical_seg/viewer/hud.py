"""The corner HUD over the video: fps, latency and the AI state, readable from across the theatre.

It is a child label of the video widget, so it is on top of every frame without being painted into
it (the recorder and snapshots get clean pictures). When the overlay is off for a reason (stale
mask, model failure, lost source) it turns red and says so in words.
"""
from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QWidget

OK_STYLE = "background: rgba(0,0,0,150); color: #7CFC7C; border-radius: 6px; padding: 6px 10px;"
OFF_STYLE = "background: rgba(150,0,0,210); color: white; border-radius: 6px; padding: 6px 10px;"


class Hud(QLabel):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.large = False
        self.ai_text = ""
        self.off = False
        self.setStyleSheet(OK_STYLE)

    def show_state(self, fps: float, latency_ms: float | None, off_reason: str | None,
                   extra: str = "", overlay_age_ms: float | None = None) -> None:
        """One line of numbers (fps, video latency), one line of AI state with the overlay's age
        (capture of the frame the mask came from → on screen; green ON, red OFF — reason)."""
        self.off = off_reason is not None
        age = "" if overlay_age_ms is None else f" · {overlay_age_ms:.0f} ms old"
        self.ai_text = f"AI OVERLAY OFF — {off_reason}" if self.off else f"AI overlay ON{age}"
        lat = "–" if latency_ms is None else f"{latency_ms:.0f} ms"
        numbers = f"{fps:4.1f} fps &nbsp; video {lat}" + (f" &nbsp; {extra}" if extra else "")
        self.setText(f"{numbers}<br><b>{self.ai_text}</b>")
        self.setStyleSheet(OFF_STYLE if self.off else OK_STYLE)
        self.relayout()

    def set_large(self, large: bool) -> None:
        self.large = large
        self.relayout()

    def relayout(self) -> None:
        """Font size follows the video height: about 1/18 of it in theatre mode (60 px ≈ 2 cm capitals on a 27" 1080p screen, readable at 3 m)."""
        parent = self.parentWidget()
        h = parent.height() if parent is not None else 480
        px = max(28, h // 18) if self.large else max(14, h // 40)
        room = (parent.width() if parent is not None else 640) - px
        font = self.font()
        while True:                       # shrink until the whole reason fits across the video
            font.setPixelSize(px)
            self.setFont(font)
            self.adjustSize()
            if self.width() <= room or px <= 10:
                break
            px = max(10, int(px * 0.9))
        self.move(px // 2, px // 2)
        self.raise_()


__all__ = ["Hud"]
