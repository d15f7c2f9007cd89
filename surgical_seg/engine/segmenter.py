"""The Segmenter: model card + preprocessing + one backend + postprocessing.

The pipeline calls preprocess / infer / postprocess separately so each stage gets its own
timestamps (`process` does exactly that on a FramePacket); `segment` is the one-call form.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .confidence import apply_temperature, confidence_map
from ..errors import ConfigError
from ..modelcard import ModelCard, resolve_model_dir
from ..packet import FramePacket, Segmentation
from .backends import Backend
from .choice import open_backend
from .preprocess import UPSAMPLE, Letterbox, Preprocessor, crop, labels_to_frame, probabilities_to_frame
from .regions import suppress_small_regions
from . import scores


class Segmenter:
    """Frames in, Segmentations out. Not thread-safe: one inference thread owns it.

    `temperature` (the model card's, from `export --calibrate`) scales the probabilities it hands out
    and the confidence map; labels do not depend on it. `with_confidence` adds the confidence map
    (may be switched from another thread: it is read once per frame). `min_region` > 0: predicted regions
    under that share of the frame are given to the class around them (engine/regions.py), on the model's
    own grid after smoothing and before labels, confidence or probabilities are made from the scores.
    """

    def __init__(self, card: ModelCard, backend: Backend, smoothing: float = 0.0,
                 model_dir: Path | None = None, why: str = "", confidence: bool = False, upsample: str = "nearest",
                 min_region: float = 0.0):
        if not 0.0 <= smoothing < 1.0:
            raise ConfigError(f"engine.smoothing: {smoothing} must be in [0, 1)")
        check_min_region(min_region)
        self.min_region = float(min_region)
        if upsample not in UPSAMPLE:
            raise ConfigError(f"engine.upsample: {upsample!r} unknown (choose from {', '.join(UPSAMPLE)})")
        self.card, self.backend, self.smoothing = card, backend, float(smoothing)
        self.upsample = upsample
        self.infer_delay_ms = 0.0      # bench --infer-delay-ms: a slower model or machine, added to every infer
        self.model_dir, self.why = model_dir, why
        self._pre = Preprocessor(card)
        self._labels = scores.LabelSampler()       # logits -> labels, with its buffers kept between frames
        self._ema: np.ndarray | None = None
        self._ema_box: Letterbox | None = None
        self._names, self._colors = tuple(card.classes), tuple(card.colors_rgb)
        self.temperature, self.with_confidence = float(card.temperature), bool(confidence)
        # False: labels stay at the size they were computed (the live viewer paints them scaled and
        # resizes only what it records): no full-resolution resize on the model's thread
        self.frame_labels = True

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def precision(self) -> str:
        """The arithmetic the backend actually runs (f32 unless engine.precision asked otherwise)."""
        return self.backend.precision

    @property
    def precision_why(self) -> str:
        """One line: why that precision runs (engine.precision auto: what export validated, what the CPU has)."""
        return getattr(self.backend, "precision_why", "")

    def __repr__(self) -> str:
        return (f"Segmenter({self.card.name}, {self.card.architecture} {self.card.input_width}x"
                f"{self.card.input_height}, backend={self.backend_name}, device={self.device}, precision={self.precision})")

    def reset(self) -> None:
        """Forget the smoothing state (call on a cut: new source, seek)."""
        self._ema = self._ema_box = None

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        return self._pre(frame_bgr)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        out = self.backend.infer(tensor)
        if self.infer_delay_ms > 0:
            time.sleep(self.infer_delay_ms / 1e3)
        return out

    @property
    def logits(self) -> bool:
        """True when the graph hands out the head's logits at its stride (cards since the graph cut)."""
        return self.card.output == "logits"

    def region_probabilities(self, out: np.ndarray, meta: Letterbox) -> np.ndarray:
        """CxhxW softmax probabilities (temperature 1) of the frame's region at model input resolution."""
        if self.logits:
            return scores.region_probabilities(out, meta, self.card.output_stride)
        return crop(out, meta)

    def postprocess(self, probs: np.ndarray, meta: Letterbox, probabilities: bool = False, *,
                    frame_index: int = -1, t_capture_ns: int = 0) -> Segmentation:
        """`probs` is what `infer` returned: probabilities (old cards) or the head's logits at its stride."""
        if self.smoothing > 0.0 and self.logits:  # EMA of the probabilities at the head's stride (a few thousand
            ema = self._smooth(scores.softmax(probs, axis=1), meta)    # values), handed on as log-probabilities:
            probs = np.log(np.maximum(ema, np.float32(1e-30)))        # softmax(log p) = p, logits as any other
        elif self.smoothing > 0.0:
            probs = self._smooth(probs, meta)
        if self.min_region > 0.0:                # the one place small regions go: every label, map and score agrees
            s = self.card.output_stride if self.logits else 1
            probs = suppress_small_regions(probs, self.min_region, slice(meta.y // s, -(-(meta.y + meta.h) // s)),
                                           slice(meta.x // s, -(-(meta.x + meta.w) // s)))
        if self.logits:
            return self._from_logits(probs, meta, probabilities, frame_index, t_capture_ns)
        conf = None
        if self.with_confidence:
            conf = confidence_map(crop(probs, meta), self.temperature)
            if meta.dark is not None:
                conf[meta.dark] = 1.0                    # never labelled: nothing to be unsure about
        full = None
        if probabilities:
            full = probabilities_to_frame(probs, meta)
            if self.temperature != 1.0:
                full = apply_temperature(full, self.temperature)
        return Segmentation(labels=labels_to_frame(probs, meta, self.upsample, self.frame_labels), class_names=self._names,
                            colors_rgb=self._colors, frame_index=frame_index, t_capture_ns=t_capture_ns,
                            probabilities=full, confidence=conf)

    def _from_logits(self, z: np.ndarray, meta: Letterbox, probabilities: bool, frame_index: int,
                     t_capture_ns: int) -> Segmentation:
        stride = self.card.output_stride
        conf = None
        if self.with_confidence:                 # softmax only here, at model input resolution
            conf = scores.confidence_from_logits(scores.sample(z, meta, stride, (meta.w, meta.h)), self.temperature)
            if meta.dark is not None:
                conf[meta.dark] = 1.0
        full = scores.frame_probabilities(z, meta, stride, self.temperature) if probabilities else None
        return Segmentation(labels=self._labels(z, meta, stride, self.upsample, self.frame_labels), class_names=self._names,
                            colors_rgb=self._colors, frame_index=frame_index, t_capture_ns=t_capture_ns,
                            probabilities=full, confidence=conf)

    def _smooth(self, probs: np.ndarray, meta: Letterbox) -> np.ndarray:
        """EMA of the probabilities at model resolution; restarts when the frame size changes."""
        if self._ema is None or self._ema_box != meta or self._ema.shape != probs.shape:
            self._ema, self._ema_box = probs.astype(np.float32, copy=True), meta
        else:
            self._ema *= self.smoothing
            self._ema += (1.0 - self.smoothing) * probs
        return self._ema

    def segment(self, frame_bgr: np.ndarray, probabilities: bool = False) -> Segmentation:
        tensor, meta = self.preprocess(frame_bgr)
        return self.postprocess(self.infer(tensor), meta, probabilities)

    def process(self, packet: FramePacket, probabilities: bool = False) -> FramePacket:
        """Run the three stages on a packet, stamping each span; sets packet.segmentation."""
        t0 = time.perf_counter_ns()
        tensor, meta = self.preprocess(packet.frame)
        t1 = time.perf_counter_ns()
        packet.mark("preprocess", t0, t1)
        probs = self.infer(tensor)
        t2 = time.perf_counter_ns()
        packet.mark("infer", t1, t2)
        packet.segmentation = self.postprocess(probs, meta, probabilities, frame_index=packet.index,
                                               t_capture_ns=packet.t_capture_ns)
        packet.mark("postprocess", t2)
        return packet


def check_min_region(min_region: float) -> None:
    """engine.min_region is a share of the frame: 0 (off) up to, not including, half of it."""
    if not 0.0 <= min_region < 0.5:
        raise ConfigError(f"engine.min_region: {min_region} must be a share of the frame in [0, 0.5) (0 = off)")


def load_segmenter(model: str | Path, backend: str = "auto", threads: int = 0, device: str = "auto",
                   smoothing: float = 0.0, precision: str = "f32", confidence: bool = False,
                   upsample: str = "nearest", min_region: float = 0.0) -> Segmenter:
    """Load a model folder (or a name under weights/) on one backend; "auto" picks the fastest here.

    `segmenter.why` says, in one line, why that backend runs and on what (read back from the runtime).
    """
    if not 0.0 <= smoothing < 1.0:
        raise ConfigError(f"engine.smoothing: {smoothing} must be in [0, 1)")
    if threads < 0:
        raise ConfigError(f"engine.threads: {threads} must be >= 0 (0 = backend default)")
    check_min_region(min_region)
    model_dir = resolve_model_dir(model)
    card = ModelCard.load(model_dir)
    b, why = open_backend(backend, model_dir, card, device=device, threads=threads, precision=precision)
    return Segmenter(card, b, smoothing, model_dir, why, confidence, upsample, min_region)


__all__ = ["Segmenter", "load_segmenter", "check_min_region"]
