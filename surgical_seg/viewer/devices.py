"""Capture-device discovery, off the UI thread: opening a missing /dev/video can take seconds."""
from __future__ import annotations

import threading

from PyQt6.QtCore import QObject, pyqtSignal

from ..realtime.priority import restore_thread_priority

PROBE_INDEXES = range(5)


def probe_devices(indexes=PROBE_INDEXES) -> list[tuple[int, str]]:
    """(index, description) for every OpenCV device index that opens and gives a frame."""
    import cv2
    found = []
    level = cv2.getLogLevel()
    cv2.setLogLevel(0)               # a missing index is the normal case, not a warning
    try:
        for i in indexes:
            found += _probe_one(cv2, i)
    finally:
        cv2.setLogLevel(level)
    return found


def _probe_one(cv2, i: int) -> list[tuple[int, str]]:
    cap = cv2.VideoCapture(i)
    try:
        if cap.isOpened():
            ok, frame = cap.read()
            if ok and frame is not None:
                return [(i, f"device {i}  ({frame.shape[1]}x{frame.shape[0]})")]
        return []
    finally:
        cap.release()


class DeviceProber(QObject):
    """Runs `probe_devices` in a daemon thread and reports through `finished(list)` (superqt style)."""

    finished = pyqtSignal(list)

    def start(self) -> None:
        threading.Thread(target=self._probe, name="device-probe", daemon=True).start()

    def _probe(self) -> None:
        restore_thread_priority()           # started from the UI thread (surgical_seg/realtime/priority.py)
        self.finished.emit(probe_devices())


__all__ = ["probe_devices", "DeviceProber", "PROBE_INDEXES"]
