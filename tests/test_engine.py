"""Engine: real backends on the tiny exported model, letterbox geometry, smoothing, errors."""
from __future__ import annotations

import shutil
import sys
import time

import cv2
import numpy as np
import pytest
import yaml

from surgical_seg.engine import (BACKENDS, Preprocessor, available_backends, choose_backend,
                                 letterbox_geometry, load_segmenter)
from surgical_seg.engine.backends import OnnxRuntimeBackend, PaddleBackend
from surgical_seg.engine.preprocess import labels_to_frame, probabilities_to_frame
from surgical_seg.engine.scores import frame_probabilities, softmax
from surgical_seg.errors import BackendUnavailable, ConfigError, ModelError
from surgical_seg.modelcard import ModelCard, stamp_card
from surgical_seg.packet import FramePacket
from surgical_seg.training.export import synthetic_frame


@pytest.fixture(scope="module")
def segmenters(tiny_model_dir):
    return {name: load_segmenter(tiny_model_dir, backend=name, threads=1, device="cpu", precision="f32") for name in BACKENDS}


def test_all_backends_available_here():
    assert available_backends() == {"openvino": "ok", "onnxruntime": "ok", "paddle": "ok"}
    assert choose_backend("cpu")[0] == "openvino"


def test_auto_picks_openvino_on_cpu(tiny_model_dir):
    seg = load_segmenter(tiny_model_dir)
    if OnnxRuntimeBackend.gpu_kinds() or PaddleBackend.gpu_kinds():
        pytest.skip("a GPU backend is usable here; auto prefers it")
    assert (seg.backend_name, seg.device) == ("openvino", "cpu")
    assert "fastest" in seg.why


@pytest.mark.parametrize("size", [(1280, 720), (1279, 721), (480, 640)])
def test_backends_agree_on_labels(segmenters, size):
    frame = synthetic_frame(5, size)
    results = {name: seg.segment(frame, probabilities=True) for name, seg in segmenters.items()}
    ref = results["openvino"]
    assert ref.labels.shape == (size[1], size[0])
    assert len(np.unique(ref.labels)) >= 2           # a flat answer would make agreement meaningless
    for name, res in results.items():
        assert res.class_names == ("background", "bone", "ligament", "disc")
        assert res.probabilities.shape == (4, size[1], size[0])
        np.testing.assert_allclose(res.probabilities.sum(axis=0), 1.0, atol=1e-3)
        assert (res.labels == ref.labels).mean() >= 0.99, name
        assert np.abs(res.probabilities - ref.probabilities).max() < 1e-3, name


