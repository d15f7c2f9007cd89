"""What NVIDIA GPUs and CUDA libraries this machine has, asked without importing a GPU runtime.

`nvidia-smi` answers for the driver and the cards (with a time limit: a wedged driver must not
hang `doctor` or a backend's start); the CUDA libraries ONNX Runtime's CUDA provider needs are
looked up by soname, so "CUDA not usable" can say which one is missing.
"""
from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess

NVIDIA_SMI_TIMEOUT_S = 5.0
# Libraries onnxruntime-gpu 1.31 (CUDA 12 build) loads for its CUDA provider.
CUDA_LIBS = ("libcuda.so.1", "libcudart.so.12", "libcublas.so.12", "libcublasLt.so.12", "libcufft.so.11",
             "libcudnn.so.9")


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


def missing_cuda_libs(names: tuple[str, ...] = CUDA_LIBS) -> list[str]:
    """The CUDA libraries that the dynamic loader cannot find here."""
    missing = []
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def cuda_unusable_reason() -> str:
    """"" when a GPU and the CUDA libraries are there, else one line saying what is missing."""
    gpus, why = nvidia_gpus()
    if not gpus:
        return why
    missing = missing_cuda_libs()
    if missing:
        return f"CUDA libraries not found: {', '.join(missing)} (install CUDA 12 + cuDNN 9, or pip install nvidia-cudnn-cu12 ...)"
    return ""


__all__ = ["nvidia_gpus", "gpu_name", "missing_cuda_libs", "cuda_unusable_reason", "CUDA_LIBS"]
