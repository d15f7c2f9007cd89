"""Our own PaddleSeg training loop (paddleseg.core.train is broken under Paddle 3, see DESIGN §3).

Cross-entropy (+ Dice or OHEM), AdamW/SGD with linear warmup + poly/cosine decay, validation
every `eval_every` iterations keeping the best checkpoint, resume, a wall-clock budget, a
progress bar and a training-curve PNG. Runs on a GPU when Paddle sees one, and data-parallel
when started by `python -m paddle.distributed.launch` (each rank trains on its own shard; rank
0 validates and writes).

Run folder: run.json (what export needs), best.pdparams, last.pdparams/.pdopt, state.json
(iteration, best, history) and curve.png; with keep_evals also iter_<N>.pdparams, the weights of
each evaluation (to pick a checkpoint by other measures than val mIoU).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import queue
import shlex
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from ..atomic import atomic_path, atomic_write_json
from ..modelcard import IGNORE_INDEX
from ..config import TrainConfig, from_dict
from ..errors import ConfigError, DataError
from ..data.augment import Augment

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
INSTRUMENT = 254   # in-memory label: background that is an instrument (from instruments/<name>.png)


# ---------------------------------------------------------------- data

def load_samples(data_dir: str | Path, split: str, cache_width: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Images and labels of a split, downsized once to `cache_width` and kept in memory."""
    from ..data.classlist import ClassList
    from ..data.datasets import instrument_mask_path, load_label, read_split
    classes = ClassList.for_dataset(data_dir)
    out = []
    for img_path, lab_path in read_split(data_dir, split):
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(f"{img_path}: cannot read image")
        lab = load_label(lab_path)
        classes.check_labels(lab, lab_path)
        if lab.shape != img.shape[:2]:
            raise DataError(f"{lab_path}: label size {lab.shape[::-1]} differs from image {img.shape[1::-1]}")
        tools = instrument_mask_path(lab_path)
        if tools.is_file():                      # instruments are background the loss can weight up
            mask = cv2.imread(str(tools), cv2.IMREAD_UNCHANGED)
            if mask is None or mask.shape != lab.shape:
                raise DataError(f"{tools}: not an instrument mask of the label's size")
            lab = np.where((mask > 0) & (lab == 0), np.uint8(INSTRUMENT), lab)
        if img.shape[1] > cache_width:
            size = (cache_width, round(img.shape[0] * cache_width / img.shape[1]))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            lab = cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST)
        out.append((img, lab))
    if not out:
        raise DataError(f"{data_dir}: split {split!r} is empty")
    return out


def to_tensor_layout(batch_bgr: np.ndarray) -> np.ndarray:
    """NHWC uint8 BGR -> NCHW float32 RGB normalised like the model card says."""
    x = batch_bgr[..., ::-1].astype(np.float32) / 255.0
    x = (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def shard(n: int, rank: int, world: int) -> np.ndarray:
    """Indexes of one data-parallel rank: disjoint across ranks, together covering all n."""
    return np.arange(rank, n, world)


class BatchFeeder:
    """Augments batches on a background thread (cv2 releases the GIL) so the model never waits."""

    def __init__(self, samples, indexes, cfg: TrainConfig, seed: int):
        self.samples, self.indexes, self.cfg = samples, indexes, cfg
        self.aug = Augment((cfg.input_width, cfg.input_height), cfg.augment)
        self.rng = np.random.default_rng(seed)
        self.q: queue.Queue = queue.Queue(maxsize=4)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="train-batches", daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            pick = self.rng.choice(self.indexes, self.cfg.batch_size, replace=len(self.indexes) < self.cfg.batch_size)
            pairs = [self.aug(*self.samples[i], self.rng) for i in pick]
            x = to_tensor_layout(np.stack([p[0] for p in pairs]))
            y = np.stack([p[1] for p in pairs]).astype(np.int64)
            while not self.stop.is_set():
                try:
                    self.q.put((x, y), timeout=0.2)
                    break
                except queue.Full:
                    pass

    def next(self):
        return self.q.get(timeout=120)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)


# ---------------------------------------------------------------- loss and metrics

