"""Export: real jit.save + paddle2onnx on a tiny FastSCNN, parity of the runtimes, errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import paddle
import pytest

from fixtures_model import TINY_SIZE, make_tiny_run
from surgical_seg.apps.cli import main
from surgical_seg.errors import DataError, ModelError
from surgical_seg.engine.cache import cache_key, engine_cache_dir
from surgical_seg.modelcard import ModelCard, hash_model_files, stamp_card
from surgical_seg.training.export import (PARITY_MIN, StaticAdaptiveAvgPool, export_model, parity,
                                          read_run, synthetic_frame)


def test_export_writes_all_files_and_card(tiny_model_dir):
    for name in ("model.json", "model.pdiparams", "model.onnx", "model.yml"):
        assert (tiny_model_dir / name).stat().st_size > 0, name
    card = ModelCard.load(tiny_model_dir)
    assert (card.architecture, card.input_width, card.input_height) == ("FastSCNN", *TINY_SIZE)
    assert card.classes == ("background", "bone", "ligament", "disc")
    assert card.training["command"] == "tests/fixtures_model.py (random weights)"
    assert card.training["data"].startswith("none: random weights")
    assert card.training["best"] == {"iter": 0, "miou": 0.0}
    assert card.metrics == {"note": "untrained"}
    assert PARITY_MIN <= card.training["export_parity"] <= 1.0
    assert card.training["export_parity_frames"] == 4
    assert set(card.files_sha256) == {"model.onnx", "model.json", "model.pdiparams"}
    assert card.files_sha256 == hash_model_files(tiny_model_dir)


def test_onnx_output_is_the_trained_model(tiny_model_dir, tiny_run_dir):
    """The exported graph (with its static pools) ends at the head's logits, stride 8: resized as the
    model's own forward resizes them, they are what the dygraph model computes."""
    import onnxruntime as ort
    from surgical_seg.engine import Preprocessor
    from surgical_seg.training.models import build_model
    card = ModelCard.load(tiny_model_dir)
    assert (card.output, card.output_stride) == ("logits", 8)
    model = build_model("FastSCNN", 4)
    model.set_state_dict(paddle.load(str(tiny_run_dir / "best.pdparams")))
    model.eval()
    tensor, _ = Preprocessor(card)(synthetic_frame(3, (640, 360)))
    with paddle.no_grad():
        ref = model(paddle.to_tensor(tensor))[0].numpy()
    sess = ort.InferenceSession(str(tiny_model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: tensor})[0]
    assert out.shape == (1, 4, TINY_SIZE[1] // 8, TINY_SIZE[0] // 8)
    graph = __import__("onnx").load(str(tiny_model_dir / "model.onnx")).graph
    last = [n.op_type for n in graph.node if graph.output[0].name in n.output]
    assert last and last[0] not in ("Softmax", "Resize", "Transpose")     # the graph ends at the classifier
    assert "Softmax" not in {n.op_type for n in graph.node}
    with paddle.no_grad():
        big = paddle.nn.functional.interpolate(paddle.to_tensor(out), ref.shape[2:], mode="bilinear",
                                               align_corners=False).numpy()
    assert np.abs(big - ref).max() < 1e-3 * max(1.0, np.abs(ref).max())
    assert (big.argmax(1) == ref.argmax(1)).mean() >= PARITY_MIN


@pytest.mark.parametrize("in_hw,out_hw", [((6, 10), (6, 6)), ((3, 4), (6, 6)), ((6, 10), (3, 3)), ((7, 5), (2, 4))])
def test_static_pool_equals_adaptive_pool(in_hw, out_hw):
    x = paddle.to_tensor(np.random.default_rng(0).normal(size=(2, 5, *in_hw)).astype(np.float32))
    want = paddle.nn.functional.adaptive_avg_pool2d(x, out_hw).numpy()
    got = StaticAdaptiveAvgPool(in_hw, out_hw)(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory):
    """A second model (other seed) exported through the CLI from a .pdparams path with --check-data."""
    tmp = tmp_path_factory.mktemp("cli_export")
    run, _ = make_tiny_run(tmp / "run", seed=11)
    data = tmp / "data"
    (data / "images").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(data / "images" / f"clip_{i:03d}.png"), synthetic_frame(20 + i, (320, 180)))
    rc = main(["export", str(run / "last.pdparams"), "--out", str(tmp / "m"), "--check-data", str(data)])
    return rc, tmp / "m"


def test_cli_export_with_check_data(cli_export, capsys):
    rc, folder = cli_export
    assert rc == 0
    card = ModelCard.load(folder)
    assert card.training["export_parity_frames"] == 3
    assert card.training["checkpoint"].endswith("last.pdparams")


