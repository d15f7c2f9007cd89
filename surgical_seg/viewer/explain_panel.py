"""The explain panel beside the live video: `E` freezes the frame on screen and shows the model's
Seg-Grad-CAM heatmap for the chosen class (surgical_seg.training.explain).

The heatmap is computed on a worker thread (the dygraph model, loaded on first use); the live
video and overlay keep running. The panel says plainly that it is a frozen frame, when it was
frozen, and that it is for understanding, not guidance.
"""
from __future__ import annotations

import threading
import time

import numpy as np
from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtGui import QImage, QPixmap
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..training.explain import CAPTION
from ..realtime.priority import restore_thread_priority

FROZEN_STYLE = "background: #7a4b00; color: white; font-weight: bold; padding: 4px;"
PANEL_WIDTH = 420


class _Bridge(QObject):
    """Carries the worker thread's answer to the UI thread (queued signal)."""
    done = pyqtSignal(object)        # (request id, rendered BGR image, Explanation)
    failed = pyqtSignal(str)


class ExplainPanel(QWidget):
    """Frozen frame + heatmap; `request(frame, index)` starts one explanation off the UI thread."""

    def __init__(self, model_dir, class_names: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_dir, self.class_names = model_dir, tuple(class_names)
        self.setFixedWidth(PANEL_WIDTH)
        self._cam = None
        self._busy = False
        self._request = 0
        self.frozen_at: float | None = None          # wall-clock time of the frozen frame
        self.frozen_index = -1
        self.last_ms: float | None = None
        self.last_image: np.ndarray | None = None
        self._bridge = _Bridge()
        self._bridge.done.connect(self._show)
        self._bridge.failed.connect(self._fail)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 0, 0, 0)
        self.title = QLabel("")
        self.title.setStyleSheet(FROZEN_STYLE)
        self.title.setWordWrap(True)
        self.image = QLabel("press E to explain the frame on screen")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumHeight(200)
        self.caption = QLabel(f"Seg-Grad-CAM: where the model looked for this class. <b>{CAPTION.capitalize()}.</b>")
        self.caption.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class"))
        self.class_box = QComboBox()
        self.class_box.addItems(list(self.class_names[1:]))
        row.addWidget(self.class_box, 1)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.hide)
        row.addWidget(self.close_button)
        lay.addWidget(self.title)
        lay.addWidget(self.image, 1)
        lay.addWidget(self.caption)
        lay.addLayout(row)
        self.hide()

    @property
    def busy(self) -> bool:
        return self._busy

    def request(self, frame: np.ndarray, index: int) -> bool:
        """Freeze `frame` and explain it for the chosen class; False while one is being computed."""
        if self._busy or self.model_dir is None:
            return False
        self._busy, self._request = True, self._request + 1
        self.frozen_at, self.frozen_index = time.time(), index
        name = self.class_box.currentText()
        self.show()
        self.title.setText(f"FROZEN frame {index} at {time.strftime('%H:%M:%S', time.localtime(self.frozen_at))}"
                           f" — computing {name}…")
        threading.Thread(target=self._work, args=(self._request, frame.copy(), name, index),
                         name="explain", daemon=True).start()
        return True

    def _work(self, rid: int, frame: np.ndarray, name: str, index: int) -> None:
        restore_thread_priority()           # started from the UI thread (surgical_seg/realtime/priority.py)
        try:
            from ..training.explain import SegGradCam, load_dygraph, render
            if self._cam is None:
                self._cam = SegGradCam(*load_dygraph(self.model_dir))
            ex = self._cam.explain(frame, name)
            self._bridge.done.emit((rid, render(frame, ex, f"frame {index}"), ex))
        except Exception as e:  # noqa: BLE001 - shown in the panel, never a crash of the viewer
            self._bridge.failed.emit(f"{type(e).__name__}: {e}")

    def _show(self, answer) -> None:
        rid, img, ex = answer
        self._busy = False
        self.last_ms, self.last_image, self.explained = ex.ms, img, ex.class_name
        h, w = img.shape[:2]
        rgb = np.ascontiguousarray(img[..., ::-1])
        qimg = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.image.setPixmap(QPixmap.fromImage(qimg).scaled(
            self.image.width(), max(200, self.image.height()), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation))
        self.refresh_title()

    def _fail(self, message: str) -> None:
        self._busy = False
        self.title.setText(f"explanation failed: {message}")

    def refresh_title(self) -> None:
        """FROZEN label with the frame's time and age (called by the window's 4 Hz timer)."""
        if self.frozen_at is None or self._busy or self.last_image is None:
            return
        age = time.time() - self.frozen_at
        clock = time.strftime("%H:%M:%S", time.localtime(self.frozen_at))
        self.title.setText(f"FROZEN frame {self.frozen_index} at {clock} ({age:.0f} s ago) — "
                           f"{self.explained}, {self.last_ms:.0f} ms")


__all__ = ["ExplainPanel", "PANEL_WIDTH"]
