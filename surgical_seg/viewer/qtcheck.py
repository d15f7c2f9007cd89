"""Can Qt open a window here? Asked before QApplication, because Qt aborts the process (exit 134)
when its platform plugin cannot load, with a message that often names the wrong library.

`qt_problem()` says what is missing in one line (no display; the shared libraries the platform
plugin cannot find, with the Debian/Ubuntu packages that hold them; or Qt's own first complaint
from a throw-away child process); `require_qt()` raises DisplayError with the offscreen alternative.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

from ..errors import DisplayError

HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc")
PROBE_TIMEOUT_S = 15.0
OFFSCREEN_HINT = ("without a screen use: QT_QPA_PLATFORM=offscreen surgical-seg view --screenshot shot.png "
                  "--quit-after 8")
# soname -> Debian/Ubuntu package (what `apt install` needs); docs/deployment.md lists the same packages.
SYSTEM_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1", "libdbus-1.so.3": "libdbus-1-3", "libX11-xcb.so.1": "libx11-xcb1",
}


def qt_platform() -> str:
    """The platform plugin Qt will try: QT_QPA_PLATFORM, else Qt 6's own default on this OS."""
    env = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if env:
        return env
    if sys.platform.startswith("linux"):
        wayland = os.environ.get("XDG_SESSION_TYPE") == "wayland" and os.environ.get("WAYLAND_DISPLAY")
        return "wayland" if wayland else "xcb"
    return {"darwin": "cocoa", "win32": "windows"}.get(sys.platform, "")


def _qt_dir() -> Path | None:
    try:
        import PyQt6
    except ImportError:
        return None
    return Path(PyQt6.__file__).parent / "Qt6"


def missing_libraries(platform: str | None = None) -> list[str]:
    """Shared libraries the platform plugin (and its Qt helper library) cannot find (Linux, via ldd)."""
    platform = platform or qt_platform()
    qt = _qt_dir()
    if not sys.platform.startswith("linux") or qt is None or platform in HEADLESS_PLATFORMS:
        return []
    files = [qt / "plugins" / "platforms" / f"libq{platform}.so"]
    if platform == "xcb":
        files.append(qt / "lib" / "libQt6XcbQpa.so.6")
    missing: list[str] = []
    for f in files:
        if not f.is_file():
            continue
        try:
            out = subprocess.run(["ldd", str(f)], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return []
        missing += [line.split()[0] for line in out.splitlines() if "not found" in line]
    if platform == "xcb":                               # dlopen()ed by Qt >= 6.5, so ldd cannot see it
        try:
            ctypes.CDLL("libxcb-cursor.so.0")
        except OSError:
            missing.append("libxcb-cursor.so.0")
    return list(dict.fromkeys(missing))


def packages_for(libraries: list[str]) -> list[str]:
    return list(dict.fromkeys(SYSTEM_PACKAGES.get(lib, lib) for lib in libraries))


def _probe() -> str:
    """Start a QApplication in a child process: "" if it works, else Qt's most telling line."""
    code = "from PyQt6.QtWidgets import QApplication; QApplication([])"
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"Qt did not start within {PROBE_TIMEOUT_S:.0f} s"
    if r.returncode == 0:
        return ""
    lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
    best = [ln for ln in lines if "could not connect" in ln.lower() or "could not load" in ln.lower()
            or "could not find" in ln.lower()]
    return f"Qt cannot start: {(best or lines or [f'exit {r.returncode}'])[0]}"


def qt_problem(probe: bool = True) -> str:
    """"" when Qt can open a window (or runs headless), else one line naming what is missing."""
    platform = qt_platform()
    if platform in HEADLESS_PLATFORMS:
        return ""
    missing = missing_libraries(platform)
    if missing:
        return (f"Qt's {platform} platform plugin cannot load: {', '.join(missing)} not found "
                f"(Debian/Ubuntu: sudo apt install {' '.join(packages_for(missing))})")
    if platform == "xcb" and not os.environ.get("DISPLAY"):
        return "no display: DISPLAY is not set (no X server / desktop session here)"
    if platform.startswith("wayland") and not os.environ.get("WAYLAND_DISPLAY"):
        return "no display: WAYLAND_DISPLAY is not set"
    return _probe() if probe else ""


def require_qt() -> None:
    """DisplayError (one line, with the offscreen alternative) when the viewer cannot open a window."""
    problem = qt_problem()
    if problem:
        raise DisplayError(f"{problem}; {OFFSCREEN_HINT}")


__all__ = ["qt_platform", "missing_libraries", "packages_for", "qt_problem", "require_qt", "SYSTEM_PACKAGES",
           "HEADLESS_PLATFORMS"]
