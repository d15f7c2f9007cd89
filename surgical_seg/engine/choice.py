"""Which backend runs: `auto` loads the GPU candidates and keeps one only if it really runs on the GPU.

ONNX Runtime silently falls back to CPU when the CUDA libraries are missing, so a choice made
from the compiled-in providers can be wrong; here each candidate is loaded and its `device` (read
back from the runtime) decides. Otherwise the fastest CPU backend runs and `why` says, in one
line, what was tried and why the GPU is not used.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import BackendUnavailable, ConfigError
from ..modelcard import ModelCard
from .backends import BACKENDS, Backend, normalize_device

GPU_ORDER = ("onnxruntime", "paddle")                 # CUDA/TensorRT candidates, fastest first
CPU_ORDER = ("openvino", "onnxruntime", "paddle")     # measured on CPU (DESIGN §3)


def open_backend(name: str, model_dir: Path, card: ModelCard, device: str = "auto", threads: int = 0,
                 precision: str = "f32") -> tuple[Backend, str]:
    """Load `name` ("auto" or a backend) for `device`; returns the backend and one line saying why it runs."""
    device = normalize_device(device)
    if name != "auto":
        if name not in BACKENDS:
            raise ConfigError(f"engine.backend: {name!r} unknown (choose from auto, {', '.join(BACKENDS)})")
        cls = BACKENDS[name]
        status = cls.availability()
        if status != "ok":
            raise BackendUnavailable(f"backend {name}: {status}")
        b = cls(model_dir, card, threads=threads, device=device, precision=precision)
        return b, f"asked for; runs on {b.device}" + (f" ({b.note})" if b.note else "")
    return open_auto(model_dir, card, device, threads, precision)


def open_auto(model_dir: Path, card: ModelCard, device: str = "auto", threads: int = 0,
              precision: str = "f32") -> tuple[Backend, str]:
    tried: list[str] = []
    if device != "cpu":
        want = "gpu" if device == "auto" else device
        for name in GPU_ORDER:
            cls = BACKENDS[name]
            if cls.availability() != "ok" or want not in cls.gpu_kinds():
                continue
            try:
                b = cls(model_dir, card, threads=threads, device=want, precision=precision)
            except BackendUnavailable as e:
                tried.append(str(e))
                continue
            return b, f"{name} runs on the {b.device} here"
        if device != "auto":
            raise BackendUnavailable(f"device {device}: " + ("; ".join(tried) or
                                     "no installed backend has it (scripts/setup.sh --gpu installs onnxruntime-gpu)"))
    for name in CPU_ORDER:
        cls = BACKENDS[name]
        if cls.availability() != "ok":
            continue
        b = cls(model_dir, card, threads=threads, device="cpu", precision=precision)
        if device == "cpu":
            return b, f"{name} is the fastest installed CPU backend"
        return b, f"{name} is the fastest installed CPU backend; GPU not used: " + (
            tried[0] if tried else "no GPU runtime installed (scripts/setup.sh --gpu)")
    raise BackendUnavailable("no inference backend installed (scripts/setup.sh installs openvino and onnxruntime)")


__all__ = ["open_backend", "open_auto", "GPU_ORDER", "CPU_ORDER"]
