"""Thread priorities for the live path: the UI thread first, capture and compositing next, the model last.

Live, on a machine short of CPU (the 2-core reference box decodes 720p30, runs the model, composites and
paints at once), whichever thread waits for a CPU shows its wait somewhere: a late model hides its
overlay, a late UI thread freezes the picture. Linux keeps a nice value per thread, and a new thread
inherits its creator's; elsewhere these do nothing.
"""
from __future__ import annotations

import os
import sys
import threading

LINUX = sys.platform.startswith("linux")
START_NICE = os.getpriority(os.PRIO_PROCESS, 0) if LINUX else 0   # the importing (main) thread's, at start


def set_thread_nice(value: int) -> bool:
    """Set the calling thread's own nice value. False where not allowed (a value below START_NICE needs
    CAP_SYS_NICE) or not Linux."""
    if not LINUX:
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), value)
        return True
    except OSError:
        return False


def restore_thread_priority() -> None:
    """For a thread started from the UI thread: drop the UI thread's raised priority it inherited."""
    set_thread_nice(START_NICE)


def lower_thread_priority(nice: int) -> None:
    """Make the calling thread (and the threads it starts from now on) `nice` steps less important.

    Live, the model is the one stage that may fall behind: on a machine short of CPU the capture, the
    compositor and the UI thread must win, or the picture stutters because of the AI.
    """
    if nice > 0 and LINUX:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))


__all__ = ["LINUX", "START_NICE", "set_thread_nice", "restore_thread_priority", "lower_thread_priority"]
