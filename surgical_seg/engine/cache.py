"""Engine caches (TensorRT engines, OpenVINO compiled blobs) in the model folder, keyed by validity.

A cached engine is only right for the exact model files, the runtime version that built it and
the GPU it was built for; the key names all three, so a re-export, an upgrade or another card
gets a fresh folder instead of a stale engine.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ..modelcard import file_sha256


def cache_root(model_dir: Path) -> Path:
    """<model>/cache, or a user cache when the model folder is read-only."""
    here = Path(model_dir) / "cache"
    try:
        here.mkdir(exist_ok=True)
        if os.access(here, os.W_OK):
            return here
    except OSError:
        pass
    user = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "surgical_seg" / Path(model_dir).resolve().name
    user.mkdir(parents=True, exist_ok=True)
    return user


def model_hash(model_dir: Path, files: tuple[str, ...]) -> str:
    """SHA-256 over the named model files' own SHA-256 (what the runtime actually reads)."""
    h = hashlib.sha256()
    for name in files:
        h.update(f"{name}:{file_sha256(Path(model_dir) / name)}\n".encode())
    return h.hexdigest()


def cache_key(model_dir: Path, files: tuple[str, ...], runtime: str, version: str, gpu: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", f"{runtime}-{version}-{gpu or 'nogpu'}").strip("-")
    return f"{slug}-{model_hash(model_dir, files)[:16]}"


def engine_cache_dir(model_dir: Path, files: tuple[str, ...], runtime: str, version: str, gpu: str) -> Path:
    """The cache folder for this model + runtime version + GPU (created); empty means a first build."""
    path = cache_root(Path(model_dir)) / cache_key(model_dir, files, runtime, version, gpu)
    path.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["cache_root", "model_hash", "cache_key", "engine_cache_dir"]
