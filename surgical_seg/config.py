"""Typed configuration: YAML mirrored by frozen dataclasses, checked once at start.

The CLI and the viewer read the same file (`configs/app.yml`); sections are named after the
pipeline stages. Training runs read their own file (`configs/train_*.yml`). A wrong key or
value raises ConfigError naming `file: section.key`.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass(frozen=True)
class SourceConfig:
    realtime: bool = False          # pace files at their native fps, as a camera would
    loop: bool = False
    open_timeout_s: float = 5.0     # streams: give up opening after this
    read_timeout_s: float = 2.0     # live: no frame for this long = signal lost
    retry_backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    read_abandon_s: float = 4.0     # a read stuck this long (watchdog) is abandoned: new capture handle; 0 = off
    decode_threads: int = 1         # PyAV decoder threads; 0 = FFmpeg's choice (frame threads for files)


@dataclass(frozen=True)
class EngineConfig:
    model: str = "fastscnn_spine"
    backend: str = "auto"           # auto | openvino | onnxruntime | paddle
    threads: int = 0                # 0 = auto: in a pipeline all cores but one, alone the backend's default
    device: str = "auto"            # auto | cpu | gpu
    precision: str = "auto"         # auto | f32 | bf16 | f16: auto = the fastest export validated for the model that the
                                    # CPU runs natively, else f32 (engine.precision); never the runtime's own default
    smoothing: float = 0.5          # temporal EMA of probabilities, 0 = off (0.5: docs/performance.md "Overlay alignment")
    upsample: str = "bilinear"      # nearest | bilinear: how class scores reach frame size (bilinear = smooth edges)
    min_region: float = 0.0         # predicted regions under this share of the frame go to the class around them (0 = off)

    def pipeline_threads(self, mode: str = "live") -> int:
        """Inference threads in a pipeline: the set number, else by mode. Live: all cores but one, so decode,
        compositor and UI keep one (2 cores: a second OpenVINO thread spins between calls and the masks came
        later). Replay: all cores (2 cores, 720p bench: 117 fps against 98 with one; nothing is painted)."""
        if self.threads:
            return self.threads
        cores = os.cpu_count() or 2
        return cores if mode == "replay" else max(1, cores - 1)


@dataclass(frozen=True)
class PipelineConfig:
    mode: str = "live"              # live (newest frame wins) | replay (every frame, in order)
    stale_ms: float = 150.0         # a mask older than this is not drawn
    align_ms: float = 40.0          # live: a frame waits up to this long (from capture) for its own mask; 0 = never
    warp: bool = True               # live: a frame without its own mask gets the newest one warped by optical flow
    model_nice: int = -5            # live, Linux: the model's thread runs this much nicer than capture and compositor
                                    # (negative: before them; below 0 needs CAP_SYS_NICE, else it stays level)
    opencv_threads: int = 1         # view, bench, soak: OpenCV's worker pool (0 = OpenCV's default, one per core)


@dataclass(frozen=True)
class OverlayConfig:
    opacity: float = 0.45
    style: str = "fill"             # fill | contour
    hidden_classes: tuple[str, ...] = ()
    confidence: str = "off"         # fade | hatch | off: how pixels under the model card's confidence_threshold look


@dataclass(frozen=True)
class RecorderConfig:
    queue_frames: int = 60          # bounded writer queue; overflow drops with a counter
    codec: str = "libx264"
    threads: int = 1                # encoder threads per stream (x264's default, ~1.5 per core, adds threads, not speed)
    nice: int = 15                  # Linux: the writer (and its encoders) this much nicer than normal: below the model
    overlay: str = "auto"           # live | later | auto: overlay.mp4 as it records, or by `surgical-seg compose` afterwards
    thinning: int = 4               # a writer behind for good records every 2nd, 3rd... up to this Nth frame (1 = drop at random)
    folder_pattern: str = "rec_%Y%m%d_%H%M%S"   # strftime pattern of a recording's folder name (no / or ..)


@dataclass(frozen=True)
class PrivacyConfig:
    enabled: bool = True            # the in-body gate before every sink (recorder, snapshots, predict, streams)
    model: str = "oob_gate"         # the gate's classifier (weights/<model>: gate.yml + model.onnx)
    runtime: str = "onnxruntime"    # onnxruntime | openvino: what runs it (one thread)
    threshold: float = 0.5          # out-of-body probability at or above which a frame is out of the body
    in_body_ms: float = 500.0       # back in only after this long of in-body frames (out at once)
    writer_delay_ms: float = 500.0  # sinks get a frame this late, so frames just before a withdrawal are blanked too
    score_timeout_ms: float = 200.0 # a frame not scored within this is out of the body (fail closed)
    blank_screen: bool = False      # blank the surgeon's screen too (teaching streams)


@dataclass(frozen=True)
class ViewerConfig:
    stats_window_s: float = 10.0
    fullscreen: bool = False
    frozen_ms: float = 0.0          # no new frame for this long = FROZEN, overlay off; 0 = 3 frame intervals
    max_stats_rows: int = 9_000     # rolling per-frame rows kept for --stats (5 min at 30 fps, ~12 MB)
    max_events: int = 500           # rolling event log
    heap_mmap_kib: int = 0          # blocks this large are mmapped and unmapped on free (glibc; 0 = its default)
    heap_trim_s: float = 5.0        # free heap pages go back to the system this often (glibc malloc_trim; 0 = never)
    ui_nice: int = -5               # Linux: the UI thread's nice (below 0 needs CAP_SYS_NICE; else left as is)


@dataclass(frozen=True)
class WatchdogConfig:
    infer_stall_ms: float = 150.0   # an inference call running longer is flagged "model stalled"
    infer_abandon_s: float = 2.0    # ... and abandoned after this: new inference session


@dataclass(frozen=True)
class AppConfig:
    source: SourceConfig = field(default_factory=SourceConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    overlay: OverlayConfig = field(default_factory=OverlayConfig)
    recorder: RecorderConfig = field(default_factory=RecorderConfig)
    viewer: ViewerConfig = field(default_factory=ViewerConfig)
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)


@dataclass(frozen=True)
class TrainConfig:
    architecture: str = "FastSCNN"          # key of surgical_seg.training.models.ARCHITECTURES
    name: str = "fastscnn_spine"
    data: str = "data/synth"
    input_width: int = 320
    input_height: int = 192
    batch_size: int = 8
    iters: int = 4000
    optimizer: str = "adamw"                # adamw | sgd
    lr: float = 0.004
    weight_decay: float = 0.01
    warmup_iters: int = 100
    schedule: str = "poly"                  # poly | cosine
    loss: str = "ce+dice"                   # ce | ce+dice | ohem+dice
    dice_weight: float = 0.5
    instrument_weight: float = 1.0          # CE weight of instrument pixels (datasets with instruments/ masks)
    eval_every: int = 250
    log_every: int = 20
    seed: int = 0
    threads: int = 2
    max_minutes: float = 0.0                # stop (with a checkpoint) after this long; 0 = no limit
    init_from: str = ""                     # start from these weights: an exported model folder or .pdparams
    keep_evals: bool = False                # also keep the weights of every evaluation: iter_<N>.pdparams
    augment: dict = field(default_factory=lambda: {
        "flip": True, "rotate_deg": 25.0, "scale": [0.75, 1.35], "color_jitter": 0.25, "blur_prob": 0.2})


def _coerce(value: Any, typ: Any, where: str) -> Any:
    origin = typing.get_origin(typ)
    if dataclasses.is_dataclass(typ):
        return from_dict(typ, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = typing.get_args(typ)[0]
        return tuple(_coerce(v, inner, where) for v in value)
    if origin in (dict,) or typ is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return value
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if typ in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (typ is int and not float(value).is_integer()):
            raise ConfigError(f"{where}: expected a number ({typ.__name__}), got {value!r}")
        return typ(value)
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return value
    return value


def _key(where: str, key: str) -> str:
    """'app.yml' + 'engine' -> 'app.yml: engine'; 'app.yml: engine' + 'backend' -> 'app.yml: engine.backend'."""
    return f"{where}.{key}" if ": " in where else f"{where}: {key}"


def from_dict(cls: type, raw: Any, where: str = "config") -> Any:
    """Build dataclass `cls` from a mapping, naming the bad key on any error."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{_key(where, unknown[0])}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(v, hints[k], _key(where, k)) for k, v in raw.items()}
    return cls(**kwargs)


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw


