"""Synthetic readers: the truth of a dataset redrawn the way people disagree, at graded skill.

A reader study needs several people's labels of the same frames. Without real surgeons, each
synthetic reader perturbs the true label map in the three ways annotators differ:

- **boundary**: every labelled structure drawn a few pixels too tight or too loose (erosion or
  dilation of that class's mask, the direction drawn per structure and frame);
- **missed small regions**: connected regions smaller than `small_px` pixels left unlabelled
  (background) with probability `miss_prob`;
- **confused pair**: whole regions of one class of `confused` labelled as the other with
  probability `confuse_prob` (ligamentum flavum and disc are the study's hard pair).

Pixels the truth ignores (255) stay 255. Figures are in pixels at 640x360
(the synth default); perturbations are seeded per profile and frame, so readers are reproducible.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..modelcard import CLASS_NAMES, IGNORE_INDEX
from ..errors import ConfigError, DataError


@dataclass(frozen=True)
class ReaderProfile:
    name: str
    boundary_px: tuple[int, int]          # erosion/dilation radius drawn from this range (inclusive)
    small_px: int                         # regions smaller than this may be missed ...
    miss_prob: float                      # ... with this probability each
    confused: tuple[str, str] = ("ligament", "disc")
    confuse_prob: float = 0.0             # probability that a region of the pair is given the other class


PROFILES = {
    "senior": ReaderProfile("senior", boundary_px=(1, 2), small_px=150, miss_prob=0.2, confuse_prob=0.02),
    "mid": ReaderProfile("mid", boundary_px=(2, 4), small_px=400, miss_prob=0.4, confuse_prob=0.06),
    "junior": ReaderProfile("junior", boundary_px=(3, 7), small_px=900, miss_prob=0.6, confuse_prob=0.15),
}


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def perturb(truth: np.ndarray, profile: ReaderProfile, rng: np.random.Generator,
            class_names: tuple[str, ...] = CLASS_NAMES) -> np.ndarray:
    """One reader's label map of a frame: a new HxW uint8 array (the truth is not touched)."""
    ignored = truth == IGNORE_INDEX
    base = np.where(ignored, 0, truth).astype(np.uint8)
    out = base.copy()
    pair = [class_names.index(c) for c in profile.confused]
    # region by region of the truth: miss small ones, relabel some of the confused pair
    for k in range(1, len(class_names)):
        n, comp, stats, _ = cv2.connectedComponentsWithStats((base == k).astype(np.uint8), connectivity=8)
        for c in range(1, n):
            region = comp == c
            if stats[c, cv2.CC_STAT_AREA] < profile.small_px and rng.random() < profile.miss_prob:
                out[region] = 0
            elif k in pair and rng.random() < profile.confuse_prob:
                out[region] = pair[1 - pair.index(k)]
    # boundaries: each class grown or shrunk; growth paints over neighbours, shrinkage leaves background
    drawn = out.copy()
    for k in rng.permutation(np.arange(1, len(class_names))):
        mask = (out == k).astype(np.uint8)
        if not mask.any():
            continue
        r = int(rng.integers(profile.boundary_px[0], profile.boundary_px[1] + 1))
        if r == 0:
            continue
        if rng.random() < 0.5:
            drawn[(cv2.dilate(mask, _disk(r)) > 0) & (mask == 0)] = k
        else:
            drawn[(mask > 0) & (cv2.erode(mask, _disk(r)) == 0) & (drawn == k)] = 0
    drawn[ignored] = IGNORE_INDEX
    return drawn


def parse_profiles(text: str) -> list[ReaderProfile]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in PROFILES]
    if not names or unknown:
        raise ConfigError(f"synth: --reader-profiles takes names from {', '.join(PROFILES)}, got {text!r}")
    return [PROFILES[n] for n in names]


def write_readers(data: str | Path, out: str | Path, profiles: str = "senior,mid,junior", seed: int = 0,
                  progress: bool = True) -> str:
    """OUT/<profile>/labels/<stem>.png for every label PNG of DATA/labels; returns a summary line."""
    from tqdm import tqdm

    from .datasets import load_label

    chosen = parse_profiles(profiles)
    data, out = Path(data), Path(out)
    labels = sorted((data / "labels").glob("*.png"))
    if not labels:
        raise DataError(f"{data}: no label PNGs under labels/ to draw readers from")
    for profile in chosen:
        folder = out / profile.name / "labels"
        folder.mkdir(parents=True, exist_ok=True)
        for path in tqdm(labels, desc=f"reader {profile.name}", unit="img", disable=not progress):
            rng = np.random.default_rng([seed, zlib.crc32(profile.name.encode()), zlib.crc32(path.stem.encode())])
            cv2.imwrite(str(folder / path.name), perturb(load_label(path), profile, rng))
        (out / profile.name / "profile.json").write_text(json.dumps(
            {**asdict(profile), "seed": seed, "truth": str(data)}, indent=1))
    return (f"wrote {len(chosen)} synthetic readers ({', '.join(p.name for p in chosen)}) of {len(labels)} frames "
            f"to {out}; score them with: surgical-seg readers --truth {data} "
            + " ".join(f"--reader {p.name}={out / p.name}" for p in chosen))


__all__ = ["ReaderProfile", "PROFILES", "perturb", "parse_profiles", "write_readers"]
