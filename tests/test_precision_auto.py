"""engine.precision auto: the rules (validated by export, native on the CPU, measured faster), the figures
export writes into the card (real OpenVINO runs on a tiny synth split), and what runs here."""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from surgical_seg.config import load_app_config
from surgical_seg.engine import load_segmenter
from surgical_seg.engine.precision import MAX_MIOU_DROP, MIN_AGREEMENT, cpu_capabilities, native, resolve, verdict
from surgical_seg.errors import BackendUnavailable, ConfigError, ModelError
from surgical_seg.modelcard import ModelCard

CAPS_AMX = ("FP32", "BF16", "INT8")
CAPS_NONE = ("FP32", "INT8", "BIN", "EXPORT_IMPORT")
OK = {"measured": True, "allowed": True, "agreement": 0.9989, "miou_change": -0.0002, "infer_ms_p50": 1.8}
F32 = {"infer_ms_p50": 4.7}


def test_verdict_thresholds():
    assert verdict(MIN_AGREEMENT, -MAX_MIOU_DROP)[0]
    assert verdict(0.9989, +0.001)[0]
    allowed, why = verdict(0.9949, 0.0)
    assert not allowed and "99.49 %" in why
    allowed, why = verdict(0.999, -0.0021)
    assert not allowed and "mIoU -0.0021" in why


def test_auto_takes_a_validated_native_faster_precision():
    p, why = resolve("auto", {"f32": F32, "bf16": OK}, "openvino", "cpu", CAPS_AMX)
    assert p == "bf16" and "validated by export" in why and "99.89 %" in why


@pytest.mark.parametrize("precisions,caps,backend,reason", [
    ({"f32": F32, "bf16": OK}, CAPS_NONE, "openvino", "no native bf16 or f16 on this CPU (OpenVINO offers FP32, INT8"),
    ({"f32": F32}, CAPS_AMX, "openvino", "bf16 not validated by export"),
    ({"f32": F32, "bf16": {**OK, "allowed": False, "why": "labels equal on 99.10 % < 99.5 %"}}, CAPS_AMX,
     "openvino", "bf16 refused by export: labels equal on 99.10 %"),
    ({"f32": F32, "bf16": {**OK, "infer_ms_p50": 5.0}}, CAPS_AMX, "openvino", "no faster than f32"),
    ({"f32": F32, "bf16": OK}, CAPS_AMX, "onnxruntime", "f32 on onnxruntime"),
])
def test_auto_falls_back_to_f32_and_says_why(precisions, caps, backend, reason):
    p, why = resolve("auto", precisions, backend, "cpu", caps)
    assert p == "f32" and why.startswith("auto: f32") and reason in why


def test_explicit_precisions_run_as_asked_and_say_what_export_found():
    assert resolve("f32", {}, "openvino", "cpu", CAPS_AMX) == ("f32", "asked for (engine.precision f32)")
    assert "NOT validated" in resolve("bf16", {}, "openvino", "cpu", CAPS_AMX)[1]
    assert "export allowed it" in resolve("bf16", {"bf16": OK}, "openvino", "cpu", CAPS_AMX)[1]
    with pytest.raises(ConfigError, match="engine.precision"):
        resolve("int4", {}, "openvino", "cpu", CAPS_AMX)


def test_default_config_is_auto():
    assert load_app_config().engine.precision == "auto"


