"""The privacy gate's scorer: is this frame inside the body? (classifier + cheap rules).

A tiny CNN (64x64 RGB thumbnail of the whole frame -> 2 logits, trained and exported by
surgical_seg.training.oob_gate, ~250 KB of ONNX) run on one thread by ONNX Runtime (or OpenVINO:
privacy.runtime), plus cheap rules
that can only ever say "out": frame statistics far from every in-body training frame (the ranges are
in the gate's card): corner brightness (no dark scope circle; wide now that the training frames include
views filling the frame), brightness and glare. A rule never
lets a frame through; only the classifier does.

The gate folder (weights/oob_gate): gate.yml (this card: input size, threshold, feature ranges,
training provenance and measured figures) + model.onnx (+ the Paddle files it was exported from).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from ..errors import ModelError
from ..modelcard import WEIGHTS_ROOT, file_sha256

GATE_CARD = "gate.yml"
# onnxruntime by default: called once per frame from a paced thread, this 64x64 graph costs 0.36 ms of
# thread CPU in ONNX Runtime and 0.65 ms in OpenVINO here (0.24 ms for both in a tight loop: OpenVINO's
# per-call overhead when its caches are cold), and the gate's whole budget is 1 ms per 1080p frame
RUNTIMES = ("onnxruntime", "openvino")
GATE_ONNX = "model.onnx"
SIZE = 64
FEATURES = ("corner_luma", "mean_luma", "bright_share")    # rules: each one-sided (high = theatre)


@dataclass(frozen=True)
class GateCard:
    name: str = "oob_gate"
    input_size: int = SIZE
    threshold: float = 0.5                           # p(out) at or above: out of the body
    feature_ranges: dict = field(default_factory=dict)   # feature -> [lo, hi] over in-body training frames
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    onnx_sha256: str = ""

    @classmethod
    def load(cls, folder: str | Path) -> "GateCard":
        path = Path(folder) / GATE_CARD
        if not path.is_file():
            raise ModelError(f"{folder}: no {GATE_CARD} (privacy gate model not found)")
        raw = yaml.safe_load(path.read_text()) or {}
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / GATE_CARD
        path.write_text(yaml.safe_dump(dataclasses.asdict(self), sort_keys=False))
        return path


def gate_dir(name_or_dir: str | Path) -> Path:
    p = Path(name_or_dir)
    if (p / GATE_CARD).is_file():
        return p
    if (WEIGHTS_ROOT / str(name_or_dir) / GATE_CARD).is_file():
        return WEIGHTS_ROOT / str(name_or_dir)
    raise ModelError(f"privacy gate model {str(name_or_dir)!r} not found (no {GATE_CARD})")


def thumbnail(frame: np.ndarray, size: int = SIZE) -> np.ndarray:
    """The whole BGR frame as size x size: 2size x 2size nearest samples (16k pixel reads, whatever the frame
    size), then a 2x2 area average. Paced once per frame with cold caches this costs ~0.06 ms of thread CPU
    at 1080p here; a strided copy of 68 full rows cost 0.28 ms (each row a new page)."""
    small = cv2.resize(frame, (2 * size, 2 * size), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_AREA)


def features(thumb: np.ndarray) -> dict[str, float]:
    """Cheap statistics of a thumbnail: corner brightness (the scope circle), brightness, glare."""
    luma = cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY)
    k = max(2, thumb.shape[0] // 8)
    corners = (int(luma[:k, :k].sum()) + int(luma[:k, -k:].sum()) + int(luma[-k:, :k].sum())
               + int(luma[-k:, -k:].sum())) / (4 * k * k)
    return {"corner_luma": corners, "mean_luma": float(cv2.mean(luma)[0]),
            "bright_share": cv2.countNonZero(cv2.threshold(luma, 235, 255, cv2.THRESH_BINARY)[1]) / luma.size}


def rule_trigger(feats: dict[str, float], ranges: dict) -> str | None:
    """The first feature outside its in-body range, said in words (None: no rule fires)."""
    for name in FEATURES:
        lo_hi = ranges.get(name)
        if lo_hi is not None and not lo_hi[0] <= feats[name] <= lo_hi[1]:
            return f"{name} {feats[name]:.2f} outside in-body {lo_hi[0]:.2f}..{lo_hi[1]:.2f}"
    return None


def to_tensor(thumb: np.ndarray) -> np.ndarray:
    """BGR uint8 thumbnail -> 1x3xSxS float32 RGB in [0, 1]."""
    return np.ascontiguousarray(thumb[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


class OobScorer:
    """`score(frame) -> (p_out, rule or None)`: classifier probability and the first rule that fired."""

    def __init__(self, folder: str | Path = "oob_gate", threads: int = 1, runtime: str = "onnxruntime") -> None:
        self.folder = gate_dir(folder)
        self.card = GateCard.load(self.folder)
        onnx = self.folder / GATE_ONNX
        if not onnx.is_file():
            raise ModelError(f"{onnx}: missing")
        if self.card.onnx_sha256 and file_sha256(onnx) != self.card.onnx_sha256:
            raise ModelError(f"{onnx}: does not match {GATE_CARD} (sha256 differs)")
        if runtime not in RUNTIMES:
            raise ModelError(f"privacy.runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        self.runtime = runtime
        self.size = int(self.card.input_size)
        if runtime == "openvino":
            import openvino as ov
            core = ov.Core()
            compiled = core.compile_model(core.read_model(str(onnx)), "CPU",
                                          {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
                                           "INFERENCE_PRECISION_HINT": "f32"})
            request = compiled.create_infer_request()

            def run(x):
                request.infer({0: x})
                return request.get_output_tensor(0).data
        else:
            import onnxruntime as ort
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
            so.log_severity_level = 3
            session = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name

            def run(x):
                return session.run(None, {name: x})[0]
        self._run = run

    def probability(self, thumb: np.ndarray) -> float:
        logits = np.asarray(self._run(to_tensor(thumb))).reshape(-1).astype(np.float64)
        e = np.exp(logits - logits.max())
        return float(e[1] / e.sum())

    def score(self, frame: np.ndarray) -> tuple[float, str | None]:
        thumb = thumbnail(frame, self.size)
        return self.probability(thumb), rule_trigger(features(thumb), self.card.feature_ranges)


def load_scorer(name: str | Path = "oob_gate", **kw: Any) -> OobScorer:
    return OobScorer(name, **kw)


__all__ = ["GateCard", "OobScorer", "load_scorer", "thumbnail", "features", "rule_trigger", "to_tensor",
           "gate_dir", "GATE_CARD", "GATE_ONNX", "FEATURES", "SIZE", "RUNTIMES"]
