"""Remembered settings never lock the viewer out.

The viewer remembers the last model and source. They are stored so they mean the same thing from any
folder (a shipped model by its name, anything else as an absolute path; URLs and device indexes as
typed), and when a remembered one is gone (deleted, moved, another machine) the viewer falls back to
the default with a one-line notice instead of refusing to start.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import SurgicalSegError
from ..modelcard import WEIGHTS_ROOT, resolve_model_dir

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def model_key(model: str) -> str:
    """What to remember for `model`: a shipped model's name, else the folder's absolute path."""
    if not model:
        return ""
    p = Path(model)
    if len(p.parts) == 1 and (WEIGHTS_ROOT / model).is_dir() and not p.is_dir():
        return model
    try:
        return str(resolve_model_dir(model).resolve())
    except SurgicalSegError:
        return model


def source_key(source: str) -> str:
    """What to remember for a source: URLs and device indexes as typed, files as absolute paths."""
    if not source or _URL.match(source) or source.isdigit() or source.startswith("synthetic"):
        return source
    return str(Path(source).expanduser().resolve())


def source_available(source: str) -> bool:
    """A remembered source that can still be opened (URLs and devices are tried when opened)."""
    if not source:
        return False
    if _URL.match(source) or source.isdigit() or source.startswith("synthetic"):
        return True
    return Path(source).expanduser().exists()


def pick_model(explicit: str | None, remembered: str, default: str) -> tuple[str, str | None]:
    """(model to load, one-line notice or None). An explicit --model is used as given (its error is the
    user's to see); a remembered one that is gone falls back to `default`."""
    if explicit:
        return explicit, None
    if remembered:
        try:
            resolve_model_dir(remembered)
            return remembered, None
        except SurgicalSegError:
            return default, f"remembered model {remembered!r} is gone; using the default {default!r}"
    return default, None


__all__ = ["model_key", "source_key", "source_available", "pick_model"]
