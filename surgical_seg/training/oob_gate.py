"""Train, export and card the privacy gate's classifier (`surgical-seg gate-train`).

Data (all our own, generated here): in-body frames from the synthetic spine scenes (random styles,
scope sizes, instruments, fog, blur) and out-of-body frames: theatre stand-ins seen by a moving scope
(surgical_seg.data.theatre) and the cannula going dark (darkness >= 0.35; fainter ones are left out of
training: the writer delay covers them). A hospital adds its own frames with `--data DATASET`
(DATASET/gate/in_body, out_of_body: the body choice import-labelstudio takes per frame; every 5th held
out; `--images 0`: only those). Model: 4 strided 3x3 conv blocks + global pool + linear, 64x64
RGB input, two logits. Trained with Paddle (AdamW, cross-entropy), exported by paddle.jit.save +
paddle2onnx (static 1x3x64x64), then checked: ONNX Runtime's and OpenVINO's probabilities on the held-out
frames must match Paddle's. The card (gate.yml) carries the in-body feature ranges for the cheap rules and the held-out figures.
"""
from __future__ import annotations

import datetime as _dt
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import paddle
import paddle.nn as nn

from ..data import theatre
from ..data.datasets import IMAGE_EXTS
from ..data.ls_tasks import BODY_CHOICES, GATE_DIR
from ..data.synth import render_sample
from ..engine.oob import FEATURES, GATE_ONNX, SIZE, GateCard, features, thumbnail
from ..errors import DataError, ModelError
from ..modelcard import file_sha256

RENDER = (256, 144)


