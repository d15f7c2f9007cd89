"""Inference backends: a plain dict name -> class, each with the same small interface.

A backend loads one exported model folder, checks that the file's input shape and class count
match model.yml (a warm-up run on zeros gives the output shape), and maps a 1x3xHxW float32
tensor to the graph's output it owns (never a buffer reused by the runtime): 1xCxhxw logits at the
head's stride (model card `output: logits`), or 1xCxHxW softmax probabilities for cards exported before.
Devices: "cpu", "gpu" (CUDA; "cuda" is the same) or "tensorrt"; "auto" takes a GPU when one is usable.
`device` is read back from the runtime after loading (ONNX Runtime: the session's providers),
so it says what runs, not what is compiled in; `note` says why a GPU asked for by "auto" is not used,
and `startup_note` reports a TensorRT engine build or cache load.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import importlib.metadata
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailable, ConfigError, ModelError
from .gpuinfo import cuda_unusable_reason, gpu_name, missing_provider_libs, nvidia_gpus
from ..modelcard import INT8_ONNX_FILE, ONNX_FILE, PADDLE_FILES, ModelCard
from .cache import cache_root, engine_cache_dir
from . import precision as _precision

DEVICES = ("auto", "cpu", "gpu", "cuda", "tensorrt")
DEVICE_ALIASES = {"cuda": "gpu"}
PRECISIONS = _precision.PRECISIONS


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines() or [type(e).__name__])[0][:200] if text else type(e).__name__


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _require(path: Path) -> Path:
    if not path.is_file():
        raise ModelError(f"{path}: missing model file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: empty model file")
    return path


def cache_dir(model_dir: Path) -> Path:
    """The root of a model's engine caches (see engine.cache for the per-runtime keyed folders)."""
    return cache_root(model_dir)


def normalize_device(device: str) -> str:
    """"cuda" -> "gpu"; ConfigError for a device nobody knows."""
    if device not in DEVICES:
        raise ConfigError(f"engine.device: {device!r} unknown (choose from {', '.join(DEVICES)})")
    return DEVICE_ALIASES.get(device, device)


