"""Work the UI thread must not wait for (opening a source, stopping a pipeline, writing snapshots).

`Background` is one named daemon thread running jobs in order; each job's result or error comes
back through `drain()`, which the UI thread calls from its poll timer, so `done` callbacks run on the
UI thread and may touch widgets. `wait_idle()` is for tests and for shutdown.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from ..realtime.priority import restore_thread_priority

Done = Callable[[Any, BaseException | None], None]


class Background:
    def __init__(self, name: str) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"ui-{name}", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any], done: Done | None = None) -> None:
        with self._lock:
            self._pending += 1
            self._idle.clear()
        self._jobs.put((fn, done))

    def drain(self) -> int:
        """Run the `done` callbacks of finished jobs (call on the UI thread); returns how many ran."""
        n = 0
        while True:
            try:
                done, value, error = self._results.get_nowait()
            except queue.Empty:
                return n
            if done is not None:
                done(value, error)
            n += 1

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    def _loop(self) -> None:
        restore_thread_priority()           # started from the UI thread (surgical_seg/realtime/priority.py)
        while True:
            fn, done = self._jobs.get()
            value, error = None, None
            try:
                value = fn()
            except BaseException as e:  # noqa: BLE001 - handed to the UI thread
                error = e
            self._results.put((done, value, error))
            with self._lock:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.set()


__all__ = ["Background"]
