"""`surgical-seg readers`: the clinical study's human-machine comparison.

The model and every reader (surgeons, or `synth --readers`) are scored against the same truth on
the frames all of them labelled. Per rater: IoU, Dice, precision and recall per class and mean,
pooled over pixels exactly as `eval` does (SegmentationMetrics), with BCa bootstrap 95 %
intervals over frames, or over videos when the truth's split_groups.json groups frames by video.
Model vs each reader: Wilcoxon signed-rank and a paired permutation test on per-frame mean IoU,
and a non-inferiority verdict from the paired bootstrap interval of the mean-IoU difference.
Agreement: pairwise mean IoU between raters and Fleiss' kappa over pixels.

A reader's 255 ("not labelled") counts as background; truth 255 (ignore) is left out.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np

from ..modelcard import CLASS_NAMES, IGNORE_INDEX
from ..errors import ConfigError, DataError, ModelError
from . import reader_stats as rs
from .reader_stats import MODEL
from .evaluate import _clean
from .metrics import SegmentationMetrics

DEFAULT_GROUP_PATTERN = r"^(.+?)_\d+$"      # as `split` and `synth` name frames: <video>_<index>
MIN_VIDEOS = 6                               # fewer videos: resample frames instead


def class_list(card=None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(class names, foreground names): from the model card when there is a model, else the app's
    fixed list. The one place the reader study learns its classes; id 0 is background."""
    names = tuple(card.classes) if card is not None else CLASS_NAMES
    return names, names[1:]


def parse_reader(text: str) -> tuple[str, list[tuple[str, Path]]]:
    """NAME=DIR -> (name, [(member, labels folder)]). DIR is a reader's folder holding labels/, the
    labels folder itself, or a group's folder holding one <member>/labels per reader (as
    `import-labelstudio --annotator-groups` writes it)."""
    name, sep, folder = text.partition("=")
    name = name.strip()
    if not sep or not name or not folder.strip():
        raise ConfigError(f"readers: --reader must look like NAME=DIR, not {text!r}")
    if name == MODEL:
        raise ConfigError(f"readers: the reader name {MODEL!r} is kept for the model")
    return name, _labels_folders(Path(folder.strip()), f"reader {name!r}")


def _labels_folders(path: Path, who: str) -> list[tuple[str, Path]]:
    if (path / "labels").is_dir() or (path.is_dir() and any(path.glob("*.png"))):
        labels = path / "labels" if (path / "labels").is_dir() else path
        if not any(labels.glob("*.png")):
            raise DataError(f"{labels}: {who} has no label PNGs")
        return [(path.name if labels != path else path.parent.name, labels)]
    if not path.is_dir():
        raise DataError(f"{path}: {who} folder not found")
    members = [(sub.name, sub / "labels") for sub in sorted(path.iterdir())
               if (sub / "labels").is_dir() and any((sub / "labels").glob("*.png"))]
    if not members:
        raise DataError(f"{path}: {who} has no label PNGs (neither labels/ nor <reader>/labels/ inside)")
    return members


def _group(pairs: list[tuple[str, list[tuple[str, Path]]]]) -> dict[str, list[tuple[str, Path]]]:
    """Raters by name (a repeated NAME adds readers to that group); members named NAME/<member>
    in groups of several, NAME alone otherwise."""
    groups: dict[str, list[tuple[str, Path]]] = {}
    for name, members in pairs:
        groups.setdefault(name, []).extend(members)
    out = {}
    for name, members in groups.items():
        labels = [f"{name}/{m}" for m, _ in members] if len(members) > 1 else [name]
        if len(set(labels)) != len(labels):
            labels = [f"{name}/{k + 1}" for k in range(len(members))]
        out[name] = [(label, folder) for label, (_, folder) in zip(labels, members)]
    return out


@dataclass
class _Rater:
    name: str
    metrics: SegmentationMetrics
    frame_cms: list[np.ndarray] = field(default_factory=list)