class Backend:
    """Base: subclasses set `name`, load in __init__ and implement `_run`."""
    name = ""
    module = ""                        # the Python package it needs

    def __init__(self, model_dir: Path, card: ModelCard, threads: int = 0, device: str = "auto",
                 precision: str = "f32"):
        _precision.check_choice(precision)
        # 0 = every core, set explicitly: no runtime picks its own thread count
        self.model_dir, self.card, self.threads = Path(model_dir), card, int(threads) or (os.cpu_count() or 1)
        self.device = "cpu"
        self.precision = "f32"            # what actually runs; a backend that honours others sets it
        self.precision_why = "f32 graph"  # one line: why that precision runs
        self.note = ""                    # why "auto" did not get the GPU it wanted ("" when it did)
        self.startup_note = ""            # e.g. "TensorRT engine built in 41.2 s (cached in ...)"
        self.input_shape = (1, 3, card.input_height, card.input_width)

    @classmethod
    def availability(cls) -> str:
        """"ok", or one line saying why this backend cannot run here."""
        try:
            importlib.import_module(cls.module)
        except Exception as e:  # ImportError, or a broken install raising anything on import
            return f"{cls.module} not importable ({_first_line(e)})"
        return "ok"

    @classmethod
    def gpu_kinds(cls) -> tuple[str, ...]:
        """Which of "gpu"/"tensorrt" this build of the runtime has compiled in (a session may still fall back)."""
        return ()

    @classmethod
    def gpu_missing(cls, kind: str) -> str:
        """One line: why `kind` is not compiled into the installed runtime and what installs it."""
        return "no GPU support in this backend"

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return self._run(tensor)

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check_io(self, where: Path, input_shape) -> None:
        """Model file vs model.yml: input shape from the file, class count from a warm-up run."""
        shape = tuple(int(d) if isinstance(d, (int, np.integer)) and int(d) > 0 else -1 for d in input_shape)
        if len(shape) != 4 or shape[1:] != self.input_shape[1:]:
            raise ModelError(f"{where}: input shape {list(input_shape)} does not match model.yml "
                             f"(1x3x{self.card.input_height}x{self.card.input_width})")
        out = self._run(np.zeros(self.input_shape, np.float32))
        s = self.card.output_stride
        want = (self.card.input_height // s, self.card.input_width // s)
        if out.ndim != 4 or out.shape[1] != self.card.num_classes or tuple(out.shape[2:]) != want:
            raise ModelError(f"{where}: output shape {list(out.shape)} does not match model.yml "
                             f"({self.card.num_classes} classes {self.card.output} at {want[0]}x{want[1]}, "
                             f"stride {s})")

    def _only_f32(self, precision: str) -> None:
        """Backends that run the exported f32 graph as it is refuse other precisions in one line."""
        self.precision_why = (f"auto: f32, {self.name} runs the exported f32 graph (reduced precisions: OpenVINO "
                              "on CPU)" if precision == "auto" else f"asked for (engine.precision {precision})")
        if precision not in ("f32", "auto"):
            raise BackendUnavailable(f"backend {self.name}: engine.precision {precision} is not supported "
                                     "(only f32; use --backend openvino for bf16/f16/int8)")

    def _want_gpu(self, device: str) -> str | None:
        """Resolve device -> None (CPU), "gpu" or "tensorrt"; BackendUnavailable if asked but impossible."""
        device = normalize_device(device)
        kinds = self.gpu_kinds()
        if device == "cpu":
            return None
        if device == "auto":
            return "gpu" if "gpu" in kinds else None
        if device not in kinds:
            raise BackendUnavailable(f"backend {self.name}: device {device} not available: {self.gpu_missing(device)}")
        return device

    def _fell_back(self, device: str, asked: str, why: str) -> None:
        """The runtime ignored the GPU: refuse if the user asked for it, else run on CPU and say why."""
        if normalize_device(device) != "auto":
            raise BackendUnavailable(f"backend {self.name}: device {normalize_device(device)} requested but {why}")
        self.device, self.note = "cpu", f"{asked} not used: {why}"


class OpenVINOBackend(Backend):
    """OpenVINO on CPU from model.onnx, or model_int8.onnx for int8 (it cannot read Paddle's PIR .json), latency hint."""
    name, module = "openvino", "openvino"

    def __init__(self, model_dir, card, threads=0, device="auto", precision="f32"):
        super().__init__(model_dir, card, threads, device, precision)
        import openvino as ov
        core = ov.Core()
        gpu = self._want_gpu(device)
        target = "GPU" if gpu else "CPU"
        # Explicit precision: on CPUs with AVX-512 BF16 OpenVINO's default hint is bf16, which moves
        # probabilities by up to ~0.04 and breaks parity with the other backends.
        caps = tuple(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")) if target == "CPU" else ()
        precision, self.precision_why = _precision.resolve(precision, card.precisions, self.name, target.lower(), caps)
        if precision != "f32" and target == "CPU":
            if not _precision.native(precision, caps):
                raise BackendUnavailable(f"backend openvino: engine.precision {precision} is not supported by "
                                         f"this CPU (it offers {', '.join(caps)})")
        # int8 is its own (QDQ) graph, run with f32 arithmetic between the quantized layers
        path = _require(self.model_dir / (INT8_ONNX_FILE if precision == "int8" else ONNX_FILE))
        try:
            model = core.read_model(str(path))
        except Exception as e:
            raise ModelError(f"{path}: cannot be read by OpenVINO ({_first_line(e)})") from None
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32" if precision == "int8" else precision}
        if target == "CPU":
            config["INFERENCE_NUM_THREADS"] = self.threads
        if target == "GPU":           # compiled GPU kernels are cached, keyed like TensorRT engines
            config["CACHE_DIR"] = str(engine_cache_dir(self.model_dir, (ONNX_FILE,), "openvino", ov.__version__,
                                                       str(core.get_property("GPU", "FULL_DEVICE_NAME"))))
        ps = model.input(0).get_partial_shape()
        in_shape = [d.get_length() if d.is_static else -1 for d in ps]
        try:
            self._compiled = core.compile_model(model, target, config)
        except Exception as e:
            raise ModelError(f"{path}: OpenVINO cannot compile it for {target} ({_first_line(e)})") from None
        self._request = self._compiled.create_infer_request()
        self.device = target.lower()
        self.precision = ("int8" if precision == "int8"      # what runs
                          else self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
        self._check_io(path, in_shape)

    @classmethod
    def gpu_kinds(cls):
        try:
            import openvino as ov
            return ("gpu",) if "GPU" in ov.Core().available_devices else ()
        except Exception:
            return ()

    @classmethod
    def gpu_missing(cls, kind):
        return ("OpenVINO finds no Intel GPU here (NVIDIA GPUs: use --backend onnxruntime)" if kind == "gpu"
                else "OpenVINO has no TensorRT (use --backend onnxruntime --device tensorrt)")

    def _run(self, tensor):
        self._request.infer({0: tensor})
        return self._request.get_output_tensor(0).data.copy()   # the request reuses its buffer


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime: CPU, or the CUDA / TensorRT execution providers of onnxruntime-gpu."""
    name, module = "onnxruntime", "onnxruntime"

    def __init__(self, model_dir, card, threads=0, device="auto", precision="f32"):
        super().__init__(model_dir, card, threads, device, precision)
        self._only_f32(precision)
        import onnxruntime as ort
        path = _require(self.model_dir / ONNX_FILE)
        gpu = self._want_gpu(device)
        providers: list = ["CPUExecutionProvider"]
        if gpu:
            providers.insert(0, "CUDAExecutionProvider")
        cache = None
        if gpu == "tensorrt":
            cache = engine_cache_dir(self.model_dir, (ONNX_FILE,), "onnxruntime-trt", ort.__version__, gpu_name())
            first_build = not any(cache.glob("*.engine"))
            providers.insert(0, ("TensorrtExecutionProvider", {
                "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache)}))
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3                       # no "removing unused initializer" noise
        # A GPU provider that cannot load makes ORT log errors and print an "EP Error" banner to stdout
        # (which would corrupt `doctor --json`); we read back what runs and say why in one line instead.
        # (ORT's banner is kept in self.ort_banner for whoever wants the raw text.)
        ort.set_default_logger_severity(4 if gpu else 3)
        try:
            banner = io.StringIO()
            with contextlib.redirect_stdout(banner):
                self._session = ort.InferenceSession(str(path), opts, providers=providers)
            self.ort_banner = banner.getvalue()
        except Exception as e:
            raise ModelError(f"{path}: ONNX Runtime cannot load it ({_first_line(e)})") from None
        used = self._session.get_providers()              # what the session runs, not what was asked
        self.providers = tuple(used)
        self.device = {"TensorrtExecutionProvider": "tensorrt", "CUDAExecutionProvider": "gpu"}.get(used[0], "cpu")
        if gpu and self.device != gpu:
            trt_missing = missing_provider_libs("tensorrt") if gpu == "tensorrt" else []
            why = "; ".join(r for r in (cuda_unusable_reason() if self.device == "cpu" else "",
                                        f"TensorRT libraries not found: {', '.join(trt_missing)}" if trt_missing else "")
                            if r) or "the provider failed to start (see surgical-seg doctor)"
            for folder in ((cache, cache.parent) if cache is not None else ()):
                if not any(folder.iterdir()):
                    folder.rmdir()                        # no engine will be built: leave no empty folder
            self._fell_back(device, f"{gpu} ({providers[0] if isinstance(providers[0], str) else providers[0][0]})",
                            f"the session runs on {used[0]}: {why}")
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        t0 = time.perf_counter()
        self._check_io(path, inp.shape)                   # the first run builds a TensorRT engine
        if cache is not None and self.device == "tensorrt":
            verb = "built" if first_build else "loaded from cache"
            self.startup_note = f"TensorRT engine {verb} in {time.perf_counter() - t0:.1f} s ({cache})"

    @classmethod
    def gpu_kinds(cls):
        try:
            import onnxruntime as ort
            have = ort.get_available_providers()
        except Exception:
            return ()
        return tuple(k for k, p in (("gpu", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider"))
                     if p in have)

    @classmethod
    def gpu_missing(cls, kind):
        try:
            import onnxruntime as ort
            have = ", ".join(ort.get_available_providers())
            version = ort.__version__
        except Exception as e:
            return f"onnxruntime not importable ({_first_line(e)})"
        flavour = "onnxruntime-gpu" if _installed("onnxruntime-gpu") else "the CPU build onnxruntime"
        return (f"{flavour} {version} offers only {have}; scripts/setup.sh --gpu installs onnxruntime-gpu "
                "(CUDA and TensorRT providers)")

    def _run(self, tensor):
        return self._session.run(None, {self._input_name: tensor})[0]


class PaddleBackend(Backend):
    """Paddle Inference from model.json + model.pdiparams (PIR); oneDNN off on CPU (it fails on this graph)."""
    name, module = "paddle", "paddle.inference"

    def __init__(self, model_dir, card, threads=0, device="auto", precision="f32"):
        super().__init__(model_dir, card, threads, device, precision)
        self._only_f32(precision)
        import paddle.inference as pi
        prog, params = (_require(self.model_dir / f) for f in PADDLE_FILES)
        gpu = self._want_gpu(device)
        config = pi.Config(str(prog), str(params))
        config.disable_glog_info()
        if gpu == "tensorrt":       # PIR models: Paddle 3's converter, not the pre-PIR enable_tensorrt_engine
            prog, params = self._tensorrt_program(prog)
            config = pi.Config(str(prog), str(params))
            config.disable_glog_info()
        if gpu:
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            config.disable_onednn()
            config.set_cpu_math_library_num_threads(self.threads)
        try:
            self._predictor = pi.create_predictor(config)
        except Exception as e:
            raise ModelError(f"{prog}: Paddle Inference cannot load it ({_first_line(e)})") from None
        self.device = (gpu or "gpu") if config.use_gpu() else "cpu"
        if gpu and self.device == "cpu":
            self._fell_back(device, gpu, "Paddle Inference runs on CPU: " + (nvidia_gpus()[1] or "it did not take the GPU"))
        name = self._predictor.get_input_names()[0]
        self._input = self._predictor.get_input_handle(name)
        self._output = self._predictor.get_output_handle(self._predictor.get_output_names()[0])
        self._check_io(prog, self._input.shape())

    def _tensorrt_program(self, prog: Path) -> tuple[Path, Path]:
        """model.json -> a PIR program with TensorRT engine ops (paddle.tensorrt.convert), built once per
        model hash + Paddle version + GPU in the model's cache folder; returns its (.json, .pdiparams)."""
        import paddle
        from paddle.tensorrt.export import Input, PrecisionMode, TensorRTConfig, convert
        cache = engine_cache_dir(self.model_dir, PADDLE_FILES, "paddle-trt", paddle.__version__, gpu_name())
        prefix = cache / "model_trt"
        out = (prefix.with_suffix(".json"), prefix.with_suffix(".pdiparams"))
        if all(p.is_file() for p in out):
            self.startup_note = f"TensorRT program loaded from cache ({cache})"
            return out
        shape = tuple(self.input_shape)
        trt = TensorRTConfig(inputs=[Input(min_input_shape=shape, optim_input_shape=shape, max_input_shape=shape)],
                             precision_mode=PrecisionMode.FP32, save_model_dir=str(prefix))
        t0 = time.perf_counter()
        try:
            convert(str(prog.with_suffix("")), trt)
        except Exception as e:
            raise BackendUnavailable(f"backend paddle: TensorRT conversion of {prog} failed ({_first_line(e)})") from None
        if not all(p.is_file() for p in out):
            raise BackendUnavailable(f"backend paddle: paddle.tensorrt.convert wrote no {out[0].name} in {cache}")
        self.startup_note = f"TensorRT program built in {time.perf_counter() - t0:.1f} s ({cache})"
        return out

    @classmethod
    def gpu_kinds(cls):
        if "paddle" not in sys.modules and not _installed("paddlepaddle-gpu"):
            return ()                   # CPU wheel: skip importing paddle (seconds) just to learn that
        try:
            import paddle
            import paddle.inference as pi
            if not paddle.device.is_compiled_with_cuda() or paddle.device.cuda.device_count() < 1:
                return ()
            trt = any(pi.get_trt_compile_version()) and importlib.util.find_spec("paddle.tensorrt") is not None
            return ("gpu", "tensorrt") if trt else ("gpu",)
        except Exception:
            return ()

    @classmethod
    def gpu_missing(cls, kind):
        if not _installed("paddlepaddle-gpu"):
            return "paddlepaddle is the CPU build; scripts/setup.sh --paddle-gpu installs paddlepaddle-gpu 3.x"
        if kind == "tensorrt":
            return ("this paddlepaddle-gpu has no TensorRT (PIR models need paddle.tensorrt, Paddle 3 built with "
                    "TensorRT); or use --backend onnxruntime --device tensorrt")
        return nvidia_gpus()[1] or "paddle sees no CUDA device"

    def _run(self, tensor):
        self._input.reshape(list(tensor.shape))
        self._input.copy_from_cpu(tensor)
        self._predictor.run()
        return self._output.copy_to_cpu()


BACKENDS: dict[str, type[Backend]] = {
    "openvino": OpenVINOBackend,
    "onnxruntime": OnnxRuntimeBackend,
    "paddle": PaddleBackend,
}


def available_backends() -> dict[str, str]:
    """name -> "ok" or one line saying why it cannot run here (see Backend.gpu_kinds for GPUs)."""
    return {name: cls.availability() for name, cls in BACKENDS.items()}


def choose_backend(device: str = "auto") -> tuple[str, str]:
    """The backend to try first for `device`, from what is compiled in (measured: OpenVINO on CPU, DESIGN §3).

    A guess: `engine.choice.open_auto` loads it and reads back what runs, falling back when it lies.
    """
    device = normalize_device(device)
    if device in ("auto", "gpu", "tensorrt"):
        want = "gpu" if device == "auto" else device
        for name in ("onnxruntime", "paddle"):
            if want in BACKENDS[name].gpu_kinds() and BACKENDS[name].availability() == "ok":
                return name, f"{name} can use the {want} here"
        if device != "auto":
            raise BackendUnavailable(f"device {device}: no installed backend can use it here "
                                     "(install onnxruntime-gpu, or paddlepaddle-gpu from PaddlePaddle's index)")
    for name in ("openvino", "onnxruntime", "paddle"):
        if BACKENDS[name].availability() == "ok":
            return name, f"{name} is the fastest installed CPU backend"
    raise BackendUnavailable("no inference backend installed (pip install openvino or onnxruntime)")


__all__ = ["Backend", "BACKENDS", "DEVICES", "PRECISIONS", "OpenVINOBackend", "OnnxRuntimeBackend", "PaddleBackend",
           "available_backends", "choose_backend", "cache_dir", "normalize_device", "DEVICE_ALIASES"]
