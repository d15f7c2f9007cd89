"""Thread priorities for the live path: the UI thread and the model first, capture and compositing next,
the recorder last.

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


def shift_thread_priority(nice: int) -> bool:
    """Make the calling thread (and the threads it starts from now on) `nice` steps less important, or
    -`nice` steps more important when negative. False where that is not allowed (more important than
    START_NICE needs CAP_SYS_NICE) or not Linux; the thread then stays as it is.

    The recorder yields (recorder.nice). The model's thread comes before decode and compositing
    (pipeline.model_nice): its frame must be segmented within align_ms, while decode has the whole frame
    interval; at 1080p60 on 2 cores that won own masks on more frames, with no less painted.
    """
    if nice == 0 or not LINUX:
        return nice == 0
    return set_thread_nice(max(-20, min(19, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + nice)))


def set_opencv_threads(n: int) -> int:
    """OpenCV's own worker pool for this process: `n` threads (0 = OpenCV's default, one per core). Returns
    the count before, to give it back. The live and replay paths run their stages on threads of their
    own; OpenCV's pool splits their resizes and conversions again and spins between them, on the cores
    those threads need (pipeline.opencv_threads)."""
    import cv2
    before = cv2.getNumThreads()
    cv2.setNumThreads(n if n > 0 else -1)
    return before


__all__ = ["LINUX", "START_NICE", "set_thread_nice", "restore_thread_priority", "shift_thread_priority",
           "set_opencv_threads"]