def test_auto_on_this_machine(tiny_model_dir, tmp_path):
    """What runs here follows the rules: the tiny model has no validation record, so f32, and why."""
    seg = load_segmenter(tiny_model_dir, backend="openvino", device="cpu", threads=1, precision="auto")
    assert seg.precision == "f32" and seg.precision_why.startswith("auto: f32")
    assert seg.backend._compiled.get_property("INFERENCE_NUM_THREADS") == 1          # explicit, not a default
    assert str(seg.backend._compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32")
    # a card that validated bf16: taken where the CPU has it natively, else f32 with that reason
    d = shutil.copytree(tiny_model_dir, tmp_path / "m")
    dataclasses.replace(ModelCard.load(d), precisions={"f32": F32, "bf16": OK}).save(d)
    seg = load_segmenter(d, backend="openvino", device="cpu", threads=1, precision="auto")
    if native("bf16", cpu_capabilities()):
        assert seg.precision == "bf16"
    else:
        assert seg.precision == "f32" and "no native bf16" in seg.precision_why
    ort = load_segmenter(d, backend="onnxruntime", device="cpu", threads=1, precision="auto")
    assert ort.precision == "f32" and "onnxruntime" in ort.precision_why


def test_export_validates_precisions_on_a_val_split(tmp_path, tiny_run_dir):
    """Real export with --validate-precision: f32 figures always, each reduced precision measured where the
    CPU has it natively (then judged by the thresholds), else recorded as not measured with the CPU's caps."""
    from surgical_seg.apps.cli import main
    from surgical_seg.evaluation.precision_check import compare_precision, _frames
    from surgical_seg.data.classlist import ClassList
    from surgical_seg.data.datasets import read_split
    data = tmp_path / "data"
    assert main(["synth", "--out", str(data), "--images", "30", "--seed", "4", "--size", "160x96"]) == 0
    out = tmp_path / "model"
    assert main(["export", str(tiny_run_dir), "--out", str(out), "--validate-precision", str(data)]) == 0
    card = ModelCard.load(out)
    assert card.precisions["f32"]["images"] == len(read_split(data, "val")) and card.precisions["f32"]["threads"] == 1
    caps = cpu_capabilities()
    for p in ("bf16", "f16"):
        rec = card.precisions[p]
        if native(p, caps):
            assert rec["measured"] and rec["allowed"] == verdict(rec["agreement"], rec["miou_change"])[0]
        else:
            assert rec == {"measured": False, "allowed": False, "why": rec["why"]} and "not measured" in rec["why"]
    # the comparison itself, f32 against f32: identical labels, no mIoU change, allowed
    same = compare_precision(out, _frames(read_split(data, "val")), "f32", ClassList.for_dataset(data))
    assert (same["agreement"], same["miou_change"], same["allowed"]) == (1.0, 0.0, True)


def test_auto_takes_validated_int8_on_a_cpu_without_bf16():
    int8 = {**OK, "infer_ms_p50": 3.9}
    p, why = resolve("auto", {"f32": F32, "int8": int8}, "openvino", "cpu", CAPS_NONE)
    assert p == "int8" and "int8 validated by export" in why and "3.9 vs 4.7 ms f32" in why
    p, why = resolve("auto", {"f32": F32, "int8": {**int8, "infer_ms_p50": 4.8}}, "openvino", "cpu", CAPS_NONE)
    assert p == "f32" and "int8 measured no faster than f32" in why


def test_export_quantizes_int8_and_validates_it(tmp_path, tiny_run_dir):
    """Real export with --calibrate: model_int8.onnx quantized from the train split (fingerprinted in the card),
    the high-resolution convolutions left f32, int8 judged against f32 on the val split like bf16, and run
    by OpenVINO from its own file when asked for."""
    from surgical_seg.apps.cli import main
    from surgical_seg.modelcard import INT8_ONNX_FILE
    data = tmp_path / "data"
    assert main(["synth", "--out", str(data), "--images", "30", "--seed", "4", "--size", "160x96"]) == 0
    out = tmp_path / "model"
    assert main(["export", str(tiny_run_dir), "--out", str(out), "--calibrate", str(data)]) == 0
    card = ModelCard.load(out)                                  # verifies every fingerprinted file
    assert INT8_ONNX_FILE in card.files_sha256
    rec = card.precisions["int8"]
    assert rec["measured"] and rec["allowed"] == verdict(rec["agreement"], rec["miou_change"])[0]
    assert rec["calibration"]["split"] == "train" and rec["calibration"]["frames"] > 0
    assert "Conv.0" in rec["kept_f32"]                          # reads the full-resolution input: stays f32
    seg = load_segmenter(out, backend="openvino", device="cpu", threads=1, precision="int8")
    assert seg.precision == "int8" and "export" in seg.precision_why
    f32 = load_segmenter(out, backend="openvino", device="cpu", threads=1, precision="f32")
    frame = np.random.default_rng(0).integers(0, 255, (96, 160, 3), dtype=np.uint8)
    assert (seg.segment(frame).labels == f32.segment(frame).labels).mean() > 0.5
    with pytest.raises(BackendUnavailable, match="engine.precision int8 is not supported"):
        load_segmenter(out, backend="onnxruntime", device="cpu", precision="int8")
    (out / INT8_ONNX_FILE).write_bytes(b"")                    # tampered: refused, not silently run
    with pytest.raises(ModelError, match="model_int8.onnx"):
        load_segmenter(out, backend="openvino", device="cpu", precision="int8")


def test_quantize_refuses_an_old_probabilities_card(tiny_old_model_dir, tmp_path):
    from surgical_seg.apps.cli import main
    data = tmp_path / "data"
    assert main(["synth", "--out", str(data), "--images", "12", "--seed", "4", "--size", "160x96"]) == 0
    d = shutil.copytree(tiny_old_model_dir, tmp_path / "old")
    assert main(["quantize", str(d), "--data", str(data)]) != 0


def test_export_without_the_quantizer_still_exports_f32_and_says_why(tmp_path, tiny_run_dir, monkeypatch, capsys):
    """No onnxruntime.quantization (e.g. a GPU-only environment without it): the f32 model is exported
    whole, int8 is recorded as not measured, and the reason is printed, not a traceback."""
    import builtins
    from surgical_seg.apps.cli import main
    from surgical_seg.modelcard import INT8_ONNX_FILE
    data = tmp_path / "data"
    assert main(["synth", "--out", str(data), "--images", "20", "--seed", "4", "--size", "160x96"]) == 0
    real_import = builtins.__import__

    def no_quantizer(name, *args, **kwargs):
        if name.startswith("onnxruntime.quantization"):
            raise ImportError("No module named 'ml_dtypes'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_quantizer)
    out = tmp_path / "model"
    assert main(["export", str(tiny_run_dir), "--out", str(out), "--calibrate", str(data)]) == 0
    card = ModelCard.load(out)
    assert not (out / INT8_ONNX_FILE).exists() and INT8_ONNX_FILE not in card.files_sha256
    assert card.precisions["int8"]["measured"] is False and "no model_int8.onnx" in card.precisions["int8"]["why"]
    assert "needs onnxruntime.quantization" in capsys.readouterr().err
