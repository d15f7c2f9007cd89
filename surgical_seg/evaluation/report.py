"""`eval --report DIR`: report.md (the study's table beside its published figures) and two plots.

The published figures are the clinical study's, measured on real endoscopic frames; ours are
measured on whatever --data holds (synthetic frames for the shipped model). The report names
both sources next to every number so the two are never read as one comparison of equals.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..modelcard import CLASS_NAMES

# The clinical study's published figures (real lumbar endoscopy frames), as fractions.
REFERENCE = {"mean_iou": 0.673, "mean_dice": 0.800, "auc": {"bone": 0.963, "ligament": 0.952, "disc": 0.978}}
_COLUMNS = (("accuracy", "Accuracy"), ("precision", "Precision"), ("recall", "Recall"), ("iou", "IoU"),
            ("dice", "Dice"))


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def _auc(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def describe_data(data: str | Path) -> str:
    """Where the evaluation frames come from: synthetic (synth.json present) or as given."""
    marker = Path(data) / "synth.json"
    if marker.is_file():
        try:
            seed = json.loads(marker.read_text()).get("seed")
        except (json.JSONDecodeError, AttributeError):
            seed = None
        return f"synthetic frames from `surgical-seg synth`{f' (seed {seed})' if seed is not None else ''}"
    return "the frames in the dataset folder (not marked synthetic)"


def markdown(result: dict) -> str:
    """The report text: our table, then ours beside the study's published figures."""
    source = describe_data(result["data"])
    names = list(result.get("classes") or CLASS_NAMES)
    lines = [f"# Segmentation evaluation: {result['model']}", "",
             f"Data: `{result['data']}`, split `{result['split']}`, {result['num_images']} images, "
             f"{result.get('num_pixels', 'n/a')} scored pixels ({source}). Backend: {result['backend']}.",
             "Pixels labelled 255 (outside the endoscope's circle) are excluded. Per class figures are "
             f"one-vs-rest; the mean is over {', '.join(names[1:])}. AUC from the softmax probabilities.", "",
             "## This evaluation", "",
             "| Class | " + " | ".join(t for _, t in _COLUMNS) + " | AUC |",
             "|---" * (len(_COLUMNS) + 2) + "|"]
    for name, m in [*result["per_class"].items(), ("**mean**", result["mean"])]:
        lines.append(f"| {name} | " + " | ".join(_pct(m[k]) for k, _ in _COLUMNS) + f" | {_auc(m['auc'])} |")
    lines += ["", f"Overall pixel accuracy ({len(names)} classes incl. background): {_pct(result['pixel_accuracy'])}.", "",
              "## Beside the clinical study's published figures", "",
              "The study's figures were measured on **real** endoscopic spine surgery frames; ours on "
              f"**{source}**. They are shown side by side for orientation, not as a like-for-like comparison.", "",
              "| Figure | Clinical study (real data, published) | This evaluation |", "|---|---|---|",
              f"| mean IoU | {_pct(REFERENCE['mean_iou'])} | {_pct(result['mean']['iou'])} |",
              f"| mean Dice | {_pct(REFERENCE['mean_dice'])} | {_pct(result['mean']['dice'])} |"]
    for name in (n for n in ("disc", "bone", "ligament") if n in result["per_class"]):   # the study's classes
        lines.append(f"| AUC {name} | {_auc(REFERENCE['auc'][name])} | {_auc(result['per_class'][name]['auc'])} |")
    lines += ["", "![confusion matrix](confusion_matrix.png)", "", "![ROC curves](roc.png)", ""]
    if result.get("calibration"):
        lines += calibration_lines(result["calibration"])
    return "\n".join(lines)


def calibration_lines(cal: dict) -> list[str]:
    """ECE table before / after the model card's temperature, and the reliability diagram."""
    names = list(cal["ece"]["before"])
    lines = ["## Calibration", "",
             f"Expected calibration error, {cal['n_bins']} equal-width bins; overall = top label (max softmax vs "
             "correct), per class = one-vs-rest probability of that class. Before: raw softmax (T = 1); after: the "
             f"model card's temperature T = {cal['temperature']:g}"
             + (" (1: not calibrated, run `export --calibrate VAL_DIR`)" if cal["temperature"] == 1.0 else "") + ".",
             "", "| ECE | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for when in ("before", "after"):
        lines.append(f"| {when} | " + " | ".join("n/a" if cal["ece"][when][n] is None else
                                                   f"{100 * cal['ece'][when][n]:.2f} %" for n in names) + " |")
    return lines + ["", "![reliability diagram](reliability.png)", ""]


def plot_confusion(cm: np.ndarray, names: list[str], path: Path) -> None:
    """Two panels: pixel counts and row-normalised (each truth row sums to 1 = recall on the diagonal)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1.0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, values, title, fmt in ((axes[0], cm, "pixel counts", "{:.3g}"),
                                   (axes[1], norm, "row-normalised (truth rows sum to 1)", "{:.3f}")):
        ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(names)), names, rotation=30)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("prediction")
        ax.set_ylabel("truth")
        ax.set_title(f"Confusion matrix, {title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], aucs: dict[str, float | None], path: Path,
             max_points: int = 2000) -> None:
    """One-vs-rest ROC, one curve per class, AUC (ours and the study's) in the legend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.4, 5.2))
    for name, (fpr, tpr) in curves.items():
        if len(fpr) < 2 or np.isnan(fpr).any():
            continue
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), max_points)).round().astype(int))
        study = REFERENCE["auc"].get(name)
        ax.plot(fpr[keep], tpr[keep], lw=1.6,
                label=f"{name}: AUC {_auc(aucs.get(name))}" + (f" (study {study:.3f})" if study else ""))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.005)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("One-vs-rest ROC (study: real data; ours: this data)", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: dict, curves: dict[str, tuple[np.ndarray, np.ndarray]], out_dir: str | Path) -> Path:
    """Write report.md, confusion_matrix.png and roc.png into out_dir; returns report.md's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_confusion(np.asarray(result["confusion_matrix"]), list(result.get("classes") or CLASS_NAMES),
                   out / "confusion_matrix.png")
    plot_roc(curves, {n: result["per_class"][n]["auc"] for n in curves}, out / "roc.png")
    (out / "report.md").write_text(markdown(result))
    return out / "report.md"


__all__ = ["write_report", "markdown", "calibration_lines", "plot_confusion", "plot_roc", "describe_data", "REFERENCE"]