def test_preprocess_matches_reference(tiny_model_dir):
    card = ModelCard.load(tiny_model_dir)
    frame = np.random.default_rng(0).integers(0, 256, (721, 1279, 3), dtype=np.uint8)
    tensor, box = Preprocessor(card)(frame)
    assert tensor.shape == (1, 3, 96, 128) and tensor.dtype == np.float32 and tensor.flags.c_contiguous
    small = cv2.resize(frame, (box.w, box.h), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((96, 128, 3), np.uint8)
    canvas[box.y:box.y + box.h, box.x:box.x + box.w] = small
    want = ((canvas[..., ::-1].astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)
    np.testing.assert_allclose(tensor[0], want, atol=1e-6)
    assert (box.x, box.w) == (0, 128) and box.h == 72 and box.y == 12      # 1279x721 -> 128x72 centred
    assert np.all(tensor[0, :, :box.y] == -1.0)                            # black padding


@pytest.mark.parametrize("frame_wh", [(1279, 721), (721, 1279), (1280, 720), (97, 33), (128, 96)])
def test_unletterbox_maps_back_to_the_frame(frame_wh):
    """Padding never leaks into the answer, and the label map comes back at exactly the frame size."""
    fw, fh = frame_wh
    box = letterbox_geometry(fw, fh, 128, 96)
    assert 0 <= box.x and box.x + box.w <= 128 and 0 <= box.y and box.y + box.h <= 96
    assert box.w == 128 or box.h == 96
    # Content: class 1 left half, class 2 right half; padding says class 3 with certainty.
    probs = np.zeros((1, 4, 96, 128), np.float32)
    probs[0, 3] = 1.0
    content = np.zeros((box.h, box.w), np.uint8)
    content[:, : box.w // 2] = 1
    content[:, box.w // 2:] = 2
    region = probs[0, :, box.y:box.y + box.h, box.x:box.x + box.w]
    region[:] = 0
    region[1], region[2] = content == 1, content == 2
    labels = labels_to_frame(probs, box)
    assert labels.shape == (fh, fw) and labels.dtype == np.uint8
    assert 3 not in labels
    boundary = np.flatnonzero(np.diff(labels[fh // 2].astype(int)))
    assert len(boundary) == 1 and abs(boundary[0] + 1 - fw / 2) <= fw / box.w + 1
    p = probabilities_to_frame(probs, box)
    assert p.shape == (4, fh, fw) and p[3].max() == 0.0


def test_round_trip_is_exact_on_an_aligned_label_map():
    """640x360 -> 128x72 (+12 px padding): a label map on a 5 px grid survives the round trip."""
    rng = np.random.default_rng(1)
    coarse = rng.integers(0, 4, (72, 128), dtype=np.uint8)
    labels = np.kron(coarse, np.ones((5, 5), np.uint8))                      # 360x640
    box = letterbox_geometry(640, 360, 128, 96)
    small = cv2.resize(labels, (box.w, box.h), interpolation=cv2.INTER_NEAREST_EXACT)
    probs = np.zeros((1, 4, 96, 128), np.float32)
    probs[0, 0] = 1.0
    onehot = np.eye(4, dtype=np.float32)[small].transpose(2, 0, 1)
    probs[0, :, box.y:box.y + box.h, box.x:box.x + box.w] = onehot
    np.testing.assert_array_equal(labels_to_frame(probs, box), labels)


def test_stretch_mode_uses_the_whole_input():
    box = letterbox_geometry(1279, 721, 128, 96, "stretch")
    assert (box.x, box.y, box.w, box.h) == (0, 0, 128, 96)


def test_process_stamps_the_three_stages(segmenters):
    seg = segmenters["openvino"]
    packet = FramePacket(index=42, frame=synthetic_frame(7, (640, 360)), t_capture_ns=time.perf_counter_ns())
    assert seg.process(packet) is packet
    (a0, a1), (b0, b1), (c0, c1) = (packet.spans[s] for s in ("preprocess", "infer", "postprocess"))
    assert packet.t_capture_ns <= a0 <= a1 <= b0 <= b1 <= c0 <= c1
    s = packet.segmentation
    assert (s.frame_index, s.t_capture_ns, s.labels.shape) == (42, packet.t_capture_ns, (360, 640))
    np.testing.assert_array_equal(s.labels, seg.segment(packet.frame).labels)


def test_smoothing_is_an_ema_and_off_by_default(tiny_model_dir, segmenters):
    a, b = synthetic_frame(1, (320, 180)), synthetic_frame(2, (320, 180))
    plain = segmenters["onnxruntime"]
    pa, pb = (plain.segment(f, probabilities=True).probabilities for f in (a, b))
    assert np.abs(pa - pb).max() > 0.05
    plain.segment(a)                                                    # no memory when off
    np.testing.assert_array_equal(plain.segment(b, probabilities=True).probabilities, pb)

    smooth = load_segmenter(tiny_model_dir, backend="onnxruntime", threads=1, smoothing=0.75)
    np.testing.assert_allclose(smooth.segment(a, probabilities=True).probabilities, pa, atol=1e-5)
    got = smooth.segment(b, probabilities=True).probabilities
    # the EMA is of the probabilities at the head's stride, then resized as logits (log-probabilities)
    (ta, box), (tb, _) = plain.preprocess(a), plain.preprocess(b)
    ema = 0.75 * softmax(plain.infer(ta), axis=1) + 0.25 * softmax(plain.infer(tb), axis=1)
    np.testing.assert_allclose(got, frame_probabilities(np.log(ema), box, 8), atol=1e-5)
    smooth.reset()
    np.testing.assert_allclose(smooth.segment(b, probabilities=True).probabilities, pb, atol=1e-5)
    big = synthetic_frame(2, (640, 360))                               # a new frame size restarts it
    np.testing.assert_array_equal(smooth.segment(big).labels, plain.segment(big).labels)


def test_missing_model_card(tmp_path, tiny_model_dir):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    (folder / "model.yml").unlink()
    with pytest.raises(ModelError, match="model.yml"):
        load_segmenter(folder)


@pytest.mark.parametrize("backend,damaged", [("openvino", "model.onnx"), ("onnxruntime", "model.onnx"),
                                             ("paddle", "model.json")])
def test_corrupt_or_missing_model_file(tmp_path, tiny_model_dir, backend, damaged):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    data = (folder / damaged).read_bytes()
    (folder / damaged).write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError, match=f"{damaged}: SHA-256 does not match model.yml"):
        load_segmenter(folder, backend=backend, device="cpu")
    stamp_card(folder)                                  # trusted by hand: now the runtime itself refuses it
    with pytest.raises(ModelError, match=f"{damaged}: .*cannot"):
        load_segmenter(folder, backend=backend, device="cpu")
    (folder / damaged).unlink()
    with pytest.raises(ModelError, match=f"{damaged}: missing"):
        load_segmenter(folder, backend=backend, device="cpu")


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("change,message", [({"input_width": 160}, "input shape"),
                                            ({"classes": ["a", "b", "c", "d", "e"],
                                              "colors_rgb": [[0, 0, 0]] * 5}, "output shape")])
def test_card_that_does_not_match_the_model_file(tmp_path, tiny_model_dir, backend, change, message):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    card = yaml.safe_load((folder / "model.yml").read_text())
    (folder / "model.yml").write_text(yaml.safe_dump({**card, **change}))
    with pytest.raises(ModelError, match=f"model.(onnx|json): {message} .* does not match model.yml"):
        load_segmenter(folder, backend=backend, device="cpu")


def test_setting_errors(tiny_model_dir):
    with pytest.raises(ConfigError, match="engine.backend: 'tensorflow' unknown"):
        load_segmenter(tiny_model_dir, backend="tensorflow")
    with pytest.raises(ConfigError, match="engine.device: 'npu' unknown"):
        load_segmenter(tiny_model_dir, device="npu")
    with pytest.raises(ConfigError, match="engine.smoothing"):
        load_segmenter(tiny_model_dir, smoothing=1.0)
    with pytest.raises(ModelError, match="model 'no_such_model' not found"):
        load_segmenter("no_such_model")


def test_backend_not_installed(tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)          # what Python sees when it is not installed
    assert available_backends()["openvino"].startswith("openvino not importable")
    with pytest.raises(BackendUnavailable, match="backend openvino: openvino not importable"):
        load_segmenter(tiny_model_dir, backend="openvino")
    assert choose_backend("cpu")[0] == "onnxruntime"


def test_gpu_requested_without_one(tiny_model_dir):
    if OnnxRuntimeBackend.gpu_kinds() or PaddleBackend.gpu_kinds():
        pytest.skip("a GPU backend is usable here")
    with pytest.raises(BackendUnavailable, match="device gpu"):
        load_segmenter(tiny_model_dir, device="gpu")
    with pytest.raises(BackendUnavailable, match="backend paddle: device tensorrt not available"):
        load_segmenter(tiny_model_dir, backend="paddle", device="tensorrt")


def test_argmax_classes_equals_numpy_argmax():
    from surgical_seg.engine.preprocess import argmax_classes
    p = np.random.default_rng(3).random((5, 37, 53), dtype=np.float32)
    p[:, 0, 0] = 0.5                                                    # a tie: the first class wins
    np.testing.assert_array_equal(argmax_classes(p), p.argmax(axis=0).astype(np.uint8))
    assert argmax_classes(p)[0, 0] == 0


def test_legacy_dark_below_leaves_the_black_surround_unlabelled(tmp_path, tiny_model_dir):
    """Models trained with the surround ignored (v1) set dark_below; new models learn it (default 0: off)."""
    from surgical_seg.engine import load_segmenter
    assert load_segmenter(tiny_model_dir, backend="onnxruntime").card.dark_below == 0
    legacy = tmp_path / "legacy"
    shutil.copytree(tiny_model_dir, legacy)
    card = yaml.safe_load((legacy / "model.yml").read_text())
    (legacy / "model.yml").write_text(yaml.safe_dump({**card, "dark_below": 12}))
    seg = load_segmenter(legacy, backend="onnxruntime")
    frame = np.full((180, 320, 3), 6, np.uint8)                     # the black surround (with noise floor)
    frame[40:140, 100:220] = np.random.default_rng(0).integers(60, 255, (100, 120, 3), dtype=np.uint8)
    labels = seg.segment(frame).labels
    dark = np.ones((180, 320), bool)
    dark[36:144, 96:224] = False                                    # model-resolution edge slack
    assert labels[dark].max() == 0
    assert seg.card.dark_below == 12


def test_precision_is_f32_unless_asked(tiny_model_dir):
    """OpenVINO's default on AVX-512 BF16 CPUs is bf16: we never inherit it."""
    for name in BACKENDS:
        seg = load_segmenter(tiny_model_dir, backend=name, threads=1, device="cpu")
        assert seg.precision == "f32", name
    with pytest.raises(ConfigError, match="engine.precision: 'int4' unknown"):
        load_segmenter(tiny_model_dir, backend="openvino", precision="int4")
    for name in ("onnxruntime", "paddle"):
        with pytest.raises(BackendUnavailable, match=f"backend {name}: engine.precision bf16 is not supported"):
            load_segmenter(tiny_model_dir, backend=name, device="cpu", precision="bf16")


def test_openvino_bf16_where_the_cpu_has_it(tiny_model_dir):
    import openvino as ov
    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "BF16" not in caps:
        with pytest.raises(BackendUnavailable, match="engine.precision bf16 is not supported by this CPU"):
            load_segmenter(tiny_model_dir, backend="openvino", device="cpu", precision="bf16")
        return
    frame = synthetic_frame(5, (640, 360))
    f32 = load_segmenter(tiny_model_dir, backend="openvino", threads=1, device="cpu").segment(frame, True)
    bf16_seg = load_segmenter(tiny_model_dir, backend="openvino", threads=1, device="cpu", precision="bf16")
    assert bf16_seg.precision == "bf16"
    bf16 = bf16_seg.segment(frame, True)
    diff = np.abs(bf16.probabilities - f32.probabilities).max()
    assert 1e-4 < diff < 0.2                      # really ran in bf16, and still the same model


@pytest.mark.parametrize("model_w,frame,expected", [(320, (1280, 720), (640, 360)), (384, (1280, 720), (640, 360)),
                                                      (384, (1920, 1080), (640, 360)), (320, (1920, 1080), (640, 360))])
def test_bilinear_edges_work_at_about_twice_the_model_resolution(model_w, frame, expected):
    """Not the full frame (10 ms at 720p when 1280 // 768 rounded down to 1), not below the model's grid."""
    from surgical_seg.engine.preprocess import Letterbox, _bilinear_argmax
    model_h = round(model_w * 9 / 16)
    probs = np.random.default_rng(0).random((4, model_h, model_w), dtype=np.float32)
    labels = _bilinear_argmax(probs, Letterbox(frame[0], frame[1], 0, 0, model_w, model_h))
    assert labels.shape[::-1] == expected and labels.dtype == np.uint8
