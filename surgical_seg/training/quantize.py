"""INT8 post-training quantization of an exported model: model.onnx -> model_int8.onnx (QDQ).

On CPUs without bf16 (AVX2, AVX-512 without BF16) OpenVINO offers no reduced float precision, but every
x86 CPU runs INT8. On a 2-core AVX2 EPYC the shipped Fast-SCNN's inference is ~1.4x faster in INT8 with
labels equal on 99.7 % of pixels (docs/performance.md), when two kinds of layer stay f32:
- the convolutions that read feature maps finer than the head's stride (the learning-to-downsample
  block): quantizing its first pointwise convolution alone made labels disagree on 22 % of pixels;
- MatMul: the pyramid pooling's fixed pooling/upsampling matrices (export.make_pools_static).
Activation ranges come from the 99.999th percentile over calibration frames (min/max ranges: 58 % equal
labels), weights per output channel. Whether INT8 may run is decided like bf16: `export` (or
`surgical-seg quantize`) measures it against f32 on a val split (evaluation.precision_check), and
engine.precision "auto" takes it only if it passed and measured faster.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import BackendUnavailable, DataError, ModelError
from ..modelcard import INT8_ONNX_FILE, ONNX_FILE, ModelCard, stamp_card

CALIBRATION_FRAMES = 100
PERCENTILE = 99.999
OPSET = 13                     # per-channel QuantizeLinear / DequantizeLinear need opset 13


def _keep_f32(model, stride: int, input_hw: tuple[int, int]) -> list[str]:
    """Nodes left in f32: Conv nodes whose input is finer than the head's stride, and every MatMul."""
    import onnx
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)}
    finest = input_hw[0] // stride
    keep = []
    for node in inferred.graph.node:
        if node.op_type == "MatMul":
            keep.append(node.name)
        elif node.op_type == "Conv":
            shape = shapes.get(node.input[0]) or []
            if len(shape) == 4 and shape[2] > finest:
                keep.append(node.name)
    return keep


def calibration_tensors(data: str | Path, card: ModelCard, split: str = "train",
                        frames: int = CALIBRATION_FRAMES) -> list[np.ndarray]:
    """Model input tensors of up to `frames` images spread over the split (the engine's own preprocessing)."""
    from ..data.datasets import read_split
    from ..engine.preprocess import Preprocessor
    pairs = read_split(data, split)
    if not pairs:
        raise DataError(f"{data}: split {split!r} lists no images to calibrate INT8 on")
    pre = Preprocessor(card)
    step = max(1, len(pairs) // frames)
    out = []
    for img, _ in pairs[::step][:frames]:
        frame = cv2.imread(str(img), cv2.IMREAD_COLOR)
        if frame is None:
            raise DataError(f"{img}: cannot read image")
        out.append(pre(frame)[0])
    return out


def quantize_int8(model_dir: str | Path, data: str | Path, split: str = "train",
                  frames: int = CALIBRATION_FRAMES) -> dict[str, Any]:
    """Write model_dir/model_int8.onnx from model.onnx (logits cards only); returns how it was made."""
    import onnx
    from onnx import version_converter
    try:
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:        # e.g. no onnxruntime in this environment, or no ml_dtypes
        raise BackendUnavailable(f"INT8 quantization needs onnxruntime.quantization, which cannot be imported "
                                 f"here ({e})") from None

    model_dir = Path(model_dir)
    card = ModelCard.load(model_dir, verify=False)
    if card.output != "logits":
        raise ModelError(f"{model_dir}: INT8 needs a graph that hands out logits (re-export it first)")
    tensors = calibration_tensors(data, card, split, frames)
    model = onnx.load(str(model_dir / ONNX_FILE))
    input_name = model.graph.input[0].name

    class Frames(CalibrationDataReader):
        def __init__(self):
            self._it = iter(tensors)

        def get_next(self):
            t = next(self._it, None)
            return None if t is None else {input_name: t}

    with tempfile.TemporaryDirectory() as tmp, _quiet():
        upgraded, prepared = Path(tmp) / "opset.onnx", Path(tmp) / "prepared.onnx"
        onnx.save(version_converter.convert_version(model, OPSET), str(upgraded))
        quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
        keep = _keep_f32(onnx.load(str(prepared)), card.output_stride, (card.input_height, card.input_width))
        out = model_dir / INT8_ONNX_FILE
        quantize_static(str(prepared), str(out), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibPercentile": PERCENTILE}, nodes_to_exclude=keep)
    return {"calibration": {"data": str(data), "split": split, "frames": len(tensors),
                            "activations": f"uint8, percentile {PERCENTILE}", "weights": "int8 per channel",
                            "format": f"ONNX QDQ, opset {OPSET}"},
            "kept_f32": keep}


def add_int8(model_dir: str | Path, data: str | Path, validate: str | Path | None = None,
             split: str = "train") -> ModelCard:
    """`surgical-seg quantize`: model_int8.onnx into an exported model folder, fingerprinted, and every
    precision re-validated on `validate`'s val split (default `data`'s) into the card, with how INT8 was made."""
    from ..data.datasets import read_split
    from ..evaluation.precision_check import write_precisions
    validate = data if validate is None else validate
    read_split(validate, "val")                  # a missing split fails now, not after the quantization
    made = quantize_int8(model_dir, data, split)
    stamp_card(model_dir)
    return write_precisions(model_dir, validate, made)


@contextlib.contextmanager
def _quiet():
    """onnxruntime.quantization prints its histogram settings and logs every unused initializer. ONNX
    Runtime's own log level is process-wide and cannot be read back, so it stays at errors only."""
    import onnxruntime
    onnxruntime.set_default_logger_severity(3)
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.getLogger().setLevel(level)


__all__ = ["add_int8", "quantize_int8", "calibration_tensors", "CALIBRATION_FRAMES", "PERCENTILE"]
