"""Tiny exported models for tests (owned by engine/export).

`tiny_model_dir` runs the real export (Paddle jit.save -> PIR, paddle2onnx, parity check) on a
FastSCNN with seeded random weights, once per test session.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from surgical_seg.modelcard import CLASS_COLORS_RGB, CLASS_NAMES

TINY_SIZE = (128, 96)        # width x height, multiples of 32


class Slow:
    """The real segmenter, made slower than the source (as a big model on a small CPU would be)."""

    def __init__(self, seg, delay_s):
        self.seg, self.delay_s = seg, delay_s

    def process(self, packet):
        time.sleep(self.delay_s)
        return self.seg.process(packet)


def tiny_run_info(architecture: str = "FastSCNN", size: tuple[int, int] = TINY_SIZE) -> dict:
    """run.json contents of a fake training run, as the training loop writes them."""
    return {
        "architecture": architecture, "name": f"tiny_{architecture.lower()}",
        "classes": list(CLASS_NAMES), "colors_rgb": [list(c) for c in CLASS_COLORS_RGB],
        "input_width": size[0], "input_height": size[1],
        "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "resize": "letterbox",
        "config": {"iters": 0, "seed": 7}, "command": "tests/fixtures_model.py (random weights)",
        "data": "none: random weights, paddle.seed(7)", "best": {"iter": 0, "miou": 0.0},
        "metrics": {"note": "untrained"},
    }


def make_decisive(model, size: tuple[int, int] = TINY_SIZE, target_std: float = 2.0) -> float:
    """Scale the class-output convolutions so logits differ by ~target_std between classes.

    Freshly initialised PaddleSeg models give logits ~1e-4 apart (softmax ~0.25 everywhere), so
    labels would hang on rounding noise; scaled, they still vary over the picture but decisively.
    """
    import paddle

    from surgical_seg.training.export import synthetic_frame
    heads = [m for m in model.sublayers() if isinstance(m, paddle.nn.Conv2D) and m._out_channels == len(CLASS_NAMES)]
    frame = synthetic_frame(0, size).astype(np.float32)[None].transpose(0, 3, 1, 2) / 127.5 - 1.0
    with paddle.no_grad():
        std = float(model(paddle.to_tensor(frame))[0].numpy().std(axis=1).mean())
        factor = target_std / max(std, 1e-12)
        for conv in heads:
            conv.weight.set_value(conv.weight.numpy() * factor)
            if conv.bias is not None:
                conv.bias.set_value(conv.bias.numpy() * factor)
    return factor


def make_tiny_run(run_dir, architecture: str = "FastSCNN", size: tuple[int, int] = TINY_SIZE, seed: int = 7):
    """Write run.json + best/last.pdparams for a seeded random model; returns (run_dir, model)."""
    import paddle

    from surgical_seg.training.export import write_run_folder
    from surgical_seg.training.models import build_model
    paddle.seed(seed)
    model = build_model(architecture, len(CLASS_NAMES))
    model.eval()
    make_decisive(model, size)
    write_run_folder(run_dir, model, tiny_run_info(architecture, size))
    return run_dir, model


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory):
    run_dir, _ = make_tiny_run(tmp_path_factory.mktemp("tiny_run"))
    return run_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_run_dir):
    """An exported tiny FastSCNN model folder: model.json, model.pdiparams, model.onnx, model.yml."""
    from surgical_seg.training.export import export_model
    return export_model(tiny_run_dir, tmp_path_factory.mktemp("tiny_model"))


def export_old_format(run_dir, out_dir):
    """A model folder as `export` wrote it before the graph cut: softmax probabilities at the input size,
    and a model.yml without output/output_stride/precisions (the keys older cards do not have)."""
    import dataclasses

    import paddle
    import yaml

    from surgical_seg.modelcard import CARD_NAME, hash_model_files
    from surgical_seg.training.export import SoftmaxHead, _set_state, _to_onnx, card_from_run, make_pools_static, read_run
    from surgical_seg.training.models import build_model
    from pathlib import Path
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info, weights = read_run(run_dir)
    card = card_from_run(info)
    model = build_model(card.architecture, card.num_classes)
    _set_state(model, paddle.load(str(weights)))
    model.eval()
    make_pools_static(model, (card.input_height, card.input_width))
    net = SoftmaxHead(model)
    net.eval()
    spec = [paddle.static.InputSpec([1, 3, card.input_height, card.input_width], "float32", name="x")]
    paddle.jit.save(paddle.jit.to_static(net, input_spec=spec, full_graph=True), str(out / "model"), input_spec=spec)
    _to_onnx(out)
    raw = dataclasses.replace(card, files_sha256=hash_model_files(out)).to_dict()
    for key in ("output", "output_stride", "precisions"):
        del raw[key]
    (out / CARD_NAME).write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


@pytest.fixture(scope="session")
def tiny_old_model_dir(tmp_path_factory, tiny_run_dir):
    """The tiny FastSCNN's weights in the old export format (probabilities at the input size)."""
    return export_old_format(tiny_run_dir, tmp_path_factory.mktemp("tiny_old_model"))