def test_parity_detects_a_different_model(tmp_path, tiny_model_dir, cli_export):
    """The parity check can fail: an ONNX file from other weights disagrees with the Paddle model."""
    other = cli_export[1]
    mixed = shutil.copytree(tiny_model_dir, tmp_path / "mixed", ignore=shutil.ignore_patterns("cache"))
    shutil.copy(other / "model.onnx", mixed / "model.onnx")
    frames = [synthetic_frame(i) for i in range(2)]
    with pytest.raises(ModelError, match="model.onnx: SHA-256 does not match model.yml"):
        parity(mixed, frames)                           # the card's fingerprint catches the swap first
    stamp_card(mixed)
    assert parity(mixed, frames) < 0.9
    assert parity(other, frames) >= PARITY_MIN


def test_engine_cache_key_changes_on_reexport(tmp_path, tiny_model_dir, cli_export):
    """A TensorRT/OpenVINO cache built for one export is never found for the next one."""
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m", ignore=shutil.ignore_patterns("cache"))

    def trt_cache(version="1.31.0", gpu="NVIDIA H100 80GB HBM3"):
        return engine_cache_dir(folder, ("model.onnx",), "onnxruntime-trt", version, gpu)

    first = trt_cache()
    assert first.parent == folder / "cache" and first.is_dir()
    (first / "model.engine").write_bytes(b"engine built for the first export")
    assert trt_cache() == first                                 # same files, runtime and GPU: reused
    assert trt_cache(version="1.32.0") != first                 # runtime upgrade
    assert trt_cache(gpu="NVIDIA A100-SXM4-40GB") != first      # other card
    assert cache_key(folder, ("model.json", "model.pdiparams"), "paddle-trt", "3.3.1", "") != first.name
    export_model(cli_export[1].parent / "run", folder)          # re-export other weights into the same folder
    second = trt_cache()
    assert second != first and not any(second.iterdir())        # a fresh, empty cache: the engine is rebuilt
    assert ModelCard.load(folder).files_sha256 == hash_model_files(folder)


def test_stamp_script_re_stamps_a_trusted_model(tmp_path, tiny_model_dir):
    import subprocess
    import sys
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m", ignore=shutil.ignore_patterns("cache"))
    (folder / "model.json").write_text((folder / "model.json").read_text() + "\n")    # a hand edit
    with pytest.raises(ModelError, match="model.json: SHA-256 does not match"):
        ModelCard.load(folder)
    script = Path(__file__).resolve().parent.parent / "scripts" / "stamp_model_card.py"
    proc = subprocess.run([sys.executable, str(script), str(folder)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith(f"stamped {folder}/model.yml: model.onnx "), proc.stderr
    assert ModelCard.load(folder).files_sha256 == hash_model_files(folder)


def test_check_data_without_frames_is_a_data_error(tmp_path, tiny_run_dir):
    (tmp_path / "empty" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match="no .png frames"):
        export_model(tiny_run_dir, tmp_path / "m", check_frames=tmp_path / "empty")


def test_checkpoint_errors(tmp_path, tiny_run_dir):
    with pytest.raises(ModelError, match="run.json: missing"):
        read_run(shutil.copy(tiny_run_dir / "best.pdparams", tmp_path / "best.pdparams"))
    with pytest.raises(ModelError, match="nowhere: checkpoint not found"):
        read_run(tmp_path / "nowhere")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(ModelError, match="best.pdparams: checkpoint weights not found"):
        read_run(tmp_path / "empty_run")
    bad = shutil.copytree(tiny_run_dir, tmp_path / "bad")
    info = json.loads((bad / "run.json").read_text())
    (bad / "run.json").write_text(json.dumps({**info, "classes": info["classes"] + ["nerve"],
                                              "colors_rgb": info["colors_rgb"] + [[9, 9, 9]]}))
    with pytest.raises(ModelError, match="weights do not fit FastSCNN with 5 classes"):
        export_model(bad, tmp_path / "out")
    del info["input_width"]
    (bad / "run.json").write_text(json.dumps(info))
    with pytest.raises(ModelError, match="missing key.*input_width"):
        read_run(bad)


def test_export_at_another_input_size(tmp_path, tiny_run_dir, tiny_model_dir):
    """--input-size: the same weights as a graph of another input size; the card says which it was trained at.
    An exported model folder is a checkpoint too (its model.pdparams and card)."""
    w, h = TINY_SIZE[0] * 2, TINY_SIZE[1] * 2
    assert main(["export", str(tiny_model_dir), "--out", str(tmp_path / "big"), "--input-size", f"{w}x{h}"]) == 0
    card = ModelCard.load(tmp_path / "big")
    assert (card.input_width, card.input_height) == (w, h)
    assert card.training["trained_input"] == f"{TINY_SIZE[0]}x{TINY_SIZE[1]}"
    assert "trained_input" not in ModelCard.load(tiny_model_dir).training
    import onnx
    dims = [d.dim_value for d in onnx.load(str(tmp_path / "big" / "model.onnx")).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, h, w]
    with pytest.raises(ModelError, match=r"--input-size: input size 100x64 must be positive multiples of 32"):
        export_model(tiny_run_dir, tmp_path / "bad", input_size=(100, 64))
    assert not (tmp_path / "bad").exists()