def load_app_config(path: str | Path | None = None) -> AppConfig:
    path = Path(path) if path else CONFIG_DIR / "app.yml"
    cfg = from_dict(AppConfig, load_yaml(path), str(path))
    _check_app(cfg, str(path))
    return cfg


def load_train_config(path: str | Path) -> TrainConfig:
    cfg = from_dict(TrainConfig, load_yaml(path), str(path))
    if cfg.input_width % 32 or cfg.input_height % 32:
        raise ConfigError(f"{path}: input_width/input_height must be multiples of 32")
    if cfg.loss not in ("ce", "ce+dice", "ohem+dice"):
        raise ConfigError(f"{path}: loss must be ce, ce+dice or ohem+dice, not {cfg.loss!r}")
    return cfg


def _check_app(cfg: AppConfig, where: str) -> None:
    if cfg.source.decode_threads < 0:
        raise ConfigError(f"{where}: source.decode_threads must be >= 0 (0 = FFmpeg's choice), not {cfg.source.decode_threads!r}")
    if cfg.pipeline.mode not in ("live", "replay"):
        raise ConfigError(f"{where}: pipeline.mode must be live or replay, not {cfg.pipeline.mode!r}")
    if cfg.pipeline.stale_ms <= 0:
        raise ConfigError(f"{where}: pipeline.stale_ms must be > 0")
    if not 0.0 <= cfg.pipeline.align_ms < cfg.pipeline.stale_ms:
        raise ConfigError(f"{where}: pipeline.align_ms must be >= 0 and below pipeline.stale_ms")
    if cfg.pipeline.opencv_threads < 0:
        raise ConfigError(f"{where}: pipeline.opencv_threads must be >= 0 (0 = OpenCV's default), "
                          f"not {cfg.pipeline.opencv_threads!r}")
    if not -20 <= cfg.pipeline.model_nice <= 19:
        raise ConfigError(f"{where}: pipeline.model_nice must be -20..19, not {cfg.pipeline.model_nice!r}")
    if cfg.recorder.overlay not in ("auto", "live", "later"):
        raise ConfigError(f"{where}: recorder.overlay must be auto, live or later, not {cfg.recorder.overlay!r}")
    if cfg.recorder.thinning < 1:
        raise ConfigError(f"{where}: recorder.thinning must be >= 1 (1 = record every frame, drop when behind), "
                          f"not {cfg.recorder.thinning!r}")
    if not 0 <= cfg.recorder.nice <= 19 or cfg.recorder.threads < 0:
        raise ConfigError(f"{where}: recorder.nice must be 0..19 and recorder.threads >= 0 (0 = the encoder's choice)")
    if cfg.engine.upsample not in ("nearest", "bilinear"):
        raise ConfigError(f"{where}: engine.upsample must be nearest or bilinear, not {cfg.engine.upsample!r}")
    if not 0.0 <= cfg.overlay.opacity <= 1.0:
        raise ConfigError(f"{where}: overlay.opacity must be between 0 and 1")
    if cfg.overlay.style not in ("fill", "contour"):
        raise ConfigError(f"{where}: overlay.style must be fill or contour")
    if cfg.overlay.confidence not in ("fade", "hatch", "off"):
        raise ConfigError(f"{where}: overlay.confidence must be fade, hatch or off, not {cfg.overlay.confidence!r}")
    if cfg.engine.precision not in ("auto", "f32", "bf16", "f16"):
        raise ConfigError(f"{where}: engine.precision must be auto, f32, bf16 or f16, not {cfg.engine.precision!r}")
    if not 0.0 <= cfg.engine.smoothing < 1.0:
        raise ConfigError(f"{where}: engine.smoothing must be in [0, 1)")
    if not 0.0 <= cfg.engine.min_region < 0.5:
        raise ConfigError(f"{where}: engine.min_region must be a share of the frame in [0, 0.5) (0 = off), "
                          f"not {cfg.engine.min_region!r}")
    w = cfg.watchdog
    if not 0 < w.infer_stall_ms < w.infer_abandon_s * 1000:
        raise ConfigError(f"{where}: watchdog.infer_stall_ms must be > 0 and below infer_abandon_s")
    if (cfg.viewer.frozen_ms < 0 or cfg.viewer.max_stats_rows < 100 or cfg.viewer.max_events < 10
            or cfg.viewer.heap_mmap_kib < 0 or cfg.viewer.heap_trim_s < 0 or not -20 <= cfg.viewer.ui_nice <= 19):
        raise ConfigError(f"{where}: viewer.frozen_ms, heap_mmap_kib and heap_trim_s must be >= 0, max_stats_rows >= 100, "
                          "max_events >= 10, ui_nice -20..19")
    _check_privacy(cfg, where)


