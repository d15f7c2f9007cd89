"""`bench --baseline`'s second loop: the naive sequential OpenVINO loop on the same ONNX file as the pipeline
(model_int8.onnx when the pipeline runs int8: the speedup is then the pipeline's, not the quantization's).

What someone writes from OpenVINO's getting-started example: cv2.VideoCapture read -> cv2.resize to the
model input (stretched) -> normalise with NumPy -> OpenVINO compiled with its defaults (no hints: its own
thread count and inference precision, read back and reported) -> argmax of the output -> nearest resize to the
frame -> cv2.addWeighted, one frame at a time. It runs the model file as it is, so on a model exported with
the head's logits (stride 8) its labels are the blocky argmax at 1/8 resolution: cheaper than ours, not better.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from ..modelcard import INT8_ONNX_FILE, ONNX_FILE, ModelCard, resolve_model_dir


def timed_video_loop(video: str, n: int, step: Callable[[np.ndarray], Any]) -> tuple[int, float] | None:
    """`step` on each of the first `n` frames cv2.VideoCapture reads, after one warm-up call on the first
    frame: (frames done, seconds spent); None when the video cannot be read. The naive loops' shared frame."""
    cap = cv2.VideoCapture(video)
    ok, first = cap.read()
    if not ok:
        cap.release()
        return None
    step(first)
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    done, t0 = 0, time.perf_counter()
    while done < n:
        ok, frame = cap.read()
        if not ok:
            break
        step(frame)
        done += 1
    spent = time.perf_counter() - t0
    cap.release()
    return done, spent


def naive_openvino_fps(video: str, model: str | Path, n: int, opacity: float, precision: str = "f32") -> dict[str, Any]:
    """Frames per second of the naive loop over the first `n` frames of `video` (after one warm-up frame), on
    the file the pipeline's `precision` runs."""
    import openvino as ov
    model_dir = resolve_model_dir(model)
    card = ModelCard.load(model_dir)
    core = ov.Core()
    model_file = model_dir / (INT8_ONNX_FILE if precision == "int8" else ONNX_FILE)
    compiled = core.compile_model(str(model_file), "CPU")          # OpenVINO's defaults, on purpose
    request = compiled.create_infer_request()
    mean = np.asarray(card.mean, np.float32)
    std = np.asarray(card.std, np.float32)
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(card.colors_rgb)] = np.asarray(card.colors_rgb, np.uint8)[:, ::-1]

    def step(frame: np.ndarray) -> None:
        img = cv2.resize(frame, (card.input_width, card.input_height))
        x = ((img[..., ::-1].astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)[None]
        out = request.infer({0: np.ascontiguousarray(x)})[compiled.output(0)]
        labels = cv2.resize(out[0].argmax(0).astype(np.uint8), (frame.shape[1], frame.shape[0]),
                            interpolation=cv2.INTER_NEAREST)
        cv2.addWeighted(frame, 1.0 - opacity, lut[labels], opacity, 0.0)

    timed = timed_video_loop(video, n, step)
    if timed is None:
        return {"fps": None, "note": f"cv2.VideoCapture cannot read {video}"}
    done, spent = timed
    return {"fps": done / spent if done else None, "frames": done, "backend": "openvino",
            "model_file": str(model_file),
            "precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
            "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "loop": "cv2.VideoCapture read -> cv2.resize -> NumPy normalise -> OpenVINO (its defaults) -> argmax "
                    "-> nearest resize -> cv2.addWeighted, one thread of Python"}


__all__ = ["naive_openvino_fps", "timed_video_loop"]
