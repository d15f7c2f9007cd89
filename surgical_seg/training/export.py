"""Export a training run to Paddle inference (PIR) + ONNX + model.yml, then check parity.

The exported graph outputs the head's logits at its own stride (1xCx(H/s)x(W/s) float32, Fast-SCNN
s = 8; model card `output: logits`, `output_stride`): the engine resizes the scores bilinearly and takes
the argmax, and the softmax only where probabilities are used. The input shape is static because
paddle2onnx 2.1 converts the PIR model only with a static shape (adaptive pooling).
The run-folder writer lives here too, so the training loop and the test fixtures write the
very files this module reads.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paddle

from ..atomic import atomic_path, atomic_write_json, publish_folder, staging_folder
from ..errors import BackendUnavailable, ConfigError, DataError, ModelError
from ..modelcard import CARD_NAME, DYGRAPH_FILE, ONNX_FILE, PADDLE_FILES, ModelCard, hash_model_files, stamp_card

RUN_FILE = "run.json"
RUN_KEYS = ("architecture", "name", "classes", "colors_rgb", "input_width", "input_height",
            "mean", "std", "resize", "config", "command", "data", "best", "date")
PARITY_MIN = 0.999          # argmax agreement Paddle Inference vs ONNX Runtime
OPSET = 11


class SoftmaxHead(paddle.nn.Layer):
    """The forward exported before the graph cut: logits list -> softmax probabilities NCHW at the input size.

    Kept to write old-format models (tests of the engine's compatibility path); `export` writes LogitsHead.
    """

    def __init__(self, model: paddle.nn.Layer):
        super().__init__()
        self.model = model

    def forward(self, x):
        logits = self.model(x)[0]
        return paddle.nn.functional.softmax(logits, axis=1)


class LogitsHead(paddle.nn.Layer):
    """The exported forward: the segmentation head's logits, NCHW, at the head's own stride.

    No softmax and no final resize in the graph (they cost over half of Fast-SCNN's inference: DESIGN §3);
    the engine resizes the scores and takes the softmax only where it is used. For Fast-SCNN this is
    PaddleSeg's FastSCNN.forward up to its classifier (1/8 of the input); an architecture without a known
    cut hands out its full-size logits (stride 1). It lives in this source file because dy2static reads
    the forward's source code.
    """

    def __init__(self, model: paddle.nn.Layer, architecture: str):
        super().__init__()
        self.model = model
        self.cut = architecture == "FastSCNN"

    def forward(self, x):
        if self.cut:
            m = self.model
            higher_res_features = m.learning_to_downsample(x)
            y = m.global_feature_extractor(higher_res_features)
            y = m.feature_fusion(higher_res_features, y)
            return m.classifier(y)
        return self.model(x)[0]


class StaticAdaptiveAvgPool(paddle.nn.Layer):
    """Adaptive average pooling for one known input size, as two constant matrix products.

    paddle2onnx turns AdaptiveAvgPool2D into a plain AveragePool (kernel/stride from the sizes),
    which is wrong when the input is not a multiple of the output (10 -> 6 bins at 320 px) and
    invalid when the input is smaller. The matrices reproduce Paddle's bins exactly.
    """

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]):
        super().__init__()
        self.register_buffer("ph", paddle.to_tensor(_pool_matrix(in_hw[0], out_hw[0])))
        self.register_buffer("pwt", paddle.to_tensor(_pool_matrix(in_hw[1], out_hw[1]).T.copy()))

    def forward(self, x):
        return paddle.matmul(self.ph, paddle.matmul(x, self.pwt))


def _pool_matrix(n_in: int, n_out: int) -> np.ndarray:
    m = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        a, b = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, a:b] = 1.0 / (b - a)
    return m


def make_pools_static(model: paddle.nn.Layer, input_hw: tuple[int, int]) -> int:
    """Swap AdaptiveAvgPool2D layers whose bins are uneven at this input size; returns how many."""
    seen: dict[int, tuple[int, int]] = {}

    def record(layer, inputs):          # returns None: a pre-hook's return value replaces inputs
        seen[id(layer)] = tuple(inputs[0].shape[2:])

    hooks = [layer.register_forward_pre_hook(record)
             for layer in model.sublayers() if isinstance(layer, paddle.nn.AdaptiveAvgPool2D)]
    with paddle.no_grad():
        model(paddle.zeros([1, 3, *input_hw], "float32"))
    for h in hooks:
        h.remove()
    swapped = 0
    for parent in [model, *model.sublayers()]:
        for name, child in list(parent.named_children()):
            if not isinstance(child, paddle.nn.AdaptiveAvgPool2D) or id(child) not in seen:
                continue
            size = child._output_size
            out_hw = (size, size) if isinstance(size, int) else tuple(size)
            in_hw = seen[id(child)]
            out_hw = tuple(i if o is None else int(o) for i, o in zip(in_hw, out_hw))
            if all(i % o == 0 for i, o in zip(in_hw, out_hw)):
                continue
            setattr(parent, name, StaticAdaptiveAvgPool(in_hw, out_hw))
            swapped += 1
    return swapped


def write_run_json(run_dir: str | Path, info: dict[str, Any]) -> Path:
    """Write (or rewrite) run.json; the training loop calls it whenever `best` changes."""
    missing = [k for k in RUN_KEYS if k not in info and k != "date"]
    if missing:
        raise ConfigError(f"{run_dir}/{RUN_FILE}: missing key(s) {', '.join(missing)}")
    info = {**info, "date": info.get("date") or _dt.datetime.now().isoformat(timespec="seconds")}
    path = Path(run_dir) / RUN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, info)      # never leave a half-written run.json behind
    return path


def save_weights(run_dir: str | Path, model, name: str = "best") -> Path:
    """Save `model`'s state dict as <run_dir>/<name>.pdparams (best / last)."""
    path = Path(run_dir) / f"{name}.pdparams"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:     # a crash mid-save keeps the previous checkpoint whole
        paddle.save(model.state_dict(), str(tmp))
    return path


def write_run_folder(run_dir: str | Path, model, info: dict[str, Any],
                     checkpoints: tuple[str, ...] = ("best", "last")) -> Path:
    """run.json + <checkpoint>.pdparams: the whole checkpoint format in one call."""
    for name in checkpoints:
        save_weights(run_dir, model, name)
    write_run_json(run_dir, info)
    return Path(run_dir)


def run_info_from_card(card: ModelCard) -> dict[str, Any]:
    """The run.json an exported model was made from, as far as its card tells (export it again)."""
    t = card.training
    return {"architecture": card.architecture, "name": card.name, "classes": list(card.classes),
            "colors_rgb": [list(c) for c in card.colors_rgb], "input_width": card.input_width,
            "input_height": card.input_height, "mean": list(card.mean), "std": list(card.std), "resize": card.resize,
            "config": t.get("config", {}), "command": t.get("command", ""), "data": t.get("data", ""),
            "best": t.get("best", {}), "date": t.get("date")}


def read_run(checkpoint: str | Path) -> tuple[dict[str, Any], Path]:
    """Accept a run folder, a .pdparams path or an exported model folder (its model.pdparams and card);
    return (run.json contents, weights path)."""
    p = Path(checkpoint)
    if not p.exists():
        raise ModelError(f"{p}: checkpoint not found (give a run folder, a .pdparams file or a model folder)")
    if p.is_dir() and not (p / RUN_FILE).is_file() and (p / DYGRAPH_FILE).is_file() and (p / CARD_NAME).is_file():
        return run_info_from_card(ModelCard.load(p)), p / DYGRAPH_FILE
    if p.is_dir():
        weights, run_dir = p / "best.pdparams", p
    elif p.suffix == ".pdparams":
        weights, run_dir = p, p.parent
    else:
        raise ModelError(f"{p}: not a run folder or .pdparams file")
    if not weights.is_file():
        raise ModelError(f"{weights}: checkpoint weights not found")
    run_json = run_dir / RUN_FILE
    if not run_json.is_file():
        raise ModelError(f"{run_json}: missing (a checkpoint needs the run.json written by training)")
    try:
        info = json.loads(run_json.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"{run_json}: not valid JSON ({e.msg}, line {e.lineno})") from None
    missing = [k for k in RUN_KEYS if k not in info and k not in ("best", "date", "config")]
    if missing:
        raise ModelError(f"{run_json}: missing key(s) {', '.join(missing)}")
    return info, weights


def exported_state_dict(model_dir: str | Path, architecture: str, num_classes: int) -> dict[str, Any]:
    """Dygraph weights back from an exported PIR model (model.json + model.pdiparams).

    `paddle.jit.load` names the parameters param_0..N in the sorted order of the names the
    program gives them ("p" ops), and those names are the `param.name`s the architecture had when
    it was exported (conv2d_3.w_0 ...). Export-time static pool matrices (generated_tensor_*) and
    the training-only auxiliary heads have no counterpart. Used to fine-tune a shipped model
    (`init_from`); tested to give back the exported weights exactly.
    """
    from .models import build_model
    model_dir = Path(model_dir)
    program = model_dir / "model.json"
    try:
        ops = json.loads(program.read_text())["program"]["regions"][0]["blocks"][0]["ops"]
        names = sorted(op["A"][3] for op in ops if op.get("#") == "p")
        params = paddle.jit.load(str(model_dir / "model")).state_dict()
    except (OSError, ValueError, KeyError, IndexError, RuntimeError) as e:
        raise ModelError(f"{program}: cannot read exported weights ({e})") from None
    by_name = {n: params[f"param_{i}"] for i, n in enumerate(names) if f"param_{i}" in params}
    with paddle.utils.unique_name.guard():
        reference = build_model(architecture, num_classes)
    # Layers built earlier in the exporting process shift each layer type's counter
    # (conv2d_0 -> conv2d_40): line the two numberings up per type by their smallest index.
    pattern = re.compile(r"^(.*)_(\d+)\.(\w+)$")

    def lowest(found: list[str]) -> dict[str, int]:
        low: dict[str, int] = {}
        for n in found:
            m = pattern.match(n)
            if m:
                low[m[1]] = min(low.get(m[1], 1 << 30), int(m[2]))
        return low

    ref_state = reference.state_dict()
    ref_names = {k: p.name for k, p in ref_state.items()}
    shift = {t: i - lowest(list(ref_names.values())).get(t, i) for t, i in lowest(list(by_name)).items()}
    state = {}
    for key, name in ref_names.items():
        m = pattern.match(name)
        theirs = f"{m[1]}_{int(m[2]) + shift.get(m[1], 0)}.{m[3]}" if m else name
        value = by_name.get(theirs)
        if value is not None and tuple(value.shape) == tuple(ref_state[key].shape):
            state[key] = value
    if not state:
        raise ModelError(f"{model_dir}: no parameter matches a {architecture} with {num_classes} classes")
    return state


def card_from_run(info: dict[str, Any]) -> ModelCard:
    """The model card an export writes: preprocessing from run.json, the rest kept as provenance."""
    card_keys = ("name", "architecture", "classes", "colors_rgb", "input_width", "input_height",
                 "mean", "std", "resize", "metrics", "speed")
    try:
        card = ModelCard(
            name=str(info["name"]), architecture=str(info["architecture"]),
            classes=tuple(info["classes"]),
            colors_rgb=tuple(tuple(int(v) for v in c) for c in info["colors_rgb"]),
            input_width=int(info["input_width"]), input_height=int(info["input_height"]),
            mean=tuple(float(v) for v in info["mean"]), std=tuple(float(v) for v in info["std"]),
            resize=str(info.get("resize", "letterbox")),
            training={k: v for k, v in info.items() if k not in card_keys},
            metrics=dict(info.get("metrics") or {}), speed=dict(info.get("speed") or {}))
    except (TypeError, ValueError) as e:
        raise ModelError(f"{RUN_FILE}: bad value ({e})") from None
    card.check(RUN_FILE)
    return card


def export_model(checkpoint: str | Path, out_dir: str | Path, check_frames: str | Path | None = None,
                 calibrate: str | Path | None = None, validate: str | Path | None = None,
                 input_size: tuple[int, int] | None = None) -> Path:
    """Checkpoint -> out_dir/{model.json, model.pdiparams, model.onnx, model.pdparams, model.yml}.

    Everything is built in a staging folder beside out_dir and renamed into place only after the
    Paddle/ONNX parity check passes, so a failed export leaves out_dir as it was (absent, or the
    previous model) and never a loadable half-model. model.pdparams is the dygraph state dict (for
    `surgical-seg explain`: Grad-CAM needs gradients, which the inference files cannot give). With
    `calibrate` (a dataset folder with a val split) a softmax temperature is fitted and written into
    the card, and model_int8.onnx is quantized from model.onnx with its train split (training/quantize.py).
    With `validate` (a dataset folder with a val split; default: `calibrate`'s) each reduced
    precision is measured against f32 on it and the result written into the card's `precisions`
    (evaluation.precision_check), which engine.precision "auto" reads. Raises ModelError when Paddle
    Inference and ONNX Runtime disagree on more than 0.1 % of
    pixels of the check frames (then the ONNX file would not be the model that was trained).
    `input_size` (W, H) exports the graph at another input size than the run trained at (the model is
    fully convolutional; its pools are fixed per size), to measure what more or fewer pixels give and cost.
    """
    from .models import build_model

    info, weights = read_run(checkpoint)
    card = card_from_run(info)
    if input_size is not None and tuple(input_size) != (card.input_width, card.input_height):
        trained = f"{card.input_width}x{card.input_height}"
        card = dataclasses.replace(card, input_width=int(input_size[0]), input_height=int(input_size[1]),
                                   training={**card.training, "trained_input": trained})
        card.check("--input-size")
    validate = calibrate if validate is None else validate
    for data in (calibrate, validate):
        if data is not None:
            from ..data.datasets import read_split
            read_split(data, "val")             # a missing split fails now, not after the export
    from ..data.classlist import MANIFEST, ClassList
    if check_frames and (Path(check_frames) / MANIFEST).is_file():     # the run must know the data's classes
        data_classes = ClassList.load(Path(check_frames) / MANIFEST)
        if not data_classes.same_as(card.classes):
            raise ModelError(f"{checkpoint}: trained on classes {', '.join(card.classes)}, but "
                             f"{data_classes.source} lists {', '.join(data_classes.names)}")
    frames = _check_frames(check_frames, card)
    model = build_model(card.architecture, card.num_classes)
    state = paddle.load(str(weights))
    missing, unexpected = _set_state(model, state)
    if missing or unexpected:
        raise ModelError(f"{weights}: weights do not fit {card.architecture} with {card.num_classes} classes "
                         f"({len(missing)} missing, {len(unexpected)} unexpected parameters)")
    model.eval()
    final = Path(out_dir)
    out = staging_folder(final)
    try:
        paddle.save(model.state_dict(), str(out / DYGRAPH_FILE))      # before the pools swap: trainable layout
        make_pools_static(model, (card.input_height, card.input_width))
        net = LogitsHead(model, card.architecture)
        net.eval()
        card = dataclasses.replace(card, output="logits", output_stride=_stride(net, card))
        spec = [paddle.static.InputSpec([1, 3, card.input_height, card.input_width], "float32", name="x")]
        paddle.jit.save(paddle.jit.to_static(net, input_spec=spec, full_graph=True), str(out / "model"),
                        input_spec=spec)
        for f in PADDLE_FILES:
            if not (out / f).is_file():
                raise ModelError(f"{final / f}: paddle.jit.save did not write it")
        _to_onnx(out)
        card = dataclasses.replace(card, files_sha256=hash_model_files(out))   # loading refuses other files
        card.save(out)
        agreement = parity(out, frames)
        if agreement < PARITY_MIN:
            raise ModelError(f"{final}: Paddle Inference and ONNX Runtime labels agree on only "
                             f"{agreement * 100:.3f} % of pixels (need {PARITY_MIN * 100:.1f} %); "
                             f"nothing written")
        card = dataclasses.replace(card, training={
            **card.training, "checkpoint": str(weights), "export_parity": round(agreement, 6),
            "export_parity_frames": len(frames), "export_date": _dt.datetime.now().isoformat(timespec="seconds")})
        card.save(out)
        int8 = None
        if calibrate is not None:
            from ..evaluation.calibration import calibrate_model
            from .quantize import quantize_int8
            calibrate_model(out, calibrate)
            try:
                int8 = quantize_int8(out, calibrate)      # its train split; validated below like bf16
            except BackendUnavailable as e:                # the f32 model is still whole: export it, say why
                print(f"export: no model_int8.onnx: {e}", file=sys.stderr)
            stamp_card(out)
        if validate is not None:
            from ..evaluation.precision_check import write_precisions
            write_precisions(out, validate, int8)
        publish_folder(out, final)
    finally:
        shutil.rmtree(out, ignore_errors=True)       # gone already when published
    return final


def _stride(net: paddle.nn.Layer, card: ModelCard) -> int:
    """The head's stride: input size / output size, the same on both axes (ModelError otherwise)."""
    with paddle.no_grad():
        out = net(paddle.zeros([1, 3, card.input_height, card.input_width], "float32"))
    h, w = (int(v) for v in out.shape[2:])
    if card.input_height % h or card.input_width % w or card.input_height // h != card.input_width // w:
        raise ModelError(f"{card.architecture}: head output {h}x{w} is not an even stride of the input "
                         f"{card.input_height}x{card.input_width}")
    return card.input_height // h


def _set_state(model, state: dict) -> tuple[list[str], list[str]]:
    own = model.state_dict()
    missing = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    unexpected = [k for k in state if k not in own]
    if not missing:
        model.set_state_dict(state)
    return missing, unexpected


def _to_onnx(out: Path) -> Path:
    import paddle2onnx
    onnx_path = out / ONNX_FILE
    try:
        paddle2onnx.export(str(out / PADDLE_FILES[0]), str(out / PADDLE_FILES[1]), str(onnx_path),
                           opset_version=OPSET, enable_onnx_checker=True,
                           optimize_tool="None")  # polygraphy would try to pip install its deps
    except Exception as e:  # paddle2onnx raises bare Exceptions / RuntimeErrors
        raise ModelError(f"{onnx_path}: paddle2onnx failed ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from e
    if not onnx_path.is_file():
        raise ModelError(f"{onnx_path}: paddle2onnx wrote nothing")
    return onnx_path


def _check_frames(folder: str | Path | None, card: ModelCard, n: int = 4) -> list[np.ndarray]:
    """Frames for the parity check: a dataset's images/*.png, else deterministic synthetic ones."""
    if folder is not None:
        paths = sorted((Path(folder) / "images").glob("*.png"))
        if not paths:
            raise DataError(f"{Path(folder) / 'images'}: no .png frames for the export parity check")
        step = max(1, len(paths) // n)
        frames = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths[::step][:n]]
        bad = [str(p) for p, f in zip(paths[::step], frames) if f is None]
        if bad:
            raise DataError(f"{bad[0]}: cannot read image")
        return frames
    return [synthetic_frame(seed, (w, h)) for seed, (w, h) in
            enumerate([(1280, 720), (640, 360), (card.input_width, card.input_height), (480, 640)])]


def synthetic_frame(seed: int, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """An endoscope-looking BGR frame: reddish tissue in a scope circle, pale blobs, noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 0.6 + 0.4 * np.sin(xx / (w / 3) + seed) * np.cos(yy / (h / 2))
    img = np.stack([40 * shade, 60 * shade, 170 * shade], axis=-1)  # BGR reddish
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.25) * min(w, h)
        colour = rng.uniform([120, 150, 170], [230, 240, 250])
        blob = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
        img[blob] = colour
    img += rng.normal(0, 6, img.shape)
    scope = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) > (0.48 * min(w, h) * 1.15) ** 2
    img[scope] = 0
    return np.clip(img, 0, 255).astype(np.uint8)


def parity(model_dir: str | Path, frames: list[np.ndarray]) -> float:
    """Fraction of pixels where Paddle Inference (no oneDNN) and ONNX Runtime argmax agree."""
    from ..engine import load_segmenter
    paddle_seg = load_segmenter(model_dir, backend="paddle", device="cpu", precision="f32")
    ort_seg = load_segmenter(model_dir, backend="onnxruntime", device="cpu", precision="f32")
    same = total = 0
    for frame in frames:
        tensor, _ = paddle_seg.preprocess(frame)
        a = paddle_seg.infer(tensor).argmax(1)
        b = ort_seg.infer(tensor).argmax(1)
        same += int((a == b).sum())
        total += a.size
    return same / total


__all__ = ["exported_state_dict", "export_model", "SoftmaxHead", "LogitsHead", "StaticAdaptiveAvgPool", "make_pools_static", "write_run_folder", "write_run_json", "save_weights", "read_run",
           "card_from_run", "parity", "synthetic_frame", "RUN_FILE", "RUN_KEYS", "PARITY_MIN"]
