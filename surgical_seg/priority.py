"""Thread priorities for the live path: the UI thread paints, everything else yields to it.

Live, on a machine short of CPU (the 2-core reference box decodes 720p30, runs the model, composites and
paints at once), whichever thread waits for a CPU shows its wait somewhere. The order we want: the UI
thread (the picture on the monitor) first, then capture and compositing (`pipeline.worker_nice`), the
model last (`pipeline.model_nice`): a late model hides its overlay, a late UI thread freezes the picture.
Linux keeps a nice value per thread and a new thread inherits its creator's; elsewhere this does nothing.
"""
from __future__ import annotations

import os
import sys
import threading


def lower_thread_priority(nice: int) -> None:
    """Make the calling thread (and the threads it starts from now on) `nice` steps less important."""
    if nice > 0 and sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))


__all__ = ["lower_thread_priority"]
