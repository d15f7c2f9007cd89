"""Seg-Grad-CAM (Vinogradova et al. 2020): where the trained model looked when it drew a class.

For class c, the score is the sum of c's logits over the pixels the model labels c (the region it
drew); its gradient with respect to the features that feed the class convolution, averaged over
space, weights those feature maps: cam = ReLU(sum_k alpha_k A_k), upsampled to the frame and scaled
to [0, 1]. This needs gradients, so it runs the dygraph Paddle model (model.pdparams, written by
`export`), not an inference runtime. For understanding the model, never for guidance.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError, ModelError
from ..modelcard import DYGRAPH_FILE, ModelCard, resolve_model_dir

CAPTION = "for understanding, not guidance"
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def load_dygraph(model_dir: str | Path):
    """(model in eval mode, card) from model.pdparams, else recovered from model.json + model.pdiparams."""
    import paddle

    from .models import build_model
    model_dir = resolve_model_dir(model_dir)
    card = ModelCard.load(model_dir)
    with paddle.utils.unique_name.guard():
        model = build_model(card.architecture, card.num_classes)
    path = model_dir / DYGRAPH_FILE
    if path.is_file():
        state = paddle.load(str(path))
    elif (model_dir / "model.json").is_file():         # exported before model.pdparams existed
        from .export import exported_state_dict
        state = exported_state_dict(model_dir, card.architecture, card.num_classes)
        own = model.state_dict()
        if len(state) < len(own) // 2:
            raise ModelError(f"{model_dir}: cannot map the exported parameters onto {type(model).__name__} "
                             f"({len(state)} of {len(own)}); re-export it to write {DYGRAPH_FILE}")
    else:
        raise ModelError(f"{path}: missing (re-export the model: `surgical-seg export RUN --out {model_dir}`)")
    model.set_state_dict(state)
    model.eval()
    return model, card


@dataclass(frozen=True)
class Explanation:
    heat: np.ndarray          # HxW float32 in [0, 1] at frame resolution
    region: np.ndarray        # HxW bool: where the model labels the class (the explained region)
    class_name: str
    ms: float                 # time to compute it


class SegGradCam:
    """Explains one class at a time on BGR frames; not thread-safe (one worker owns it)."""

    def __init__(self, model, card: ModelCard) -> None:
        import paddle
        from ..engine.preprocess import Preprocessor
        self.model, self.card, self._pre = model, card, Preprocessor(card)
        self._feats = None
        heads = [m for m in model.sublayers() if isinstance(m, paddle.nn.Conv2D) and m._out_channels == card.num_classes]
        if not heads:
            raise ModelError(f"{card.architecture}: no convolution with {card.num_classes} outputs to explain")
        for conv in heads:               # the first head called makes logits[0]; later ones are auxiliary
            conv.register_forward_pre_hook(self._keep)

    def _keep(self, layer, inputs):
        if self._feats is None:
            self._feats = inputs[0]

    def explain(self, frame: np.ndarray, class_name: str) -> Explanation:
        import paddle
        if class_name not in self.card.classes:
            raise DataError(f"class {class_name!r} not in the model ({', '.join(self.card.classes)})")
        c = self.card.classes.index(class_name)
        t0 = time.perf_counter_ns()
        tensor, box = self._pre(frame)
        self._feats = None
        logits = self.model(paddle.to_tensor(tensor))[0]
        labels = logits.numpy()[0].argmax(axis=0)
        inside = np.zeros(labels.shape, bool)
        inside[box.y:box.y + box.h, box.x:box.x + box.w] = True
        if box.dark is not None:
            inside[box.y:box.y + box.h, box.x:box.x + box.w] &= ~box.dark
        region = (labels == c) & inside
        weight = paddle.to_tensor(region.astype(np.float32))
        score = (logits[0, c] * weight).sum()
        grads = paddle.grad(score, self._feats)[0].numpy()[0]           # K x h x w
        feats = self._feats.numpy()[0]
        cam = np.maximum(np.tensordot(grads.mean(axis=(1, 2)), feats, axes=1), 0.0).astype(np.float32)
        cam = cv2.resize(cam, (self.card.input_width, self.card.input_height), interpolation=cv2.INTER_LINEAR)
        cam = cam[box.y:box.y + box.h, box.x:box.x + box.w]
        if box.dark is not None:
            cam[box.dark] = 0.0
        heat = cv2.resize(cam, (box.frame_w, box.frame_h), interpolation=cv2.INTER_LINEAR)
        heat = heat / heat.max() if heat.max() > 0 else heat
        small = region[box.y:box.y + box.h, box.x:box.x + box.w].astype(np.uint8)
        big = cv2.resize(small, (box.frame_w, box.frame_h), interpolation=cv2.INTER_NEAREST).astype(bool)
        return Explanation(heat, big, class_name, (time.perf_counter_ns() - t0) / 1e6)


def mass_inside(heat: np.ndarray, region: np.ndarray) -> tuple[float | None, float | None]:
    """(share of the heat mass inside `region`, mean heat inside / mean heat outside); None if undefined."""
    total = float(heat.sum())
    share = float(heat[region].sum()) / total if total > 0 else None
    n_in, n_out = int(region.sum()), int((~region).sum())
    if not n_in or not n_out:
        return share, None
    out_mean = float(heat[~region].mean())
    return share, (float(heat[region].mean()) / out_mean if out_mean > 0 else None)


def render(frame: np.ndarray, ex: Explanation, note: str = "") -> np.ndarray:
    """The heatmap over the frame, the explained region outlined, and a caption strip saying what it is."""
    colour = cv2.applyColorMap((ex.heat * 255).astype(np.uint8), cv2.COLORMAP_JET).astype(np.float32)
    alpha = (0.15 + 0.5 * ex.heat)[..., None]          # cold areas keep the picture readable
    out = np.clip(frame * (1.0 - alpha) + colour * alpha, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(ex.region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, frame.shape[0] // 360))
    s = max(0.45, frame.shape[0] / 720 * 0.7)
    strip = np.zeros((int(44 * s), out.shape[1], 3), np.uint8)
    text = f"Seg-Grad-CAM: {ex.class_name}{'  ' + note if note else ''}  -  {CAPTION}"
    cv2.putText(strip, text, (int(10 * s), int(30 * s)), cv2.FONT_HERSHEY_SIMPLEX, s, (255, 255, 255),
                max(1, round(s * 2)), cv2.LINE_AA)
    return np.vstack([out, strip])


def read_frame(spec: str) -> tuple[np.ndarray, str]:
    """IMAGE, VIDEO or VIDEO@FRAME (0-based) -> (BGR frame, description)."""
    path, index = Path(spec), 0
    if not path.exists() and "@" in spec:
        head, _, tail = spec.rpartition("@")
        try:
            path, index = Path(head), int(tail)
        except ValueError:
            raise DataError(f"{spec}: expected IMAGE, VIDEO or VIDEO@FRAME (a frame number)") from None
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix.lower() in IMAGE_EXTS:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise DataError(f"{path}: cannot read image")
        return frame, path.name
    import av
    try:
        with av.open(str(path)) as container:
            for i, f in enumerate(container.decode(video=0)):
                if i == index:
                    return f.to_ndarray(format="bgr24"), f"{path.name} frame {index}"
    except av.FFmpegError as e:
        raise DataError(f"{path}: cannot decode video ({e})") from None
    raise DataError(f"{path}: has no frame {index}")


def explain_to_file(spec: str, class_name: str, out: str | Path, model: str | Path = "fastscnn_spine") -> dict:
    """`surgical-seg explain`: write the rendered heatmap PNG; returns what was done (for printing)."""
    frame, what = read_frame(spec)
    net, card = load_dygraph(model)
    ex = SegGradCam(net, card).explain(frame, class_name)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), render(frame, ex, what)):
        raise DataError(f"{out}: cannot write PNG")
    share, _ = mass_inside(ex.heat, ex.region)
    return {"out": str(out), "frame": what, "class": class_name, "ms": ex.ms,
            "region_pixels": int(ex.region.sum()), "mass_inside": share}


__all__ = ["SegGradCam", "Explanation", "load_dygraph", "mass_inside", "render",
           "read_frame", "explain_to_file", "CAPTION"]
