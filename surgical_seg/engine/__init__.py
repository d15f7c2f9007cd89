"""Inference engine: model card -> preprocessing -> backend -> postprocessing.

`load_segmenter(model, backend="auto")` is the entry point; backends are a plain dict.
"""
from .backends import BACKENDS, DEVICES, Backend, available_backends, choose_backend
from .choice import open_backend
from .preprocess import Letterbox, Preprocessor, letterbox_geometry
from .segmenter import Segmenter, load_segmenter

__all__ = ["load_segmenter", "Segmenter", "available_backends", "choose_backend", "open_backend", "BACKENDS", "DEVICES",
           "Backend", "Letterbox", "Preprocessor", "letterbox_geometry"]
