"""`model.yml`: the model card that travels with every exported model.

Preprocessing travels with the model (cf. PaddleSeg's deploy.yaml): every backend builds its
input from this card, so a model can never be fed with the wrong size or normalisation.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .atomic import atomic_write_text
from .errors import ModelError

# The label set of the clinical study: ids are fixed across synth, training, eval and the app.
CLASS_NAMES = ("background", "bone", "ligament", "disc")
FOREGROUND = ("bone", "ligament", "disc")
IGNORE_INDEX = 255  # pixels outside the scope circle; excluded from loss and metrics
# RGB overlay colours: bone yellow, ligament green, disc blue (distinct on red tissue).
CLASS_COLORS_RGB = ((0, 0, 0), (250, 220, 50), (60, 220, 60), (40, 150, 255))

WEIGHTS_ROOT = Path(__file__).resolve().parent.parent / "weights"   # shipped models, by name
CARD_NAME = "model.yml"
PADDLE_FILES = ("model.json", "model.pdiparams")
ONNX_FILE = "model.onnx"
INT8_ONNX_FILE = "model_int8.onnx"    # the INT8 (QDQ) graph `export` quantizes from model.onnx (training/quantize.py)
DYGRAPH_FILE = "model.pdparams"       # dygraph state dict, for explanations (Grad-CAM needs gradients)
MODEL_FILES = (ONNX_FILE, INT8_ONNX_FILE, *PADDLE_FILES)     # what `export` writes and model.yml fingerprints
OUTPUTS = ("probabilities", "logits")           # what an exported graph hands out (ModelCard.output)


@dataclass(frozen=True)
class ModelCard:
    name: str
    architecture: str
    classes: tuple[str, ...]
    colors_rgb: tuple[tuple[int, int, int], ...]
    input_width: int
    input_height: int
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)   # applied to RGB scaled to [0, 1]
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    resize: str = "letterbox"        # keep aspect ratio, pad with black (the scope surround)
    layout: str = "NCHW"
    channel_order: str = "RGB"
    dark_below: int = 0               # legacy (models trained with the surround ignored set 12): grey level under
                                      # which pixels stay unlabelled; 0 = off, the model labels the surround itself
    temperature: float = 1.0          # softmax temperature fitted by `export --calibrate` (1 = uncalibrated)
    confidence_threshold: float = 0.6  # calibrated top-class probability under which the overlay marks a pixel unsure
    # What the graph hands out. Cards written before the graph was cut at the head (no key): softmax
    # probabilities at the input size ("probabilities", stride 1); since: the head's logits at its own
    # stride ("logits", Fast-SCNN 8), the engine resizes the scores and takes softmax only where it is used.
    output: str = "probabilities"
    output_stride: int = 1
    # Per reduced precision, what `export` measured against f32 on a val split (label agreement, mIoU
    # change, allowed or why not); engine.precision "auto" runs the fastest allowed one the CPU has.
    precisions: dict[str, Any] = field(default_factory=dict)
    files_sha256: dict[str, str] = field(default_factory=dict)   # model file -> SHA-256, written by export
    training: dict[str, Any] = field(default_factory=dict)   # data provenance, command, date
    metrics: dict[str, Any] = field(default_factory=dict)
    speed: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["classes"] = list(self.classes)
        d["colors_rgb"] = [list(c) for c in self.colors_rgb]
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / CARD_NAME
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    @classmethod
    def load(cls, model_dir: str | Path, verify: bool = True) -> "ModelCard":
        """Read and check model.yml; with `verify`, refuse model files that differ from their SHA-256."""
        path = Path(model_dir) / CARD_NAME
        if not Path(model_dir).is_dir():
            raise ModelError(f"{model_dir}: model folder not found")
        if not path.is_file():
            raise ModelError(f"{path}: missing model card (every model folder needs a model.yml)")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise ModelError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(raw, dict):
            raise ModelError(f"{path}: expected a mapping of model card keys")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ModelError(f"{path}: unknown key(s) {', '.join(unknown)}")
        try:
            card = cls(**{**raw,
                          "classes": tuple(raw["classes"]),
                          "colors_rgb": tuple(tuple(int(v) for v in c) for c in raw["colors_rgb"]),
                          "mean": tuple(float(v) for v in raw.get("mean", (0.5,) * 3)),
                          "std": tuple(float(v) for v in raw.get("std", (0.5,) * 3))})
        except KeyError as e:
            raise ModelError(f"{path}: missing key {e.args[0]}") from None
        except (TypeError, ValueError) as e:
            raise ModelError(f"{path}: bad value ({e})") from None
        card.check(path)
        if verify:
            card.verify_files(model_dir)
        return card

    def verify_files(self, model_dir: str | Path) -> None:
        """ModelError when a fingerprinted model file is missing or changed since export."""
        for name, want in self.files_sha256.items():
            path = Path(model_dir) / name
            if not path.is_file():
                raise ModelError(f"{path}: missing (model.yml lists its SHA-256)")
            if file_sha256(path) != want:
                raise ModelError(f"{path}: SHA-256 does not match model.yml (changed after export; re-export it, or "
                                 f"if you trust it: python scripts/stamp_model_card.py {model_dir})")

    def check(self, where: Any = "model.yml") -> None:
        if len(self.colors_rgb) != len(self.classes):
            raise ModelError(f"{where}: {len(self.classes)} classes but {len(self.colors_rgb)} colours")
        if self.input_width % 32 or self.input_height % 32 or self.input_width <= 0 or self.input_height <= 0:
            raise ModelError(f"{where}: input size {self.input_width}x{self.input_height} must be positive multiples of 32")
        if self.resize not in ("letterbox", "stretch"):
            raise ModelError(f"{where}: resize must be letterbox or stretch, not {self.resize!r}")
        if not 0 <= self.dark_below <= 255:
            raise ModelError(f"{where}: dark_below must be a grey level 0..255, not {self.dark_below}")
        if not 0.0 < self.temperature <= 100.0:
            raise ModelError(f"{where}: temperature must be in (0, 100], not {self.temperature}")
        if not 0.0 < self.confidence_threshold <= 1.0:
            raise ModelError(f"{where}: confidence_threshold must be in (0, 1], not {self.confidence_threshold}")
        if self.output not in OUTPUTS:
            raise ModelError(f"{where}: output must be {' or '.join(OUTPUTS)}, not {self.output!r}")
        if (not isinstance(self.output_stride, int) or self.output_stride < 1 or self.input_width % self.output_stride
                or self.input_height % self.output_stride):
            raise ModelError(f"{where}: output_stride {self.output_stride!r} must be a positive integer dividing "
                             f"the input size {self.input_width}x{self.input_height}")
        if self.output == "probabilities" and self.output_stride != 1:
            raise ModelError(f"{where}: output probabilities come at the input size (output_stride 1)")
        if not isinstance(self.precisions, dict):
            raise ModelError(f"{where}: precisions must be a mapping (precision -> what export measured)")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ModelError(f"{where}: mean/std need 3 values, std > 0")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hash_model_files(model_dir: str | Path) -> dict[str, str]:
    """SHA-256 of each model file present in the folder (model.onnx, model.json, model.pdiparams)."""
    return {name: file_sha256(Path(model_dir) / name) for name in MODEL_FILES if (Path(model_dir) / name).is_file()}


def stamp_card(model_dir: str | Path) -> ModelCard:
    """Write the current files' SHA-256 into model.yml (export does this; also for trusted hand edits)."""
    card = dataclasses.replace(ModelCard.load(model_dir, verify=False), files_sha256=hash_model_files(model_dir))
    card.save(model_dir)
    return card


def resolve_model_dir(name_or_dir: str | Path, weights_root: str | Path | None = None) -> Path:
    """A model is named by a folder path or by its name under `weights/`."""
    p = Path(name_or_dir)
    if p.is_dir():
        return p
    root = Path(weights_root) if weights_root else WEIGHTS_ROOT
    if (root / str(name_or_dir)).is_dir():
        return root / str(name_or_dir)
    available = sorted(d.name for d in root.iterdir() if (d / CARD_NAME).is_file()) if root.is_dir() else []
    raise ModelError(f"model {name_or_dir!r} not found (not a folder; shipped models: {', '.join(available) or 'none'})")


__all__ = ["CLASS_NAMES", "FOREGROUND", "IGNORE_INDEX", "CLASS_COLORS_RGB", "ModelCard", "WEIGHTS_ROOT", "CARD_NAME", "PADDLE_FILES", "ONNX_FILE", "INT8_ONNX_FILE", "MODEL_FILES", "OUTPUTS", "DYGRAPH_FILE", "resolve_model_dir",
           "file_sha256", "hash_model_files", "stamp_card"]
