"""Write-temp-then-rename: a reader (or a crash) never sees half a file or half a folder.

Every JSON/YAML/checkpoint the project writes goes through here. The temporary file sits in the
target's own folder (a rename is atomic only within one file system), is fsync'ed before the
rename, and is removed if writing fails, so the old version stays intact until the new one is whole.

    atomic_write_text(path, text)
    atomic_write_json(path, obj)
    with atomic_path(path) as tmp: paddle.save(state, str(tmp))    # writers that need a file name
    publish_folder(tmp_dir, final_dir)                                # swap a finished folder into place
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path`, on error it is removed.

    `suffix` keeps the extension some writers insist on (paddle.save, cv2.imwrite); default: path's own.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp.", suffix=path.suffix if suffix is None else suffix,
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, (path.stat().st_mode & 0o777) if path.exists() else 0o644)   # mkstemp makes 0600
        with open(tmp, "rb+") as f:           # the writer may have closed without syncing
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent))


def staging_folder(final_dir: str | Path) -> Path:
    """A new empty folder beside `final_dir` (same file system) to build its contents in."""
    final_dir = Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.building.", dir=final_dir.parent))
    staged.chmod(0o755)                     # mkdtemp makes 0700; the published folder is a normal one
    return staged


def publish_folder(staged: str | Path, final_dir: str | Path) -> Path:
    """Move a finished `staged` folder to `final_dir`, replacing what was there.

    The old folder is renamed aside first and deleted only after the new one is in place, so at
    every moment `final_dir` is either the complete old folder or the complete new one (between the
    two renames it is briefly absent, never partial).
    """
    staged, final_dir = Path(staged), Path(final_dir)
    old = None
    if final_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.old.", dir=final_dir.parent))
        old.rmdir()
        os.replace(final_dir, old)
    try:
        os.replace(staged, final_dir)
    except BaseException:
        if old is not None:
            os.replace(old, final_dir)
        raise
    _fsync_dir(final_dir.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final_dir


__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "staging_folder",
           "publish_folder"]
