"""Folder datasets (DIR/images + DIR/labels) and PaddleSeg-style split files, grouped by video.

A split file holds one sample per line, "images/x.png labels/x.png", relative to DIR, as
PaddleSeg's `Dataset` reads them. Frames of one video/patient must never land in two splits
(neighbouring frames are near-duplicates), so splits are made over groups named by a regex.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from ..atomic import atomic_write_json, atomic_write_text
from ..errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _pairs(data_dir: Path) -> list[tuple[Path, Path]]:
    """Every image that has a label PNG of the same stem, sorted by name."""
    if not (data_dir / "labels").is_dir() or not (data_dir / "images").is_dir():
        raise DataError(f"{data_dir}: not a dataset folder (needs images/ and labels/)")
    images = {p.stem: p for p in (data_dir / "images").iterdir() if p.suffix.lower() in IMAGE_EXTS}
    return [(images[p.stem], p) for p in sorted((data_dir / "labels").glob("*.png")) if p.stem in images]


def read_split(data_dir: str | Path, split: str) -> list[tuple[Path, Path]]:
    """(image, label) paths of a split; "all" = every labelled image in the folder."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: dataset folder not found")
    if split == "all":
        return _pairs(data_dir)
    path = data_dir / f"{split}.txt"
    if not path.is_file():
        raise DataError(f"{path}: split file not found (make one with `surgical-seg split {data_dir}`)")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{path}:{n}: expected 'image label', got {line!r}")
        img, lab = data_dir / parts[0], data_dir / parts[1]
        for p in (img, lab):
            if not p.is_file():
                raise DataError(f"{path}:{n}: {p} not found")
        out.append((img, lab))
    return out


def instrument_mask_path(label_path: str | Path) -> Path:
    """instruments/<name>.png beside labels/ (written by `synth --instrument-masks`; 255 = instrument)."""
    label_path = Path(label_path)
    return label_path.parent.parent / "instruments" / label_path.name


def load_label(path: str | Path) -> np.ndarray:
    """A label PNG as HxW uint8 class ids; colour or 16-bit PNGs are refused, not guessed."""
    lab = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if lab is None:
        raise DataError(f"{path}: cannot read label image")
    if lab.ndim != 2 or lab.dtype != np.uint8:
        raise DataError(f"{path}: label must be a single-channel 8-bit PNG of class ids, "
                        f"got shape {lab.shape} {lab.dtype} (a colour/palette rendering?)")
    return lab


def make_split(data_dir: str | Path, ratios: tuple[float, ...] = (0.8, 0.1, 0.1),
               group_pattern: str = r"^(.+?)_\d+$", seed: int = 0) -> dict[str, int]:
    """Write train/val/test.txt and split_groups.json; whole groups go to one split.

    Groups are shuffled with `seed`; each split with a non-zero ratio first gets one group (so
    val and test are never empty while there are groups enough), then every further group goes
    to the split furthest below its target frame count, so counts approach the ratios even when
    groups differ in size. The stem's regex group 1 names the group; a stem that does not match
    is a group of its own.
    """
    data_dir = Path(data_dir)
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-6:
        raise ConfigError(f"split: --ratios must be three non-negative numbers summing to 1, got {ratios}")
    try:
        rx = re.compile(group_pattern)
    except re.error as e:
        raise ConfigError(f"split: --group-pattern {group_pattern!r} is not a valid regex ({e})") from None
    pairs = _pairs(data_dir)
    if not pairs:
        raise DataError(f"{data_dir}: no image has a label PNG of the same name")
    from .classlist import ClassList
    classes = ClassList.for_dataset(data_dir)
    for _, lab in pairs:                      # a wrong id fails here, not deep inside the loss
        classes.check_labels(load_label(lab), lab)
    groups: dict[str, list[tuple[Path, Path]]] = {}
    for img, lab in pairs:
        m = rx.match(lab.stem)
        groups.setdefault(m.group(1) if m and m.groups() else lab.stem, []).append((img, lab))
    names = sorted(groups)
    np.random.default_rng(seed).shuffle(names)
    target = np.asarray(ratios) * len(pairs)
    have = np.zeros(3)
    assign: dict[str, str] = {}
    open_ = np.asarray(ratios) > 0            # a split with ratio 0 never receives a group
    seeds = [k for k in range(3) if open_[k]]  # first one group each (train, val, test), so none is empty
    for i, name in enumerate(names):
        k = seeds[i] if i < len(seeds) else int(np.argmax(np.where(open_, target - have, -np.inf)))
        assign[name] = SPLITS[k]
        have[k] += len(groups[name])
    for k, split in enumerate(SPLITS):
        lines = [f"{img.relative_to(data_dir).as_posix()} {lab.relative_to(data_dir).as_posix()}"
                 for name in sorted(groups) if assign[name] == split for img, lab in groups[name]]
        atomic_write_text(data_dir / f"{split}.txt", "".join(line + "\n" for line in lines))
    atomic_write_json(data_dir / "split_groups.json", dict(sorted(assign.items())), indent=1)
    return {split: int(have[k]) for k, split in enumerate(SPLITS)}


__all__ = ["read_split", "load_label", "instrument_mask_path", "make_split", "SPLITS"]
