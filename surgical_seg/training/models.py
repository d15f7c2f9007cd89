"""PaddleSeg architectures we train, as a plain dict (no global string registry).

Every builder returns a paddle.nn.Layer whose forward(x NCHW float32) returns a list whose
first element is the logits at input resolution, as PaddleSeg models do.
"""
from __future__ import annotations

from typing import Callable


def _fastscnn(num_classes: int):
    from paddleseg.models import FastSCNN
    return FastSCNN(num_classes=num_classes)


def _ppliteseg_stdc1(num_classes: int):
    from paddleseg.models import PPLiteSeg
    from paddleseg.models.backbones import STDC1
    return PPLiteSeg(num_classes=num_classes, backbone=STDC1(), arm_out_chs=[32, 64, 128],
                     seg_head_inter_chs=[32, 64, 64])


def _bisenetv2(num_classes: int):
    from paddleseg.models import BiSeNetV2
    return BiSeNetV2(num_classes=num_classes)


ARCHITECTURES: dict[str, Callable] = {
    "FastSCNN": _fastscnn,
    "PPLiteSeg-STDC1": _ppliteseg_stdc1,
    "BiSeNetV2": _bisenetv2,
}


def build_model(architecture: str, num_classes: int):
    from ..errors import ConfigError
    if architecture not in ARCHITECTURES:
        raise ConfigError(f"architecture {architecture!r} unknown (choose from {', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[architecture](num_classes)


__all__ = ["ARCHITECTURES", "build_model"]
