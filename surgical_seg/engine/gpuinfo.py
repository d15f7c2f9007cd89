"""What NVIDIA GPUs and CUDA libraries this machine has, asked without importing a GPU runtime.

`nvidia-smi` answers for the driver and the cards (with a time limit: a wedged driver must not
hang `doctor` or a backend's start); the CUDA libraries ONNX Runtime's CUDA provider needs are
looked up by soname, so "CUDA not usable" can say which one is missing.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import shutil
import subprocess
from pathlib import Path

NVIDIA_SMI_TIMEOUT_S = 5.0
# Looked up when no onnxruntime-gpu provider library is there to ask (see missing_provider_libs).
CUDA_LIBS = ("libcuda.so.1", "libcudnn.so.9")


@functools.lru_cache(maxsize=1)
def nvidia_gpus() -> tuple[tuple[dict, ...], str]:
    """((name, driver, memory_mb) per GPU, "") or ((), why there is none)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return (), "no NVIDIA driver (nvidia-smi not found)"
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return (), f"nvidia-smi did not answer within {NVIDIA_SMI_TIMEOUT_S:.0f} s"
    except OSError as e:
        return (), f"nvidia-smi failed ({e})"
    if out.returncode != 0:
        err = (out.stderr or out.stdout).strip().splitlines()
        return (), f"nvidia-smi failed: {err[0] if err else f'exit {out.returncode}'}"[:200]
    gpus = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3:
            gpus.append({"name": parts[0], "driver": parts[1],
                         "memory_mb": int(parts[2]) if parts[2].isdigit() else None})
    return tuple(gpus), "" if gpus else "nvidia-smi lists no GPU"


def gpu_name(index: int = 0) -> str:
    """The GPU's name for cache keys ("" without one)."""
    gpus, _ = nvidia_gpus()
    return gpus[index]["name"] if len(gpus) > index else ""


def _ort_capi() -> Path | None:
    spec = importlib.util.find_spec("onnxruntime")
    return Path(spec.submodule_search_locations[0]) / "capi" if spec and spec.submodule_search_locations else None


def ort_cuda_version() -> str:
    """The CUDA major.minor the installed onnxruntime-gpu was built for ("" for the CPU build)."""
    capi = _ort_capi()
    info = capi / "build_and_package_info.py" if capi else None
    if info is None or not info.is_file():
        return ""
    for line in info.read_text().splitlines():
        if line.startswith("cuda_version"):
            return line.split("=", 1)[1].strip().strip("'\"")
    return ""


def _ldd_missing(path: Path) -> list[str] | None:
    """Libraries `path` links to that the loader cannot find (None when ldd is unavailable)."""
    try:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [line.split()[0] for line in out.splitlines() if "not found" in line]


def _dlopen_missing(names) -> list[str]:
    missing = []
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def missing_provider_libs(kind: str = "cuda") -> list[str]:
    """What ONNX Runtime's CUDA or TensorRT provider library needs and cannot find here.

    Read from the provider library itself (ldd), plus cuDNN, which it loads only at run time;
    without onnxruntime-gpu, the generic CUDA_LIBS are looked up instead.
    """
    capi = _ort_capi()
    lib = capi / f"libonnxruntime_providers_{kind}.so" if capi else None
    found = _ldd_missing(lib) if lib is not None and lib.is_file() else None
    if found is None:
        return _dlopen_missing(CUDA_LIBS if kind == "cuda" else ("libnvinfer.so.10",))
    extra = [n for n in _dlopen_missing(("libcudnn.so.9",)) if n not in found] if kind == "cuda" else []
    return found + extra


def missing_cuda_libs(names: tuple[str, ...] = CUDA_LIBS) -> list[str]:
    """The CUDA libraries that the dynamic loader cannot find here."""
    return _dlopen_missing(names)


def cuda_unusable_reason() -> str:
    """"" when a GPU and the CUDA libraries ONNX Runtime needs are there, else one line saying what is missing."""
    gpus, why = nvidia_gpus()
    parts = [] if gpus else [why]
    missing = missing_provider_libs("cuda")
    if missing:
        version = ort_cuda_version()
        parts.append(f"CUDA{' ' + version if version else ''} libraries not found: {', '.join(missing)}")
    return "; ".join(parts)


__all__ = ["nvidia_gpus", "gpu_name", "missing_cuda_libs", "missing_provider_libs", "ort_cuda_version",
           "cuda_unusable_reason", "CUDA_LIBS"]
