"""Training loop pieces: geometry, loss, metrics, sharding, and a real tiny run with resume."""
import json
from pathlib import Path

import numpy as np
import paddle
import pytest

from surgical_seg.apps.cli import main
from surgical_seg.data.augment import RESCOPE_MIN_SCALE, Augment, letterbox_matrix, rescope
from surgical_seg.training.train import confusion, miou_from_confusion, seg_loss, shard
from surgical_seg.config import TrainConfig


def test_identity_augment_is_a_centred_letterbox_with_background_padding():
    img = np.full((90, 320, 3), 200, np.uint8)
    lab = np.full((90, 320), 2, np.uint8)
    out_img, out_lab = Augment((160, 96), None)(img, lab, None)
    assert out_img.shape == (96, 160, 3) and out_lab.shape == (96, 160)
    # 320x90 fits as 160x45, centred: rows 25..70 hold the picture, the rest is padding
    assert (out_lab[:24] == 0).all() and (out_lab[72:] == 0).all()      # black padding is background
    assert (out_lab[27:68] == 2).all() and out_img[:24].max() == 0
    m = letterbox_matrix(320, 90, 160, 96)
    assert m[0, 0] == pytest.approx(0.5) and m[1, 2] == pytest.approx((95 / 2) - 0.5 * 89 / 2)


def test_random_augment_keeps_labels_aligned_with_pixels():
    """A two-colour image whose label equals its colour must stay consistent under the warp."""
    img = np.zeros((120, 200, 3), np.uint8)
    lab = np.ones((120, 200), np.uint8)
    img[:, 100:] = 255
    lab[:, 100:] = 3
    aug = Augment((128, 96), {"flip": True, "rotate_deg": 30, "scale": [0.8, 1.3], "color_jitter": 0.0})
    rng = np.random.default_rng(0)
    for _ in range(10):
        a_img, a_lab = aug(img, lab, rng)
        inner = (a_lab == 3)
        assert a_img[..., 0][inner].mean() > 200
        assert a_img[..., 0][a_lab == 1].mean() < 50


def test_rescope_puts_large_textures_inside_a_new_scope_circle_with_a_dim_rim():
    """A zoomed-in frame fills the picture; rescope gives it a circle (background, black outside) and the
    light fall-off of synth's optics, and Augment applies it only to zoomed-in frames."""
    img = np.full((224, 384, 3), 200, np.uint8)
    lab = np.full((224, 384), 2, np.uint8)
    out, out_lab = rescope(img, lab, np.random.default_rng(1))
    assert (out_lab[:, :40] == 0).all() and (out[:, :40] < 20).all()          # outside the circle
    assert (out_lab[112, 150:234] == 2).all()                                  # the centre keeps its class
    centre, rim = out[112, 192, 0], out[112, 192 - 95, 0]                       # r ~ 0.75-1.0 of the radius
    assert centre >= 200 and rim < 0.75 * centre
    assert (lab == 2).all()                                                    # the caller's labels are not touched
    always = {"scale": [1.5, 1.5], "rescope_prob": 1.0}
    zoomed_out = {"scale": [RESCOPE_MIN_SCALE - 0.1] * 2, "rescope_prob": 1.0}
    rng = np.random.default_rng(0)
    assert (Augment((384, 224), always)(img, lab, rng)[1][:, :40] == 0).all()
    # zoomed out: the frame sits smaller in the padding, no second circle cuts it
    small_img, small_lab = Augment((384, 224), zoomed_out)(img, lab, rng)
    assert (small_lab[112, 60:324] == 2).all()


def test_seg_loss_matches_numpy_cross_entropy_and_ignores_255():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, 6, 5)).astype(np.float32)
    labels = rng.integers(0, 4, (2, 6, 5)).astype(np.int64)
    labels[0, :2] = 255
    cfg = TrainConfig(loss="ce")
    got = float(seg_loss(paddle.to_tensor(logits), paddle.to_tensor(labels), cfg, 4))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    keep = labels != 255
    n, y, x = np.nonzero(keep)
    want = -np.log(p[n, labels[keep], y, x]).mean()
    assert got == pytest.approx(want, rel=1e-5)
    perfect = np.where(np.arange(4)[None, :, None, None] == np.where(keep, labels, 0)[:, None], 20.0, -20.0)
    dice_only = float(seg_loss(paddle.to_tensor(perfect.astype(np.float32)), paddle.to_tensor(labels),
                               TrainConfig(loss="ce+dice"), 4))
    assert dice_only < 1e-3


def test_confusion_and_miou_over_foreground():
    truth = np.array([[0, 1, 1, 2], [3, 3, 255, 2]], np.uint8)
    pred = np.array([[0, 1, 2, 2], [3, 0, 1, 2]], np.uint8)
    cm = confusion(pred, truth, 4)
    assert cm.sum() == 7 and cm[1, 1] == 1 and cm[1, 2] == 1 and cm[3, 0] == 1
    miou, ious = miou_from_confusion(cm)
    assert ious[1] == pytest.approx(1 / 2) and ious[2] == pytest.approx(2 / 3) and ious[3] == pytest.approx(1 / 2)
    assert miou == pytest.approx((1 / 2 + 2 / 3 + 1 / 2) / 3)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_data_parallel_shards_are_disjoint_and_complete(world):
    parts = [set(shard(17, r, world).tolist()) for r in range(world)]
    assert set().union(*parts) == set(range(17))
    assert sum(len(p) for p in parts) == 17


