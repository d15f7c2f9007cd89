"""Truthful backend choice: the device is read back from the runtime, and `auto` falls back with a reason.

This CPU machine has the CPU build of ONNX Runtime: "CUDA compiled in" is simulated only at the
boundary (`onnxruntime.get_available_providers`, and where a GPU must "run",
`InferenceSession.get_providers`); the sessions themselves are real and really run the tiny model.
"""
from __future__ import annotations

import importlib.metadata

import numpy as np
import onnxruntime as ort
import pytest

from surgical_seg.engine import load_segmenter
from surgical_seg.errors import BackendUnavailable
from surgical_seg.engine.gpuinfo import nvidia_gpus

CUDA_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
pytestmark = pytest.mark.skipif(bool(nvidia_gpus()[0]), reason="a real GPU is here: these simulate its absence")


@pytest.fixture
def cuda_compiled_in(monkeypatch):
    """onnxruntime-gpu without a usable CUDA: the providers are listed, the session runs on CPU."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: list(CUDA_BUILD))


def test_auto_falls_back_to_the_fastest_cpu_backend_and_says_why(tiny_model_dir, cuda_compiled_in):
    seg = load_segmenter(tiny_model_dir)                 # auto: tries onnxruntime on the GPU first
    assert (seg.backend_name, seg.device) == ("openvino", "cpu")
    assert seg.why.startswith("openvino is the fastest installed CPU backend; GPU not used: ")
    assert "backend onnxruntime: device gpu requested but the session runs on CPUExecutionProvider" in seg.why
    assert "\n" not in seg.why
    assert seg.segment(np.zeros((96, 128, 3), np.uint8)).labels.shape == (96, 128)


def test_explicit_gpu_that_falls_back_is_refused_in_one_line(tiny_model_dir, cuda_compiled_in):
    for device in ("cuda", "gpu"):
        with pytest.raises(BackendUnavailable, match="^backend onnxruntime: device gpu requested but the session "
                                                     "runs on CPUExecutionProvider: ") as e:
            load_segmenter(tiny_model_dir, backend="onnxruntime", device=device)
        assert "\n" not in str(e.value)
    with pytest.raises(BackendUnavailable, match="^device gpu: backend onnxruntime: device gpu requested"):
        load_segmenter(tiny_model_dir, device="gpu")     # auto backend, GPU demanded: nothing fits


def test_named_backend_on_auto_device_runs_on_cpu_and_notes_it(tiny_model_dir, cuda_compiled_in):
    seg = load_segmenter(tiny_model_dir, backend="onnxruntime")
    assert seg.device == "cpu" and seg.backend.providers == ("CPUExecutionProvider",)
    assert seg.backend.note.startswith("gpu (CUDAExecutionProvider) not used: the session runs on CPUExecutionProvider")
    assert "runs on cpu" in seg.why


def test_tensorrt_that_runs_on_cuda_only_is_refused(tiny_model_dir, cuda_compiled_in, monkeypatch):
    monkeypatch.setattr(ort.InferenceSession, "get_providers",
                        lambda self: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(BackendUnavailable, match="device tensorrt requested but the session runs on "
                                                 "CUDAExecutionProvider: TensorRT libraries not found: libnvinfer"):
        load_segmenter(tiny_model_dir, backend="onnxruntime", device="tensorrt")


def test_auto_keeps_the_gpu_when_the_session_really_uses_it(tiny_model_dir, cuda_compiled_in, monkeypatch):
    monkeypatch.setattr(ort.InferenceSession, "get_providers",
                        lambda self: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    seg = load_segmenter(tiny_model_dir)
    assert (seg.backend_name, seg.device, seg.why) == ("onnxruntime", "gpu", "onnxruntime runs on the gpu here")
    assert seg.backend.note == ""


def test_cpu_build_names_the_fix(tiny_model_dir):
    try:
        importlib.metadata.version("onnxruntime-gpu")
        pytest.skip("onnxruntime-gpu installed here")
    except importlib.metadata.PackageNotFoundError:
        pass
    with pytest.raises(BackendUnavailable, match=r"^backend onnxruntime: device gpu not available: the CPU build "
                                                 r"onnxruntime \S+ offers only .*scripts/setup.sh --gpu"):
        load_segmenter(tiny_model_dir, backend="onnxruntime", device="cuda")
    seg = load_segmenter(tiny_model_dir)
    assert seg.why == ("openvino is the fastest installed CPU backend; GPU not used: no GPU runtime installed "
                       "(scripts/setup.sh --gpu)")


def test_auto_on_a_cpu_wheel_does_not_import_paddle(tiny_model_dir):
    """Importing paddle costs seconds holding the GIL and ~250 MB: the viewer's UI would stall."""
    import subprocess
    import sys
    code = ("import sys; from surgical_seg.engine import load_segmenter; "
            f"s = load_segmenter({str(tiny_model_dir)!r}, backend='auto'); print(s.backend_name, 'paddle' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-500:]
    name, imported = out.stdout.split()
    import importlib.metadata as md
    try:
        md.distribution("paddlepaddle-gpu")
        return                                       # a GPU wheel: probing it is the point
    except md.PackageNotFoundError:
        pass
    assert (name, imported) == ("openvino", "False")
