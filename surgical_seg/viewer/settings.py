"""What the viewer remembers between runs (last source, model, opacity, style, hidden classes,
low-confidence display).

QSettings in the user's place by default; `SURGICAL_SEG_SETTINGS=/path/file.ini` (or the `path`
argument) puts them in an INI file instead, which is how tests keep off the user's settings.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from PyQt6.QtCore import QSettings

ENV_VAR = "SURGICAL_SEG_SETTINGS"


@dataclass
class ViewerSettings:
    source: str = ""
    model: str = ""
    opacity: float | None = None          # None: use the app config's
    style: str | None = None
    hidden_classes: tuple[str, ...] | None = None
    confidence: str | None = None         # fade | hatch | off; None: the app config's
    extra: dict = field(default_factory=dict)


def _qsettings(path: str | None) -> QSettings:
    path = path or os.environ.get(ENV_VAR)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("surgical-seg", "viewer")


def load_settings(path: str | None = None) -> ViewerSettings:
    q = _qsettings(path)
    s = ViewerSettings(source=str(q.value("source", "") or ""), model=str(q.value("model", "") or ""))
    opacity = q.value("opacity")
    try:
        s.opacity = None if opacity in (None, "") else min(1.0, max(0.0, float(opacity)))
    except (TypeError, ValueError):
        s.opacity = None                  # a hand-edited file must not stop the viewer
    style = q.value("style")
    s.style = style if style in ("fill", "contour") else None
    confidence = q.value("confidence")
    s.confidence = confidence if confidence in ("fade", "hatch", "off") else None
    if q.contains("hidden_classes"):
        hidden = q.value("hidden_classes") or ""
        s.hidden_classes = tuple(n for n in str(hidden).split(",") if n)
    return s


def save_settings(s: ViewerSettings, path: str | None = None) -> None:
    q = _qsettings(path)
    q.setValue("source", s.source)
    q.setValue("model", s.model)
    if s.opacity is not None:
        q.setValue("opacity", f"{s.opacity:.3f}")
    if s.style:
        q.setValue("style", s.style)
    if s.confidence:
        q.setValue("confidence", s.confidence)
    if s.hidden_classes is not None:
        q.setValue("hidden_classes", ",".join(s.hidden_classes))
    q.sync()


__all__ = ["ViewerSettings", "load_settings", "save_settings", "ENV_VAR"]