def seg_loss(logits, labels, cfg: TrainConfig, num_classes: int):
    """CE (or OHEM CE) + soft Dice over foreground classes, ignoring label 255.

    Instrument pixels (label INSTRUMENT) are background whose CE counts `instrument_weight` times:
    anatomy painted on a tool is the error a surgeon notices first.
    """
    import paddle
    import paddle.nn.functional as F
    tool = labels == INSTRUMENT
    labels = paddle.where(tool, paddle.zeros_like(labels), labels)
    ce = F.cross_entropy(logits, labels.unsqueeze(1), axis=1, ignore_index=IGNORE_INDEX, reduction="none")
    valid = (labels != IGNORE_INDEX).astype("float32")
    ce = ce.squeeze(1) * valid
    if cfg.instrument_weight != 1.0:
        ce = ce * (1.0 + (cfg.instrument_weight - 1.0) * tool.astype("float32"))
    if cfg.loss.startswith("ohem"):
        flat = ce.flatten()
        k = max(1, int(0.25 * int(valid.sum().item())))
        ce_term = paddle.topk(flat, k).values.mean()
    else:
        ce_term = ce.sum() / valid.sum().clip(min=1.0)
    if cfg.loss == "ce":
        return ce_term
    probs = F.softmax(logits, axis=1)
    safe = paddle.where(labels == IGNORE_INDEX, paddle.zeros_like(labels), labels)
    onehot = F.one_hot(safe, num_classes).transpose([0, 3, 1, 2]) * valid.unsqueeze(1)
    probs = probs * valid.unsqueeze(1)
    inter = (probs * onehot).sum(axis=[0, 2, 3])
    denom = probs.sum(axis=[0, 2, 3]) + onehot.sum(axis=[0, 2, 3])
    dice = 1.0 - (2 * inter + 1.0) / (denom + 1.0)
    return ce_term + cfg.dice_weight * dice[1:].mean()


