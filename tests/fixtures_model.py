"""Tiny exported models for tests (owned by engine/export).

`tiny_model_dir` runs the real export (Paddle jit.save -> PIR, paddle2onnx, parity check) on a
FastSCNN with seeded random weights, once per test session.
"""
from __future__ import annotations

import pytest

from surgical_seg.classes import CLASS_COLORS_RGB, CLASS_NAMES

TINY_SIZE = (128, 96)        # width x height, multiples of 32


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


def make_tiny_run(run_dir, architecture: str = "FastSCNN", size: tuple[int, int] = TINY_SIZE, seed: int = 7):
    """Write run.json + best/last.pdparams for a randomly initialised model; returns (run_dir, model)."""
    import paddle

    from surgical_seg.training.export import write_run_folder
    from surgical_seg.training.models import build_model
    paddle.seed(seed)
    model = build_model(architecture, len(CLASS_NAMES))
    model.eval()
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
