"""The theatre viewer (PyQt6): video, HUD, fail-safe gate, recorder and latency panel, on the UI
thread; everything slow runs on background threads."""