def confusion(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    truth = np.where(truth == INSTRUMENT, 0, truth)
    keep = truth != IGNORE_INDEX
    idx = truth[keep].astype(np.int64) * num_classes + pred[keep].astype(np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def miou_from_confusion(cm: np.ndarray) -> tuple[float, list[float]]:
    """Mean IoU over the foreground classes (the study's mean excludes background)."""
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    return float(np.nanmean(iou[1:])), [float(v) for v in iou]


def validate(model, samples, cfg: TrainConfig, num_classes: int) -> tuple[float, list[float], float | None]:
    """(mIoU, per-class IoU, share of instrument pixels labelled as anatomy or None without masks).

    The instrument share is here so a recipe that trades tools for anatomy is chosen on validation
    frames, never on a held-out set.
    """
    import paddle
    aug = Augment((cfg.input_width, cfg.input_height), None)
    cm = np.zeros((num_classes, num_classes), np.int64)
    tool_px = tool_labelled = 0
    model.eval()
    with paddle.no_grad():
        for start in range(0, len(samples), 8):
            pairs = [aug(*s, None) for s in samples[start:start + 8]]
            x = paddle.to_tensor(to_tensor_layout(np.stack([p[0] for p in pairs])))
            pred = model(x)[0].argmax(axis=1).numpy().astype(np.uint8)
            for p, (_, lab) in zip(pred, pairs):
                cm += confusion(p, lab, num_classes)
                tool = lab == INSTRUMENT
                tool_px += int(tool.sum())
                tool_labelled += int((p[tool] != 0).sum())
    model.train()
    return (*miou_from_confusion(cm), tool_labelled / tool_px if tool_px else None)


# ---------------------------------------------------------------- loop

def _apply_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
    import yaml
    changes = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        changes[k.strip()] = yaml.safe_load(v)
    return from_dict(TrainConfig, {**dataclasses.asdict(cfg), **changes}, "--set") if changes else cfg


def _lr_schedule(cfg: TrainConfig):
    import paddle
    decay_iters = max(1, cfg.iters - cfg.warmup_iters)
    if cfg.schedule == "cosine":
        base = paddle.optimizer.lr.CosineAnnealingDecay(cfg.lr, T_max=decay_iters)
    else:
        base = paddle.optimizer.lr.PolynomialDecay(cfg.lr, decay_steps=decay_iters, end_lr=cfg.lr * 0.01, power=0.9)
    if cfg.warmup_iters <= 0:
        return base
    return paddle.optimizer.lr.LinearWarmup(base, cfg.warmup_iters, cfg.lr * 0.05, cfg.lr)


def _plot_curve(state: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    hist = state["history"]
    if hist["loss"]:
        it, loss = zip(*hist["loss"])
        ax.plot(it, loss, color="tab:blue", lw=1, label="train loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    if hist["val_miou"]:
        it, m = zip(*[(h[0], h[1]) for h in hist["val_miou"]])
        ax2.plot(it, m, "o-", color="tab:orange", label="val mIoU")
    ax2.set_ylabel("val mIoU (bone, ligament, disc)")
    ax2.set_ylim(0, 1)
    fig.legend(loc="upper center", ncol=2, fontsize=8)
    ax.set_title(f"{state['name']}: best val mIoU {state['best']['miou']:.3f} @ {state['best']['iter']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train(cfg: TrainConfig, out_dir: str | Path | None = None, resume: bool = False,
          config_path: str | Path | None = None, overrides: list[str] | None = None) -> str:
    """Train (or resume) one run; returns a one-line summary."""
    import paddle
    # Fresh parameter and optimizer-state names (conv2d_0.w_0_moment1_0 ...) however many models
    # this process built before, so a checkpoint's optimizer state matches on resume.
    with paddle.utils.unique_name.guard():
        return _train(cfg, out_dir, resume, config_path, overrides)


def _train(cfg, out_dir, resume, config_path, overrides) -> str:
    import paddle
    import paddle.distributed as dist
    from tqdm import tqdm
    from .export import save_weights, write_run_json
    from .models import build_model

    cfg = _apply_overrides(cfg, overrides or [])
    out = Path(out_dir or Path("runs") / cfg.name)
    world = dist.get_world_size()
    rank = dist.get_rank()
    if paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        paddle.set_device(f"gpu:{dist.ParallelEnv().dev_id}" if world > 1 else "gpu")
    else:
        paddle.set_device("cpu")     # no global oneDNN flag: it breaks Paddle Inference later in the process
    if world > 1:
        dist.init_parallel_env()
    try:
        import os
        os.environ.setdefault("OMP_NUM_THREADS", str(cfg.threads))
        paddle.framework.core.set_num_threads(cfg.threads)
    except Exception:
        pass
    state_path = out / "state.json"
    if resume and not state_path.is_file():
        raise ConfigError(f"--resume: {state_path} not found (nothing to resume)")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    paddle.seed(cfg.seed + rank)
    from ..data.classlist import ClassList
    class_list = ClassList.for_dataset(cfg.data)
    num_classes = len(class_list)
    cache_w = int(cfg.input_width * max(cfg.augment.get("scale", [1, 1])[1], 1.0) * 1.2)
    train_samples = load_samples(cfg.data, "train", cache_w)
    val_samples = load_samples(cfg.data, "val", cache_w) if rank == 0 else []

    model = build_model(cfg.architecture, num_classes)
    sched = _lr_schedule(cfg)
    if cfg.optimizer == "sgd":
        opt = paddle.optimizer.Momentum(sched, momentum=0.9, parameters=model.parameters(),
                                        weight_decay=cfg.weight_decay)
    else:
        opt = paddle.optimizer.AdamW(sched, parameters=model.parameters(), weight_decay=cfg.weight_decay)
    state = {"name": cfg.name, "iter": 0, "best": {"iter": 0, "miou": 0.0, "iou": []},
             "history": {"loss": [], "val_miou": []}, "elapsed_s": 0.0}
    if cfg.init_from and not resume:
        loaded = _init_weights(model, cfg)
        print(f"initialised {loaded} of {len(model.state_dict())} tensors from {cfg.init_from}", file=sys.stderr)
    if resume:
        state = json.loads(state_path.read_text())
        model.set_state_dict(paddle.load(str(out / "last.pdparams")))
        opt.set_state_dict(paddle.load(str(out / "last.pdopt")))
    net = paddle.DataParallel(model) if world > 1 else model
    command = "surgical-seg train " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if config_path else ""
    run_info = {
        "architecture": cfg.architecture, "name": cfg.name, "classes": list(class_list.names),
        "colors_rgb": [list(c) for c in class_list.colors_rgb], "input_width": cfg.input_width,
        "input_height": cfg.input_height, "mean": list(MEAN), "std": list(STD), "resize": "letterbox",
        "config": dataclasses.asdict(cfg), "command": command, "data": _provenance(cfg.data),
        "date": _dt.date.today().isoformat(), "world_size": world,
    }

    def checkpoint(best: bool, keep_as: str = "") -> None:
        if rank != 0:
            return
        save_weights(out, model, "last")
        with atomic_path(out / "last.pdopt") as tmp:
            paddle.save(opt.state_dict(), str(tmp))
        if best:
            save_weights(out, model, "best")
        if cfg.keep_evals and keep_as:
            save_weights(out, model, keep_as)
        atomic_write_json(state_path, state, indent=1)
        write_run_json(out, {**run_info, "best": state["best"], "iterations": state["iter"],
                             "train_minutes": round(state["elapsed_s"] / 60, 1)})
        _plot_curve(state, out / "curve.png")

    feeder = BatchFeeder(train_samples, shard(len(train_samples), rank, world), cfg, seed=cfg.seed * 1000 + rank
                         + state["iter"])
    start_iter, t0, elapsed0 = state["iter"], time.time(), state["elapsed_s"]
    bar = tqdm(total=cfg.iters, initial=start_iter, desc=f"train {cfg.name}", unit="it", disable=rank != 0,
               dynamic_ncols=True)
    net.train()
    running = None
    try:
        for it in range(start_iter + 1, cfg.iters + 1):
            x, y = feeder.next()
            outs = net(paddle.to_tensor(x))
            yt = paddle.to_tensor(y)
            loss = seg_loss(outs[0], yt, cfg, num_classes)
            for aux in outs[1:]:
                loss = loss + 0.4 * seg_loss(aux, yt, cfg, num_classes)
            loss.backward()
            opt.step()
            opt.clear_grad()
            sched.step()
            lv = float(loss.item())
            running = lv if running is None else 0.95 * running + 0.05 * lv
            state["iter"] = it
            state["elapsed_s"] = elapsed0 + time.time() - t0
            if it % cfg.log_every == 0:
                state["history"]["loss"].append((it, round(running, 4)))
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}", best_miou=f"{state['best']['miou']:.3f}", lr=f"{sched.get_lr():.1e}")
            out_of_time = cfg.max_minutes > 0 and (time.time() - t0) / 60 >= cfg.max_minutes
            if rank == 0 and (it % cfg.eval_every == 0 or it == cfg.iters or out_of_time):
                miou, ious, tools = validate(model, val_samples, cfg, num_classes)
                state["history"]["val_miou"].append((it, round(miou, 4), round(state["elapsed_s"] / 60, 2)))
                if tools is not None:
                    state["history"].setdefault("val_instruments", []).append((it, round(tools, 5)))
                better = miou > state["best"]["miou"] or state["best"]["iter"] == 0   # the first is the best so far
                if better:
                    state["best"] = {"iter": it, "miou": round(miou, 4), "iou": [round(v, 4) for v in ious]}
                checkpoint(better, f"iter_{it}")
                per = ", ".join(f"{n} {v:.3f}" for n, v in zip(class_list.foreground, ious[1:]))
                tool_note = "" if tools is None else f", instruments labelled {100 * tools:.2f} %"
                bar.write(f"iter {it}: val mIoU {miou:.4f} ({per}){tool_note}{'  * best' if better else ''}")
            if out_of_time:
                bar.write(f"stopping at iter {it}: max_minutes={cfg.max_minutes} reached (resume with --resume)")
                break
    except KeyboardInterrupt:
        checkpoint(False)
        raise
    finally:
        feeder.close()
        bar.close()
    if rank != 0:
        return f"{cfg.name}: rank {rank} of {world} finished {state['iter']} iterations"
    return (f"{cfg.name}: {state['iter']} iterations, best val mIoU {state['best']['miou']:.4f} at iter "
            f"{state['best']['iter']}, {state['elapsed_s'] / 60:.1f} min -> {out}")


def _init_weights(model, cfg: TrainConfig) -> int:
    """Fine-tune: copy matching tensors from an exported model folder or a .pdparams checkpoint."""
    import paddle
    from .export import exported_state_dict
    src = Path(cfg.init_from)
    if src.is_dir() and (src / "model.json").is_file():
        from ..modelcard import ModelCard        # its own class count; a head that differs is not copied
        state = exported_state_dict(src, cfg.architecture, ModelCard.load(src).num_classes)
    elif src.suffix == ".pdparams" and src.is_file():
        state = paddle.load(str(src))
    else:
        raise ConfigError(f"init_from: {src} is neither an exported model folder nor a .pdparams file")
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not state:
        raise ConfigError(f"init_from: {src} has no tensor that fits {cfg.architecture}")
    model.set_state_dict(state)
    return len(state)


def _provenance(data_dir: str) -> str:
    """Say where the data came from; synthetic data says so (its synth.json written by `synth`)."""
    p = Path(data_dir) / "synth.json"
    if p.is_file():
        return "synthetic: " + json.loads(p.read_text()).get("command", "surgical-seg synth")
    return f"folder dataset {data_dir}"


__all__ = ["train", "seg_loss", "confusion", "miou_from_confusion", "shard", "to_tensor_layout", "load_samples"]