class GateNet(nn.Layer):
    """64x64x3 -> 2 logits: four conv-BN-ReLU blocks (stride 2), global average pool, linear."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 4 * width]
        blocks = []
        for a, b in zip(chans, chans[1:]):
            blocks += [nn.Conv2D(a, b, 3, stride=2, padding=1, bias_attr=False), nn.BatchNorm2D(b), nn.ReLU()]
        self.body = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.head = nn.Linear(chans[-1], 2)

    def forward(self, x):
        return self.head(paddle.flatten(self.pool(self.body(x)), 1))


def _in_body(seed: int) -> np.ndarray:
    """An in-body frame; 45 % of them seen closer (zoom 1-1.5, shifted, rolled: the scope circle cut by
    the frame's top and bottom, as the synthetic source and real towers show it) and 25 % filling the
    frame (zoom 1.7-3: little or no dark ring, as towers that crop the circle away show it; without
    them such in-body frames were all blanked: gate-eval --fill-frame, docs/privacy.md)."""
    img = render_sample(seed, RENDER)[0]
    rng = np.random.default_rng([seed, 43])
    view = rng.random()
    if view < 0.7:
        w, h = RENDER
        zoom, shift = (rng.uniform(1.0, 1.5), 0.1) if view < 0.45 else (rng.uniform(1.7, 3.0), 0.03)
        m = cv2.getRotationMatrix2D((w / 2 + rng.uniform(-shift, shift) * w, h / 2 + rng.uniform(-shift, shift) * h),
                                    rng.uniform(-15, 15), zoom)
        img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return img


def make_frames(n_in: int, n_out: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(thumbnails N x 64 x 64 x 3 BGR, labels 1 = out, in-body thumbnails kept apart for the feature ranges)."""
    if n_in + n_out == 0:
        return np.zeros((0, SIZE, SIZE, 3), np.uint8), np.zeros(0, np.int64), []
    rng = np.random.default_rng([seed, 41])
    thumbs, labels = [], []
    in_body = []
    for i in range(n_in):
        t = thumbnail(_in_body(seed * 100_000 + i))
        thumbs.append(t)
        labels.append(0)
        in_body.append(t)
    n_dark = n_out // 4
    for i in range(n_dark):                    # the cannula going dark
        frame = _in_body(seed * 100_000 + 50_000 + i)
        thumbs.append(thumbnail(theatre.cannula(frame, rng.uniform(0.35, 1.0))))
        labels.append(1)
    n_canvas = max(1, (n_out - n_dark) // 12)
    for k in range(n_canvas):                  # the theatre, 12 views per stand-in scene
        canvas = theatre.theatre_canvas(seed * 1000 + k, (int(RENDER[0] * 2.5), int(RENDER[1] * 2.5)))
        for j in range(12):
            if len(thumbs) >= n_in + n_out:
                break
            view = theatre.theatre_view(canvas, rng.uniform(0, 30), RENDER, seed * 1000 + k)
            thumbs.append(thumbnail(view))
            labels.append(1)
    return np.stack(thumbs), np.array(labels, np.int64), in_body


def gate_frames(dirs: list[str | Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Your own frames: thumbnails, labels (1 = out) and a held-out mask (every 5th frame of each choice)
    from DIR/gate/in_body and DIR/gate/out_of_body (import-labelstudio's body choice)."""
    thumbs, labels, held = [], [], []
    for d in dirs:
        if not (Path(d) / GATE_DIR).is_dir():
            raise DataError(f"{d}: no {GATE_DIR}/ folder (import-labelstudio writes it from the frames' body choice)")
        for label, choice in enumerate(BODY_CHOICES):
            paths = [p for p in sorted((Path(d) / GATE_DIR / choice).glob("*")) if p.suffix.lower() in IMAGE_EXTS]
            for k, path in enumerate(paths):
                img = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if img is None:
                    raise DataError(f"{path}: unreadable image")
                thumbs.append(thumbnail(img))
                labels.append(label)
                held.append(k % 5 == 4)
    if not thumbs:
        raise DataError(f"{', '.join(map(str, dirs))}: no frame under {GATE_DIR}/{{{','.join(BODY_CHOICES)}}}")
    return np.stack(thumbs), np.array(labels, np.int64), np.array(held, bool)


def _augment(batch: np.ndarray, rng) -> np.ndarray:
    out = batch.astype(np.float32)
    out *= rng.uniform(0.7, 1.3, (len(out), 1, 1, 1))                         # exposure
    out *= rng.uniform(0.85, 1.15, (len(out), 1, 1, 3))                       # white balance
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip, :, ::-1]
    return np.clip(out, 0, 255)


def _tensor(batch: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(batch[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (rank statistic; label 1 = positive = out of the body)."""
    from scipy.stats import rankdata
    pos, neg = labels == 1, labels == 0
    if not pos.any() or not neg.any():
        return float("nan")
    r = rankdata(scores)
    return float((r[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * neg.sum()))


# rules only ever say "out": one-sided where only one side means the theatre (bright corners = no dark
# scope circle; glare = lights), with an absolute pad so that encoding noise is not a withdrawal
ONE_SIDED = {"corner_luma", "bright_share", "mean_luma"}
ABS_PAD = {"corner_luma": 25.0, "mean_luma": 25.0, "bright_share": 0.05}
# (mean saturation was tried as a rule and dropped: the clips' in-body frames are more saturated than the
# training stills, it fired on 102 of 225 in-body frames of a held-out synthetic clip)


def feature_ranges(thumbs: list[np.ndarray], margin: float = 0.25) -> dict:
    """Per feature [lo, hi] over the in-body frames (0.2-99.8 percentile, widened by margin x spread plus an
    absolute pad; lo = -1 where only high values mean out of the body)."""
    f = np.array([[features(t)[k] for k in FEATURES] for t in thumbs])
    lo, hi = np.percentile(f, 0.2, axis=0), np.percentile(f, 99.8, axis=0)
    out = {}
    for k, a, b in zip(FEATURES, lo, hi):
        pad = margin * (b - a) + ABS_PAD[k]
        out[k] = [-1.0 if k in ONE_SIDED else round(float(a - pad), 4), round(float(b + pad), 4)]
    return out


def train_gate(out: str | Path, n_in: int = 1200, n_out: int = 1200, epochs: int = 12, seed: int = 0,
               batch: int = 64, data: list[str | Path] = (), log=print) -> dict:
    """Generate data (plus your own frames from `data` folders), train, export to out/ (gate.yml + model.onnx
    + Paddle files); returns the card's figures."""
    paddle.seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    x, y, in_body = make_frames(n_in, n_out, seed)
    xv, yv, _ = make_frames(n_in // 4, n_out // 4, seed + 1000)          # held-out synthetic (other seeds)
    n_syn_v = len(xv)
    if data:
        xd, yd, held = gate_frames(list(data))
        # your frames are at least as many as the generated ones in every epoch (repeated if fewer)
        reps = max(1, round(len(x) / max(1, (~held).sum())))
        x, y = np.concatenate([x] + [xd[~held]] * reps), np.concatenate([y] + [yd[~held]] * reps)
        in_body = in_body + list(xd[~held & (yd == 0)])
        xv, yv = np.concatenate([xv, xd[held]]), np.concatenate([yv, yd[held]])
        log(f"your frames: {len(xd)} from {', '.join(map(str, data))} ({int(held.sum())} held out), x{reps}")
    if not len(x) or not in_body:
        raise DataError("gate-train: no in-body training frames (--images 0 needs --data with in_body frames)")
    log(f"data: {len(x)} train, {len(xv)} held-out frames in {time.perf_counter() - t0:.0f} s")
    net = GateNet()
    opt = paddle.optimizer.AdamW(learning_rate=paddle.optimizer.lr.CosineAnnealingDecay(3e-3, epochs * (len(x) // batch + 1)),
                                 parameters=net.parameters(), weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(x))
        total = 0.0
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            xb = paddle.to_tensor(_tensor(_augment(x[idx], rng)))
            loss = loss_fn(net(xb), paddle.to_tensor(y[idx]))
            loss.backward()
            opt.step()
            opt.clear_grad()
            opt._learning_rate.step()
            total += float(loss) * len(idx)
        pv = predict_paddle(net, xv)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f}, held-out AUC {roc_auc(pv, yv):.4f}")
    pv = predict_paddle(net, xv)
    out = Path(out)
    stage = out.with_name(out.name + ".staging")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    net.eval()
    spec = [paddle.static.InputSpec([1, 3, SIZE, SIZE], "float32", name="x")]
    paddle.jit.save(paddle.jit.to_static(net, input_spec=spec, full_graph=True), str(stage / "model"), input_spec=spec)
    _to_onnx(stage)
    card = GateCard(feature_ranges=feature_ranges(in_body), onnx_sha256=file_sha256(stage / GATE_ONNX),
                    training={"data": f"{n_in} in-body synthetic spine frames, {n_out} out-of-body "
                                      "(theatre stand-ins + cannula going dark), surgical_seg.data.theatre"
                                      + (f"; your frames from {', '.join(map(str, data))}" if data else ""),
                              "epochs": epochs, "seed": seed, "input": f"{SIZE}x{SIZE} RGB whole frame",
                              "command": "surgical-seg gate-train", "date": _dt.date.today().isoformat(),
                              "train_s": round(time.perf_counter() - t0, 1)})
    card.save(stage)
    from ..engine.oob import RUNTIMES, OobScorer
    diff = 0.0
    check = xv if len(xv) else x[:64]
    pc = pv if len(xv) else predict_paddle(net, check)      # pv: Paddle's answer on xv, computed above
    for runtime in RUNTIMES:                   # the exported graph must be the trained model in every runtime
        scorer = OobScorer(stage, runtime=runtime)
        pov = np.array([scorer.probability(t) for t in check])
        diff = max(diff, float(np.abs(pov - pc).max()))
        if diff > 1e-3:
            raise ModelError(f"{out}: {runtime} and Paddle disagree by {diff:.4f} on held-out frames; nothing written")
    metrics = {"heldout_frames": int(len(yv)), "export_max_abs_diff": round(diff, 7),
               "onnx_kb": round((stage / GATE_ONNX).stat().st_size / 1024, 1)}
    if n_syn_v:
        metrics["heldout_synthetic_auc"] = round(roc_auc(pv[:n_syn_v], yv[:n_syn_v]), 5)
    if len(yv) > n_syn_v:
        metrics["heldout_data_auc"] = round(roc_auc(pv[n_syn_v:], yv[n_syn_v:]), 5)
    card = GateCard(**{**card.__dict__, "metrics": metrics})
    card.save(stage)
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
    return metrics


def predict_paddle(net, thumbs: np.ndarray) -> np.ndarray:
    if not len(thumbs):
        return np.zeros(0)
    net.eval()
    with paddle.no_grad():
        logits = np.concatenate([net(paddle.to_tensor(_tensor(thumbs[s:s + 256]))).numpy()
                                 for s in range(0, len(thumbs), 256)])
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e[:, 1] / e.sum(1)


def _to_onnx(folder: Path) -> None:
    import paddle2onnx
    paddle2onnx.export(str(folder / "model.json"), str(folder / "model.pdiparams"), str(folder / GATE_ONNX),
                       opset_version=11, enable_onnx_checker=True, optimize_tool="None")
    if not (folder / GATE_ONNX).is_file():
        raise ModelError(f"{folder / GATE_ONNX}: paddle2onnx wrote nothing")


__all__ = ["train_gate", "gate_frames", "GateNet", "make_frames", "roc_auc", "feature_ranges", "predict_paddle"]