def _units(data: Path, stems: list[str], group_pattern: str | None) -> tuple[np.ndarray | None, str, str]:
    """(video of each frame or None, "video" or "frame", why frames) from split_groups.json or --group-pattern."""
    groups_file = data / "split_groups.json"
    if group_pattern is None and not groups_file.is_file():
        return None, "frame", "frames are not grouped by video (no split_groups.json)"
    try:
        rx = re.compile(group_pattern or DEFAULT_GROUP_PATTERN)
    except re.error as e:
        raise ConfigError(f"readers: --group-pattern is not a valid regex ({e})") from None
    names = [m.group(1) if (m := rx.match(s)) and m.groups() else s for s in stems]
    if group_pattern is None:
        try:
            known = set(json.loads(groups_file.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as e:
            raise DataError(f"{groups_file}: not a JSON mapping of video -> split ({e})") from None
        if not set(names) <= known:            # the file's groups came from another pattern: do not guess
            return None, "frame", f"{groups_file.name} does not match the frame names; give --group-pattern"
    if len(set(names)) < MIN_VIDEOS:            # a bootstrap over 2 or 3 videos says nothing
        return None, "frame", f"only {len(set(names))} videos, too few to resample (< {MIN_VIDEOS})"
    if len(set(names)) == len(names):
        return None, "frame", "one frame per video"
    return np.array(names), "video", ""


def _load_reader_label(path: Path, shape: tuple[int, int], n_classes: int) -> np.ndarray:
    from ..data.datasets import load_label
    lab = load_label(path)
    if lab.shape != shape:
        raise DataError(f"{path}: label is {lab.shape[1]}x{lab.shape[0]}, the truth is {shape[1]}x{shape[0]}")
    lab = np.where(lab == IGNORE_INDEX, 0, lab)
    if lab.max() >= n_classes:
        raise DataError(f"{path}: holds class id {int(lab.max())}, expected 0..{n_classes - 1} (or 255)")
    return lab


def collect(truth: Path, split: str, readers: dict[str, list[tuple[str, Path]]], model=None, backend: str = "auto",
            model_labels: Path | None = None, progress: bool = True) -> dict:
    """Run over the common frames: per-rater SegmentationMetrics and per-frame confusion matrices,
    pairwise confusion between raters, Fleiss accumulators. Returns the raw pieces."""
    from tqdm import tqdm

    from ..data.datasets import load_label, read_split

    seg, card = None, None
    if model is not None:
        from ..config import load_app_config
        from ..engine import load_segmenter
        # the labels the app shows, as `eval --data` scores them (engine.min_region)
        seg = load_segmenter(model, backend=backend, min_region=load_app_config().engine.min_region)
        card = seg.card
    names, fg = class_list(card)
    pairs = {lab.stem: (img, lab) for img, lab in read_split(truth, split)}
    if not pairs:
        raise DataError(f"{truth}: split {split!r} lists no frames")
    sources = dict(readers)
    if model_labels is not None:
        sources[MODEL] = [(MODEL, _labels_folders(Path(model_labels), "the model's labels")[0][1])]
    have = {name: set.intersection(*({p.stem for p in folder.glob("*.png")} for _, folder in members))
            for name, members in sources.items()}
    common = sorted(set(pairs).intersection(*have.values()))
    if not common:
        raise DataError(f"no frame of {truth} (split {split}) is labelled by every reader: "
                        + ", ".join(f"{n} {len(s & set(pairs))}" for n, s in have.items()))
    if seg is not None:
        sources[MODEL] = [(MODEL, None)]
    rater_names = list(sources)
    readers_flat = [m for n in readers for m, _ in sources[n]]           # every single reader, in order
    individuals = [m for n in rater_names for m, _ in sources[n]]
    raters = {n: _Rater(n, SegmentationMetrics(names, fg, auc_samples=None)) for n in rater_names}
    pair_cms = {p: np.zeros((len(names),) * 2, np.int64) for p in combinations(individuals, 2)}
    fleiss_readers, fleiss_all = rs.FleissAccumulator(len(names)), rs.FleissAccumulator(len(names))
    for stem in tqdm(common, desc="readers", unit="img", disable=not progress):
        img_path, lab_path = pairs[stem]
        t = load_label(lab_path)
        labels = {m: _load_reader_label(folder / f"{stem}.png", t.shape, len(names))
                  for members in sources.values() for m, folder in members if folder is not None}
        if seg is not None:
            frame = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
            if frame is None:
                raise DataError(f"{img_path}: cannot read image")
            labels[MODEL] = seg.segment(frame).labels
        for n, r in raters.items():
            before = r.metrics.confusion.copy()
            for m, _ in sources[n]:                     # a group's readers pool into one row
                try:
                    r.metrics.update(t, labels[m])
                except ValueError as e:
                    raise DataError(f"{lab_path}: {e}") from None
            r.frame_cms.append(r.metrics.confusion - before)
        valid = t != IGNORE_INDEX
        flat = {m: labels[m][valid].astype(np.int64) for m in individuals}
        for a, b in pair_cms:
            pair_cms[a, b] += np.bincount(flat[a] * len(names) + flat[b],
                                          minlength=len(names) ** 2).reshape(len(names), len(names))
        if len(readers_flat) >= 2:
            fleiss_readers.add(np.stack([flat[m] for m in readers_flat]))
        if len(individuals) > len(readers_flat) >= 1:
            fleiss_all.add(np.stack([flat[m] for m in individuals]))
    return {"classes": names, "foreground": fg, "frames": common, "raters": raters, "pair_cms": pair_cms,
            "individuals": individuals, "members": {n: [m for m, _ in sources[n]] for n in readers},
            "fleiss_readers": fleiss_readers, "fleiss_all": fleiss_all, "card": card,
            "backend": seg.backend_name if seg is not None else None,
            "outside": {n: len(s - set(common)) for n, s in have.items()}}


def score_readers(truth: str | Path, readers: list[str] | dict[str, str | Path], model: str | Path | None = None,
                  model_labels: str | Path | None = None, backend: str = "auto", split: str = "all",
                  margin: float = 0.05, n_resamples: int = 9999, seed: int = 0, group_pattern: str | None = None,
                  json_out: str | Path | None = None, report_dir: str | Path | None = None,
                  progress: bool = True) -> dict:
    """The whole reader study; returns (and optionally writes) a JSON-ready dict.

    readers: "NAME=DIR" strings as on the command line (a repeated NAME makes a group), or {name: DIR}.
    """
    truth = Path(truth)
    if not truth.is_dir():
        raise DataError(f"{truth}: truth dataset folder not found")
    readers = _group([(n, _labels_folders(Path(d), f"reader {n!r}")) for n, d in readers.items()]
                     if isinstance(readers, dict) else [parse_reader(r) for r in readers])
    if not readers:
        raise ConfigError("readers: give at least one --reader NAME=DIR")
    if model is not None and model_labels is not None:
        raise ConfigError("readers: give --model or --model-labels, not both")
    if not 0 <= margin < 1:
        raise ConfigError(f"readers: --margin is a fraction of IoU (0.05 = 5 points), not {margin}")
    if n_resamples < 99:
        raise ConfigError(f"readers: --resamples must be at least 99, not {n_resamples}")
    raw = collect(truth, split, readers, model, backend, Path(model_labels) if model_labels else None, progress)
    names, fg_names = raw["classes"], raw["foreground"]
    fg = [names.index(c) for c in fg_names]
    units, unit, unit_note = _units(truth, raw["frames"], group_pattern)
    per_frame, unit_cms, raters = {}, {}, {}
    for n, r in raw["raters"].items():
        cms = np.stack(r.frame_cms)
        unit_cms[n] = cms if units is None else np.stack([cms[units == g].sum(0) for g in np.unique(units)])
        per_frame[n] = rs.mean_iou(cms, fg)
        low, high = rs.bootstrap_figures(unit_cms[n], fg, n_resamples, seed)
        res = r.metrics.result()
        frame_mean, frame_low, frame_high = rs.bootstrap_mean(per_frame[n], units, n_resamples, seed)
        in_truth, drawn = cms.sum(axis=2)[:, fg] > 0, cms.sum(axis=1)[:, fg] > 0
        raters[n] = {
            "per_class": {c: {f: res["per_class"][c][f] for f in rs.FIGURE_NAMES} for c in fg_names},
            "mean": {f: res["mean"][f] for f in rs.FIGURE_NAMES},
            "ci95": {f: {c: [float(low[i, j]), float(high[i, j])] for j, c in enumerate([*fg_names, "mean"])}
                     for i, f in enumerate(rs.FIGURE_NAMES)},
            "per_frame_iou": {"mean": frame_mean, "ci95": [frame_low, frame_high],
                              "frames": int(np.isfinite(per_frame[n]).sum())},
            # (frame, class) cases: drawn where the truth has none of it / in the truth but not drawn at all;
            # each costs that frame a class IoU of 0, so they separate frame mIoU from the pooled mIoU
            "spurious_classes": int((drawn & ~in_truth).sum()), "missed_classes": int((in_truth & ~drawn).sum()),
            "num_pixels": res["num_pixels"]}
    comparisons = {}
    if MODEL in raters:
        for n in readers:
            both = np.isfinite(per_frame[MODEL]) & np.isfinite(per_frame[n])
            d = np.where(both, per_frame[MODEL] - per_frame[n], np.nan)
            diff, low, high = rs.bootstrap_mean(d, units, n_resamples, seed)
            tests = rs.paired_tests(per_frame[MODEL], per_frame[n], units, n_resamples, seed)
            comparisons[n] = {**tests, "difference_ci95": [low, high],
                              "non_inferiority": rs.non_inferiority(diff, low, high, margin)}
    order = raw["individuals"]
    agreement = np.eye(len(order))
    pixel_agreement = np.eye(len(order))
    for (a, b), cm in raw["pair_cms"].items():
        i, j = order.index(a), order.index(b)
        agreement[i, j] = agreement[j, i] = float(rs.mean_iou(cm, fg))
        pixel_agreement[i, j] = pixel_agreement[j, i] = float(np.trace(cm) / max(cm.sum(), 1))
    card = raw["card"]
    model_name = card.name if card is not None else (str(model_labels) if model_labels else None)
    result = _clean({
        "truth": str(truth), "split": split, "classes": list(names), "frames": len(raw["frames"]),
        "frame_names": raw["frames"], "unit": unit, "unit_note": unit_note,
        "units": len(np.unique(units)) if units is not None else len(raw["frames"]),
        "frames_outside_common_set": raw["outside"],
        "model": model_name, "model_path": str(model) if model is not None else None,
        "backend": raw["backend"], "readers": list(readers), "members": raw["members"], "margin": margin,
        "resamples": n_resamples, "seed": seed, "raters": raters, "comparisons": comparisons,
        "per_frame_iou": {n: [float(v) for v in per_frame[n]] for n in raw["raters"]},
        "agreement": {"raters": order, "mean_iou": agreement.tolist(), "pixel_agreement": pixel_agreement.tolist(),
                      "fleiss_kappa_readers": raw["fleiss_readers"].kappa(),
                      "fleiss_kappa_with_model": raw["fleiss_all"].kappa()}})
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=1))
    if report_dir:
        from .reader_report import write_report
        write_report(result, report_dir)
    return result


__all__ = ["score_readers", "collect", "class_list", "parse_reader", "MODEL"]