def test_tiny_training_run_checkpoints_and_resumes(tmp_path):
    data = tmp_path / "ds"
    assert main(["synth", "--out", str(data), "--images", "100", "--seed", "9", "--size", "192x108"]) == 0
    cfg = tmp_path / "t.yml"
    cfg.write_text(f"architecture: FastSCNN\nname: tiny\ndata: {data}\ninput_width: 128\ninput_height: 96\n"
                   "batch_size: 2\niters: 4\neval_every: 2\nlog_every: 1\nwarmup_iters: 1\nthreads: 1\n")
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run)]) == 0
    state = json.loads((run / "state.json").read_text())
    assert state["iter"] == 4 and [h[0] for h in state["history"]["val_miou"]] == [2, 4]
    for f in ("best.pdparams", "last.pdparams", "last.pdopt", "run.json", "curve.png"):
        assert (run / f).is_file(), f
    info = json.loads((run / "run.json").read_text())
    assert info["architecture"] == "FastSCNN" and info["input_width"] == 128
    assert info["data"].startswith("synthetic: surgical-seg synth")
    assert not list(run.glob("iter_*.pdparams"))                  # only best/last unless keep_evals
    assert main(["train", "--config", str(cfg), "--out", str(run), "--resume", "--set", "iters=6",
                 "--set", "keep_evals=true"]) == 0
    state = json.loads((run / "state.json").read_text())
    assert state["iter"] == 6 and [h[0] for h in state["history"]["val_miou"]] == [2, 4, 6]
    assert sorted(p.name for p in run.glob("iter_*.pdparams")) == ["iter_6.pdparams"]


def test_degraded_augment_keeps_labels_aligned():
    img = np.zeros((180, 320, 3), np.uint8)
    lab = np.ones((180, 320), np.uint8)
    img[:, 160:] = 255
    lab[:, 160:] = 3
    aug = Augment((160, 96), {"degrade_prob": 1.0})
    rng = np.random.default_rng(2)
    for _ in range(8):
        a_img, a_lab = aug(img, lab, rng)
        assert a_img[..., 1][a_lab == 3].mean() > 150 and a_img[..., 1][a_lab == 1].mean() < 80


def test_init_from_an_exported_model_starts_where_it_ended(tmp_path, tiny_model_dir, tiny_run_dir):
    """Fine-tuning from an exported folder recovers the trained weights exactly (no aux heads)."""
    from surgical_seg.training.export import exported_state_dict
    state = exported_state_dict(tiny_model_dir, "FastSCNN", 4)
    trained = paddle.load(str(tiny_run_dir / "best.pdparams"))
    heads = [k for k in trained if k.startswith("auxlayer")]
    assert set(state) == set(trained) - set(heads)
    for k, v in state.items():
        np.testing.assert_array_equal(np.asarray(v), np.asarray(trained[k]), err_msg=k)
    data = tmp_path / "ds"
    assert main(["synth", "--out", str(data), "--images", "20", "--seed", "9", "--size", "192x108"]) == 0
    cfg = tmp_path / "t.yml"
    cfg.write_text(f"architecture: FastSCNN\nname: ft\ndata: {data}\ninput_width: 128\ninput_height: 96\n"
                   f"batch_size: 2\niters: 1\neval_every: 1\nwarmup_iters: 0\nthreads: 1\n"
                   f"init_from: {tiny_model_dir}\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 0
    cfg.write_text(cfg.read_text().replace(str(tiny_model_dir), str(tmp_path / "nothing")))
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run2")]) == 2


def test_train_config_errors_name_the_key(tmp_path, capsys):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("architecture: FastSCNN\nbatchsize: 4\n")
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "batchsize" in err and "unknown key" in err and "Traceback" not in err
    assert main(["train", "--config", str(tmp_path / "missing.yml")]) == 2
    assert main(["train", "--config", str(cfg).replace("bad", "x"), "--resume"]) == 2


def test_data_parallel_launch_on_two_cpu_processes(tmp_path):
    """Paddle's own launcher starts two ranks (gloo on CPU); they train on disjoint shards and
    only rank 0 writes the run folder."""
    import os
    import subprocess
    import sys
    data = tmp_path / "ds"
    assert main(["synth", "--out", str(data), "--images", "100", "--seed", "9", "--size", "192x108"]) == 0
    cfg = tmp_path / "t.yml"
    cfg.write_text(f"architecture: FastSCNN\nname: tiny\ndata: {data}\ninput_width: 128\ninput_height: 96\n"
                   "batch_size: 2\niters: 2\neval_every: 2\nwarmup_iters: 1\nthreads: 1\n")
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    proc = subprocess.run([sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
                           "--log_dir", str(tmp_path / "log"), str(Path(sys.executable).parent / "surgical-seg"), "train", "--config", str(cfg),
                           "--out", str(tmp_path / "run")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["world_size"] == 2 and info["iterations"] == 2
    assert "rank 1 of 2 finished 2 iterations" in (tmp_path / "log" / "workerlog.1").read_text()


def test_instrument_pixels_are_background_weighted_in_the_loss():
    from surgical_seg.training.train import INSTRUMENT
    rng = np.random.default_rng(4)
    logits = paddle.to_tensor(rng.normal(size=(1, 4, 6, 5)).astype(np.float32))
    plain = rng.integers(0, 4, (1, 6, 5)).astype(np.int64)
    plain[0, :2] = 0
    tools = plain.copy()
    tools[0, :2] = INSTRUMENT
    cfg = TrainConfig(loss="ce", instrument_weight=1.0)
    same = float(seg_loss(logits, paddle.to_tensor(plain), cfg, 4))
    assert float(seg_loss(logits, paddle.to_tensor(tools), cfg, 4)) == pytest.approx(same, rel=1e-6)
    heavy = TrainConfig(loss="ce", instrument_weight=5.0)
    assert float(seg_loss(logits, paddle.to_tensor(tools), heavy, 4)) > same * 1.2
    assert confusion(np.zeros((2, 2), np.uint8), np.full((2, 2), INSTRUMENT, np.uint8), 4)[0, 0] == 4
