"""`readers --report DIR`: report.md laid out like the study's human-machine table (one row per
reader group and the model, best mean IoU first), per_frame_iou.png (box + strip plot) and
agreement.png (pairwise mean IoU between raters as a heatmap)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .reader_stats import MODEL


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def _p(v) -> str:
    return "n/a" if v is None else ("< 0.0001" if v < 1e-4 else f"{v:.4f}")


def _p_is(v) -> str:
    return "p n/a" if v is None else ("p < 0.0001" if v < 1e-4 else f"p = {v:.4f}")


def _ranked(result: dict) -> list[str]:
    return sorted(result["raters"], key=lambda n: -(result["raters"][n]["mean"]["iou"] or 0.0))


def _label(result: dict, name: str) -> str:
    if name == MODEL:
        return f"model ({result['model']})"
    k = len(result.get("members", {}).get(name, ()))
    return f"{name} ({k} readers)" if k > 1 else name


def _verdict(c: dict) -> str:
    w, pm = c["wilcoxon_p"], c["permutation_p"]
    if w is None or pm is None:
        return "not testable"
    if max(w, pm) < 0.05:
        return "significant difference"
    return "significant by one test only" if min(w, pm) < 0.05 else "no significant difference"


def comparison_line(result: dict, reader: str) -> str:
    """One sentence per reader: difference, interval, p-values, verdict."""
    c, margin = result["comparisons"][reader], 100 * result["margin"]
    low, high = c["difference_ci95"]
    ci = "n/a" if low is None else f"{100 * low:+.1f} to {100 * high:+.1f}"
    return (f"model − {reader}: per-frame mean IoU {100 * c['mean_difference']:+.1f} points (95 % CI {ci}), "
            f"Wilcoxon {_p_is(c['wilcoxon_p'])}, permutation {_p_is(c['permutation_p'])} ({c['frames']} frames): "
            f"{_verdict(c)} at 0.05; {c['non_inferiority']} at a margin of {margin:.1f} points")


def _ci_text(ci) -> str:
    return "n/a" if ci[0] is None else f"{_pct(ci[0])}–{_pct(ci[1])}"


def format_table(result: dict) -> str:
    """Plain-text table for the terminal: rater, per-class IoU, mean IoU [CI], per-frame IoU, p-values."""
    fg = result["classes"][1:]
    rows = [f"{'rater':<26}" + "".join(f"{c:>9}" for c in fg) + f"{'mIoU':>7} {'95% CI':<12}{'frame mIoU':>11} "
            f"{'95% CI':<12}{'Wilcoxon p':>11}{'perm. p':>10}  non-inferiority"]
    for n in _ranked(result):
        r, c = result["raters"][n], result["comparisons"].get(n)
        rows.append(f"{_label(result, n):<26}" + "".join(f"{_pct(r['per_class'][k]['iou']):>9}" for k in fg)
                    + f"{_pct(r['mean']['iou']):>7} {_ci_text(r['ci95']['iou']['mean']):<12}"
                    + f"{_pct(r['per_frame_iou']['mean']):>11} {_ci_text(r['per_frame_iou']['ci95']):<12}"
                    + (f"{_p(c['wilcoxon_p']):>11}{_p(c['permutation_p']):>10}  {c['non_inferiority']}" if c else ""))
    rows.append(f"{result['frames']} frames of {result['truth']}; intervals by bootstrap over {result['units']} "
                f"{result['unit']}s" + (f" ({result['unit_note']})" if result["unit_note"] else "")
                + f"; Fleiss' kappa readers {_kappa(result['agreement']['fleiss_kappa_readers'])}, "
                f"with the model {_kappa(result['agreement']['fleiss_kappa_with_model'])}")
    return "\n".join(rows)


def _kappa(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def markdown(result: dict) -> str:
    fg = result["classes"][1:]
    unit = f"{result['units']} {result['unit']}s" + (f" ({result['unit_note']})" if result["unit_note"] else "")
    lines = [f"# Reader study: {result['model'] or 'readers only'}", "",
             f"Truth: `{result['truth']}` (split `{result['split']}`), {result['frames']} frames labelled by every "
             f"rater. Per-class and mean figures are pooled over all pixels, as `eval` computes them (pixels "
             f"labelled 255 (ignore) in the truth excluded; a reader's 255 counts as background), in %. *Frame mIoU* is the "
             f"mean over frames of each frame's mean IoU: the quantity the paired tests compare. 95 % "
             f"intervals by BCa bootstrap over {unit}, {result['resamples']} resamples, seed {result['seed']}.", "",
             "| Rater | " + " | ".join(f"{c} IoU" for c in fg) + " | **mean IoU** [95 % CI] | frame mIoU [95 % CI] | "
             "Dice | Precision | Recall | Wilcoxon p | permutation p | non-inferiority |",
             "|---" * (len(fg) + 9) + "|"]
    for n in _ranked(result):
        r, c = result["raters"][n], result["comparisons"].get(n)
        name = f"**{_label(result, n)}**" if n == MODEL else _label(result, n)
        lines.append(f"| {name} | " + " | ".join(_pct(r["per_class"][k]["iou"]) for k in fg)
                     + f" | **{_pct(r['mean']['iou'])}** [{_ci_text(r['ci95']['iou']['mean'])}] | "
                     f"{_pct(r['per_frame_iou']['mean'])} [{_ci_text(r['per_frame_iou']['ci95'])}] | "
                     f"{_pct(r['mean']['dice'])} | {_pct(r['mean']['precision'])} | {_pct(r['mean']['recall'])} | "
                     + (f"{_p(c['wilcoxon_p'])} | {_p(c['permutation_p'])} | {c['non_inferiority']} |" if c
                        else "– | – | – |"))
    lines += ["", "Classes drawn in a frame whose truth has none of them (spurious) or left out of a frame that "
              "has them (missed), out of " + f"{result['frames']} frames × {len(fg)} classes; each costs that frame "
              "a class IoU of 0, which is why *frame mIoU* can sit well below the pooled mean IoU: "
              + "; ".join(f"{_label(result, n)} {result['raters'][n]['spurious_classes']} spurious, "
                          f"{result['raters'][n]['missed_classes']} missed" for n in _ranked(result)) + "."]
    if result["comparisons"]:
        first = next(iter(result["comparisons"].values()))
        lines += ["", "## Model against each reader", "",
                  "Paired tests on per-frame mean IoU: scipy.stats.wilcoxon (two-sided; frames where both agree "
                  "exactly split their zero ranks) and scipy.stats.permutation_test (two-sided, mean difference, "
                  f"signs flipped per {first.get('permutation_unit', 'frame')}). Non-inferiority: the lower end of the "
                  "bootstrap 95 % interval of the per-frame (model − reader) difference lies above −"
                  f"{100 * result['margin']:.1f} points (*inferior*: its upper end lies below; else *inconclusive*).", ""]
        lines += [f"- {comparison_line(result, n)}" for n in result["comparisons"]]
    ag = result["agreement"]
    lines += ["", "## Agreement between raters", "",
              f"Fleiss' kappa over pixels: readers {_kappa(ag['fleiss_kappa_readers'])}, readers and model "
              f"{_kappa(ag['fleiss_kappa_with_model'])}. Pairwise mean IoU (one rater taken as truth for the other; "
              "symmetric):", "",
              "| | " + " | ".join(_label(result, n) for n in ag["raters"]) + " |", "|---" * (len(ag["raters"]) + 1) + "|"]
    for n, row in zip(ag["raters"], ag["mean_iou"]):
        lines.append(f"| {_label(result, n)} | " + " | ".join(_pct(v) for v in row) + " |")
    lines += ["", "![per-frame IoU](per_frame_iou.png)", "", "![agreement](agreement.png)", ""]
    return "\n".join(lines)


def plot_per_frame(result: dict, path: Path) -> None:
    """Box plot of per-frame mean IoU per rater with every frame as a jittered dot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = _ranked(result)
    data = [np.array([v for v in result["per_frame_iou"][n] if v is not None]) * 100 for n in names]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(names), 4.4))
    ax.boxplot(data, showfliers=False, widths=0.55)
    rng = np.random.default_rng(0)
    for i, (n, d) in enumerate(zip(names, data), 1):
        ax.scatter(i + rng.uniform(-0.18, 0.18, len(d)), d, s=9, alpha=0.55,
                   color="tab:red" if n == MODEL else "tab:blue", zorder=3)
    ax.set_xticks(range(1, len(names) + 1), [_label(result, n) for n in names], rotation=15, fontsize=8)
    ax.set_ylabel("per-frame mean IoU (%)")
    ax.set_title(f"Per-frame IoU against the truth ({result['frames']} frames)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_agreement(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ag = result["agreement"]
    m = 100 * np.array(ag["mean_iou"], float)
    labels = [_label(result, n) for n in ag["raters"]]
    fig, ax = plt.subplots(figsize=(1.8 + 1.1 * len(labels), 1.4 + 1.0 * len(labels)))
    im = ax.imshow(m, cmap="viridis", vmin=np.nanmin(m) if np.isfinite(m).any() else 0, vmax=100.0)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{m[i, j]:.1f}", ha="center", va="center", fontsize=8,
                    color="black" if m[i, j] > np.nanmean(m) else "white")
    ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_title(f"Pairwise mean IoU (%); Fleiss' κ readers {_kappa(ag['fleiss_kappa_readers'])}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: dict, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_per_frame(result, out / "per_frame_iou.png")
    plot_agreement(result, out / "agreement.png")
    (out / "report.md").write_text(markdown(result))
    return out / "report.md"


__all__ = ["write_report", "markdown", "format_table", "comparison_line", "plot_per_frame", "plot_agreement"]