def _check_privacy(cfg: AppConfig, where: str) -> None:
    pattern = cfg.recorder.folder_pattern
    if not pattern.strip() or "/" in pattern or "\\" in pattern or ".." in pattern:
        raise ConfigError(f"{where}: recorder.folder_pattern must be a plain folder name pattern "
                          f"(strftime codes, no '/' or '..'), not {pattern!r}")
    p = cfg.privacy
    if p.runtime not in ("onnxruntime", "openvino"):
        raise ConfigError(f"{where}: privacy.runtime must be onnxruntime or openvino, not {p.runtime!r}")
    if not 0.0 < p.threshold < 1.0 or p.in_body_ms < 0 or p.writer_delay_ms < 0 or p.score_timeout_ms <= 0:
        raise ConfigError(f"{where}: privacy.threshold must be in (0, 1), in_body_ms and writer_delay_ms >= 0, "
                          "score_timeout_ms > 0")


def replace_section(cfg: AppConfig, section: str, **changes: Any) -> AppConfig:
    """CLI flags override YAML: a new AppConfig with some keys of one section changed."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **changes)})


def apply_overrides(cfg: AppConfig, pairs: list[str], where: str = "--set") -> AppConfig:
    """`section.key=value` strings (value parsed as YAML) applied on top of cfg, checked like the file."""
    for pair in pairs:
        key, sep, text = pair.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not hasattr(cfg, section):
            raise ConfigError(f"{where} {pair!r}: expected section.key=value (sections: "
                              f"{', '.join(f.name for f in dataclasses.fields(AppConfig))})")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"{where} {pair!r}: value is not valid YAML") from None
        current = dataclasses.asdict(getattr(cfg, section))
        typ = type(getattr(cfg, section))
        if isinstance(value, bool) and typing.get_type_hints(typ).get(name) is str:
            value = text.strip()                 # YAML reads off/on/yes/no as booleans; a text key wants the word
        built = from_dict(typ, {**current, name: value}, f"{where}: {section}")
        cfg = dataclasses.replace(cfg, **{section: built})
    _check_app(cfg, where)
    return cfg


__all__ = ["AppConfig", "apply_overrides", "PrivacyConfig", "SourceConfig", "EngineConfig", "PipelineConfig", "OverlayConfig",
           "RecorderConfig", "ViewerConfig", "WatchdogConfig", "TrainConfig", "load_app_config",
           "load_train_config", "from_dict", "replace_section", "CONFIG_DIR"]
