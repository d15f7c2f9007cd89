"""`bench --truth`: score the overlay the viewer actually showed, frame by frame, against truth.

During the run a `ShownMasks` sink keeps a reference to the label map drawn on each composited frame
(no copy, no work on the compositor thread: the arrays are never written after they are made). After
the run `score_run` reads each frame's truth PNG (`LABELS_DIR/000123.png`, as `synth --video
--labels-dir` writes), scores the displayed sequence and, decoding the source again, each frame's
own mask computed offline by the same segmenter, and writes accuracy.csv + accuracy.png.
"""
from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from ..packet import FramePacket
from .temporal import SequenceScore


def truth_path(labels_dir: Path, index: int) -> Path:
    return labels_dir / f"{index:06d}.png"


def check_truth_dir(labels_dir: str | Path) -> Path:
    """Fail before any model loads when the folder holds no per-frame labels."""
    d = Path(labels_dir)
    if not d.is_dir():
        raise ConfigError(f"--truth {d}: folder not found")
    if not truth_path(d, 0).is_file():
        raise ConfigError(f"--truth {d}: no {truth_path(d, 0).name} (expected one label PNG per frame, "
                          "as `surgical-seg synth --video ... --labels-dir` writes)")
    return d


def read_truth(labels_dir: Path, index: int) -> np.ndarray | None:
    lab = cv2.imread(str(truth_path(labels_dir, index)), cv2.IMREAD_UNCHANGED)
    return None if lab is None or lab.ndim != 2 else lab


class ShownMasks:
    """Pipeline sink: (frame index, labels drawn or None, mask_source) for every composited frame."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, np.ndarray | None, str]] = []
        self._lock = threading.Lock()

    def __call__(self, packet: FramePacket) -> None:
        drawn = packet.mask_source not in (None, "off") and packet.segmentation is not None
        h, w = packet.frame.shape[:2]                  # live label maps are small: scored at frame size
        with self._lock:
            self.rows.append((packet.index, packet.segmentation.labels_at(w, h) if drawn else None,
                              packet.mask_source or "off"))


def _offline_masks(source, segmenter, wanted: set[int]) -> dict[int, np.ndarray]:
    """Each wanted frame's own mask, the segmenter run on every frame in order (as smoothing needs)."""
    out: dict[int, np.ndarray] = {}
    segmenter.reset()

    def each(p: FramePacket) -> None:
        labels = segmenter.segment(p.frame).labels_at(p.frame.shape[1], p.frame.shape[0])
        if p.index in wanted:
            out[p.index] = labels

    source.start(each)
    if not source.join(1800):
        source.stop(5)
    return out


def score_run(shown: ShownMasks, labels_dir: Path, source, segmenter, out_dir: Path,
              class_names: tuple[str, ...]) -> dict[str, Any]:
    """accuracy.{displayed, offline, flicker}; writes accuracy.csv (per frame) and accuracy.png."""
    rows = sorted(shown.rows, key=lambda r: r[0])
    wanted = {i for i, _, _ in rows}
    offline = _offline_masks(source, segmenter, wanted)
    disp, off = SequenceScore(class_names), SequenceScore(class_names)
    table = []
    missing = 0
    for index, labels, mask_source in rows:
        truth = read_truth(labels_dir, index)
        if truth is None or index not in offline:
            missing += 1
            continue
        table.append((index, mask_source, disp.add(truth, labels), off.add(truth, offline[index])))
    if not table:
        raise ConfigError(f"--truth {labels_dir}: no label PNG matches a composited frame")
    d, o = disp.result(), off.result()
    acc = {"truth": str(labels_dir), "frames_scored": len(table), "frames_without_truth": missing,
           "displayed": d, "offline": o, "flicker": d["flicker"],
           "displayed_over_offline": d["miou"] / o["miou"] if o["miou"] else None}
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "accuracy.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "mask_source", "displayed_miou", "offline_miou"])
        w.writerows((i, s, f"{a:.5f}", f"{b:.5f}") for i, s, a, b in table)
    plot_accuracy(table, acc, out_dir / "accuracy.png")
    return acc


def plot_accuracy(table: list[tuple[int, str, float, float]], acc: dict[str, Any], path: Path) -> Path:
    """Per-frame mIoU over time, displayed vs offline; displayed points coloured by mask source."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = np.array([r[0] for r in table])
    disp = np.array([r[2] for r in table])
    off = np.array([r[3] for r in table])
    src = np.array([r[1] for r in table])
    fig, ax = plt.subplots(figsize=(11, 3.8))
    ax.plot(idx, off, lw=1.2, color="#444", label=f"offline (own mask) mIoU {acc['offline']['miou']:.3f}")
    ax.plot(idx, disp, lw=1.0, color="#1f77b4", label=f"displayed mIoU {acc['displayed']['miou']:.3f}")
    colours = {"own": "#2ca02c", "warped": "#ff7f0e", "latest": "#d62728", "off": "#7f7f7f"}
    for name, c in colours.items():
        m = src == name
        if m.any():
            ax.scatter(idx[m], disp[m], s=6, color=c, label=f"{name} ({int(m.sum())})", zorder=3)
    ax.set(xlabel="frame", ylabel="mIoU (foreground)", ylim=(0, 1),
           title=f"per-frame IoU: displayed vs offline · flicker displayed {acc['displayed']['flicker']:.4f}"
                 f" / offline {acc['offline']['flicker']:.4f}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


__all__ = ["ShownMasks", "score_run", "check_truth_dir", "read_truth", "truth_path", "plot_accuracy"]
