#!/usr/bin/env python
"""Write every figure in README.md, docs/*.md and the model cards from JSON files the commands produced.

Figures are never typed by hand: a block between

    <!-- figures:KIND key=value ... -->
    ...generated text...
    <!-- /figures:KIND -->

is replaced by RENDERERS[KIND](**keys), which reads its JSON files (paths relative to the repository;
bench runs are kept, minus per-frame data, under docs/measured/). A model card's `metrics` and
`speed` are written from the eval JSON and bench summaries in the same way.

    python scripts/update_docs.py --record live_fast out/bench/summary.json   # keep a run's summary
    python scripts/update_docs.py                      # rewrite every block of README.md and docs/*.md
    python scripts/update_docs.py --only overlay       # only blocks of these kinds
    python scripts/update_docs.py --check              # exit 1 when a block is out of date (CI)
    python scripts/update_docs.py --card weights/fastscnn_spine --eval weights/fastscnn_spine/eval_test.json \
        --bench docs/measured/live_fast.json           # metrics + speed of a model card

To add a table: write a renderer below (kwargs from the marker -> Markdown), add it to RENDERERS,
put the markers in a page and run the script.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))      # the package's own helpers, imported where a block needs them
MEASURED = ROOT / "docs" / "measured"
BLOCK = re.compile(r"(<!-- figures:(?P<kind>[\w-]+)(?P<args>[^>]*?)-->\n)(?P<body>.*?)(<!-- /figures:(?P=kind) -->)",
                   re.S)
PER_FRAME_KEYS = ("events",)          # bench summaries: what --record leaves out


# ------------------------------------------------------------------ reading
def load(path: str | Path) -> dict[str, Any]:
    """A JSON file by path (relative to the repository) or by its name under docs/measured/."""
    p = Path(path)
    for cand in (p, ROOT / p, MEASURED / p, MEASURED / f"{p}.json"):
        if cand.is_file():
            return json.loads(cand.read_text())
    raise SystemExit(f"update_docs: {path}: no such measured file (looked in . and {MEASURED})")


def record(name: str, summary_path: str) -> Path:
    """Keep a bench summary.json (minus per-frame data) as docs/measured/NAME.json."""
    s = json.loads(Path(summary_path).read_text())
    for k in PER_FRAME_KEYS:
        s.pop(k, None)
    MEASURED.mkdir(parents=True, exist_ok=True)
    out = MEASURED / f"{name}.json"
    out.write_text(json.dumps(s, indent=1, sort_keys=True) + "\n")
    return out


def record_run(name: str, source: str) -> Path:
    """Keep a training run's facts (command, data, input, iterations, wall time, validation curve) as
    docs/measured/NAME.json, from a run folder (run.json + state.json) or a model card's training section."""
    src = Path(source)
    if src.is_dir():
        run = json.loads((src / "run.json").read_text())
        history = json.loads((src / "state.json").read_text())["history"]
        curve, tools = history.get("val_miou", []), history.get("val_instruments", [])
    else:
        import yaml
        run, curve, tools = yaml.safe_load(src.read_text())["training"], [], []
    cfg = run.get("config", {})
    rec = {"command": run.get("command"), "data": run.get("data"), "init_from": cfg.get("init_from"),
           "input": f"{cfg.get('input_width')}x{cfg.get('input_height')}", "iterations": run.get("iterations"),
           "train_minutes": run.get("train_minutes"), "threads": cfg.get("threads"), "lr": cfg.get("lr"),
           "instrument_weight": cfg.get("instrument_weight"), "best": run.get("best"),
           "val_miou": [[int(i), float(m)] for i, m, *_ in curve],
           "val_instruments": [[int(i), float(v)] for i, v in tools], "source": str(source)}
    MEASURED.mkdir(parents=True, exist_ok=True)
    out = MEASURED / f"{name}.json"
    out.write_text(json.dumps(rec, indent=1) + "\n")
    return out


def _f(v: Any, fmt: str = "{:.1f}") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def _files(files: str) -> list[str]:
    return [f for f in files.split(",") if f]


# ------------------------------------------------------------------ renderers: kwargs -> Markdown
def render_overlay(files: str) -> str:
    """Live runs side by side: overlay age (headline), video latency, mask sources, displayed accuracy."""
    head = ("run", "mode", "align ms", "warp", "infer delay ms", "smoothing", "fps", "engine-only fps",
            "overlay age p50 / p95 ms",
            "video latency p95 ms", "own %", "warped / latest / off", "displayed mIoU", "offline mIoU",
            "displayed / offline", "flicker displayed / offline")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in _files(files):
        s = load(name)
        src, n = s.get("mask_source", {}), max(1, s["frames_out"])
        a = s.get("accuracy") or {}
        d, o = a.get("displayed", {}), a.get("offline", {})
        live = s.get("mode") == "live"
        lines.append("| " + " | ".join([
            Path(name).stem, s.get("mode", "–"), _f(s.get("align_ms"), "{:g}") if live else "–",
            ("on" if s.get("warp") else "off") if live else "–",
            _f(s.get("infer_delay_ms"), "{:g}"), _f(s.get("smoothing"), "{:g}"), _f(s["fps"]),
            _f(s.get("engine_only_fps")),
            f"{_f(s['overlay_age_ms']['p50'])} / **{_f(s['overlay_age_ms']['p95'])}**",
            _f(s["video_latency_ms"]["p95"]), _f(100 * src.get("own", 0) / n, "{:.0f}"),
            f"{src.get('warped', 0)} / {src.get('latest', 0)} / {src.get('off', 0)}",
            _f(d.get("miou"), "{:.4f}"), _f(o.get("miou"), "{:.4f}"),
            _f(a.get("displayed_over_offline"), "{:.3f}"),
            f"{_f(d.get('flicker'), '{:.4f}')} / {_f(o.get('flicker'), '{:.4f}')}"]) + " |")
    return "\n".join(lines) + "\n"


def render_commands(files: str) -> str:
    """The exact commands behind a table (bench records its own command line)."""
    out = []
    for name in _files(files):
        cmd = load(name).get("command")
        if cmd:
            out.append(f"{cmd}   # {Path(name).stem}")
    return "```bash\n" + "\n".join(out) + "\n```\n"


def render_eval(file: str) -> str:
    """The clinical study's table (per class + mean, %) from `surgical-seg eval --json`."""
    e = load(file)
    cols = ("accuracy", "precision", "recall", "iou", "dice", "auc")
    lines = ["| class | accuracy | precision | recall | IoU | Dice | AUC |", "|---|---|---|---|---|---|---|"]
    for name, m in e["per_class"].items():
        lines.append(f"| {name} | " + " | ".join(_f(m[c] * 100) if c != "auc" else _f(m[c], "{:.3f}")
                                                 for c in cols) + " |")
    m = e["mean"]
    lines.append("| **mean** | " + " | ".join(
        (f"**{_f(m[c] * 100)}**" if c in ("iou", "dice") else _f(m[c] * 100)) if c != "auc" else _f(m[c], "{:.3f}")
        for c in cols) + " |")
    return "\n".join(lines) + "\n"


def render_lag(file: str) -> str:
    """scripts/lag_study.py: displayed mIoU for a lag of k frames, the mask as is vs warped."""
    s = load(file)
    lines = [f"own mask on every frame: mIoU {_f(s['own_miou'], '{:.3f}')}, flicker {_f(s['own_flicker'], '{:.4f}')}"
             f" ({s['frames']} frames, warp median {_f(s.get('warp_ms_median'))} ms)\n",
             "| lag | latest mIoU | warped mIoU | loss recovered by warping | flicker latest / warped |",
             "|---|---|---|---|---|"]
    for r in s["lags"]:
        lines.append(f"| {r['lag_frames']} frames ({r['lag_ms']:.0f} ms) | {_f(r['latest_miou'], '{:.3f}')} | "
                     f"{_f(r['warped_miou'], '{:.3f}')} | {_f(None if r['recovered'] is None else 100 * r['recovered'], '{:.0f}')} % | "
                     f"{_f(r['latest_flicker'], '{:.4f}')} / {_f(r['warped_flicker'], '{:.4f}')} |")
    return "\n".join(lines) + "\n"


def render_upsample(file: str) -> str:
    """scripts/time_upsample.py: postprocess cost per frame of smooth edges."""
    s = load(file)
    lines = ["| frame | nearest ms | bilinear (default) ms | bilinear to the full frame ms |", "|---|---|---|---|"]
    for r in s["rows"]:
        lines.append(f"| {r['frame']} | {r['nearest_ms']} | {r['bilinear_ms']} | {r['bilinear_full_frame_ms']} |")
    return "\n".join(lines) + "\n"


def render_min_region(file: str) -> str:
    """scripts/time_min_region.py: cost per frame of engine.min_region, and of the label-map filter it replaced."""
    s = load(file)
    lines = ["| frame | engine: model grid | ms | label map | ms | full frame ms |", "|---|---|---|---|---|---|"]
    for r in s["rows"]:
        lines.append(f"| {r['frame']} | {r['grid']} | **{r['engine_ms']}** | {r['label_map']} | {r['label_map_ms']} "
                     f"| {r['full_frame_ms']} |")
    load_avg = " / ".join(f"{x:g}" for x in s["load_average_1min"])
    return "\n".join(lines) + (f"\n\n`{s['command']}`: median of {s['runs']} calls, {s['threads']} thread, "
                               f"min_region {s['min_region']:g}, load average (1 min) before / after {load_avg}.\n")


def render_heldout(files: str, targets: str = "", labels: str = "") -> str:
    """Mean figures of several `eval --json` runs side by side (clean and degraded held-out sets), with
    the share of instrument pixels painted as anatomy; `targets=miou:82,dice:90,drop:4,instruments:2`
    (percent) adds a line saying which are met (drop: clean minus degraded mean IoU, same data);
    `labels="a,b"` names the rows instead of the data folder (two models on one set)."""
    lines = ["| scored on | frames | mean IoU | mean Dice | mean AUC | pixel accuracy | instrument pixels labelled |",
             "|---|---|---|---|---|---|---|"]
    evals = [load(f"docs/measured/{name}.json") for name in _files(files)]
    names = labels.split(",") if labels else []
    for i, e in enumerate(evals):
        m, tools = e["mean"], e.get("instruments") or {}
        split = "" if e.get("split") in (None, "all") else f" ({e['split']} split)"
        label = (names[i] + ": " if i < len(names) else "") + f"`{e['data']}`{split}" + (
            " degraded (`--degrade`)" if e.get("degraded") else "")
        lines.append(f"| {label} | {e['num_images']} | **{_f(m['iou'] * 100)}** | **{_f(m['dice'] * 100)}** | "
                     f"{_f(m['auc'], '{:.3f}')} | {_f(e['pixel_accuracy'] * 100)} | "
                     f"{_f((tools.get('labelled_share') or 0) * 100)} % |")
    if targets:
        lines += ["", heldout_verdict(evals, {k: float(v) for k, v in (t.split(":") for t in targets.split(","))})]
    return "\n".join(lines) + "\n"


def render_selection(stills: str, clips: str, labels: str, floor: str, tools: str = "2") -> str:
    """A checkpoint chosen on validation data by v7's rule (docs/model.md): among candidates whose stills
    mIoU (`eval --data --json` files) is at least `floor` and whose instrument pixels labelled are at most
    `tools` %, the highest mean clip mIoU (`eval --video --json` files); one row per candidate, in order."""
    names = labels.split(",")
    rows = []
    for name, sf, cf in zip(names, _files(stills), _files(clips)):
        s, v = load(sf), load(cf)
        share = (s.get("instruments") or {}).get("labelled_share") or 0.0
        mean = sum(c["miou"] for c in v["clips"]) / len(v["clips"])
        ok = s["mean"]["iou"] >= float(floor) and share * 100 <= float(tools)
        rows.append((name, s["mean"]["iou"], share, mean, ok, v["clips"]))
    best = max((r for r in rows if r[4]), key=lambda r: r[3], default=None)
    clip_names = [c["clip"].rsplit(".", 1)[0] for c in rows[0][5]]
    lines = ["| candidate | stills mIoU | instrument pixels labelled | " + " | ".join(f"`{c}`" for c in clip_names)
             + " | mean clip mIoU | rule |", "|---" * (5 + len(clip_names)) + "|"]
    for name, miou, share, mean, ok, cl in rows:
        verdict = "**picked**" if best is not None and name == best[0] else ("eligible" if ok else "out")
        lines.append(f"| {name} | {miou:.4f} | {100 * share:.2f} % | " + " | ".join(f"{c['miou']:.3f}" for c in cl)
                     + f" | {mean:.4f} | {verdict} |")
    lines += ["", f"Rule: stills mIoU ≥ {float(floor):.4f} and instrument pixels labelled ≤ {float(tools):g} %, "
                  "then the highest mean clip mIoU; " + (f"picked: {best[0]}." if best else "none eligible.")]
    return "\n".join(lines) + "\n"


def heldout_verdict(evals: list[dict], t: dict[str, float]) -> str:
    """One sentence: each target, the worst value over the sets, met or not."""
    clean = [e for e in evals if not e.get("degraded")]
    parts = []
    for key, word, get in (("miou", "mean IoU", lambda e: e["mean"]["iou"] * 100),
                           ("dice", "mean Dice", lambda e: e["mean"]["dice"] * 100)):
        if key in t and clean:
            worst = min(get(e) for e in clean)
            parts.append(f"{word} ≥ {t[key]:g} on every clean set: lowest {worst:.1f}, "
                         f"{'**met**' if worst >= t[key] else '**not met**'}")
    if "drop" in t:
        drops = [c["mean"]["iou"] * 100 - d["mean"]["iou"] * 100 for c in clean for d in evals
                 if d.get("degraded") and d["data"] == c["data"]]
        if drops:
            parts.append(f"degraded drop ≤ {t['drop']:g} points: largest {max(drops):.1f}, "
                         f"{'**met**' if max(drops) <= t['drop'] else '**not met**'}")
    if "instruments" in t:
        shares = [(e.get("instruments") or {}).get("labelled_share") for e in clean]
        shares = [s * 100 for s in shares if s is not None]
        if shares:
            parts.append(f"instrument pixels labelled ≤ {t['instruments']:g} %: highest {max(shares):.1f} %, "
                         f"{'**met**' if max(shares) <= t['instruments'] else '**not met**'}")
    return "Targets: " + "; ".join(parts) + "."


def render_precision(file: str) -> str:
    """A reduced precision (bf16, f16, int8) against f32 (scripts/precision_check.py)."""
    p = load(file)
    f32, low = p["segment_ms"]["f32"], p["segment_ms"][p["precision"]]
    return (f"| precision | segment() p50 ms | p95 ms | labels equal to f32 | max probability change |\n"
            f"|---|---|---|---|---|\n"
            f"| f32 | {_f(f32['p50'])} | {_f(f32['p95'])} | 100 % | 0 |\n"
            f"| {p['precision']} | {_f(low['p50'])} | {_f(low['p95'])} | {_f(p['label_agreement'] * 100, '{:.2f}')} % | "
            f"{_f(p['max_probability_difference'], '{:.3f}')} |\n\n"
            f"{p['frames']} frames of `{p['data']}` for agreement; speed on one {p['frame']} frame, "
            f"{p['threads']} thread, both interleaved (load average {_f(p['load_average'])}): "
            f"{p['precision']} is {_f(p['speedup_p50'], '{:.2f}')}× f32 at p50.\n")


def render_layers(files: str) -> str:
    """Per layer kind, where one inference's time goes (scripts/profile_layers.py), graphs side by side."""
    runs = [load(f"docs/measured/{name}.json") for name in _files(files)]
    kinds = sorted({k for r in runs for k in r["by_kind_ms"]}, key=lambda k: -max(r["by_kind_ms"].get(k, 0) for r in runs))
    head = ["layer kind (OpenVINO exec type)"] + [f"`{Path(r['graph']).parent.name}/{Path(r['graph']).name}` ms" for r in runs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([k] + [_f(r["by_kind_ms"].get(k), "{:.3f}") for r in runs]) + " |" for k in kinds]
    lines.append("| **counted / wall p50** | " + " | ".join(f"**{_f(r['counted_ms'])} / {_f(r['wall_p50_ms'])}**"
                                                          for r in runs) + " |")
    r = runs[0]
    return ("\n".join(lines) + f"\n\n`python scripts/profile_layers.py GRAPH --precision {r['precision']} --threads "
            f"{r['threads']}`: {r['runs']} runs on {r['cpu']}, OpenVINO's per-node counters, load average "
            + ", ".join(_f(x["load_average_1min"]) for x in runs) + ".\n")


def render_graph_cut(file: str) -> str:
    """The old graph (softmax + resize inside) against the cut graph, side by side (scripts/time_graph_cut.py)."""
    g = load(f"docs/measured/{file}.json")
    lines = ["| graph | precision | preprocess p50 ms | infer p50 ms | postprocess p50 ms | total p50 ms | total p95 ms "
             "| CPU time p50 ms |", "|---|---|---|---|---|---|---|---|"]
    for name, m in g["models"].items():
        graph, prec = name.split()
        lines.append(f"| {'softmax + resize inside (before)' if graph == 'old' else 'logits at stride 8 (now)'} | "
                     f"{prec} | {_f(m['preprocess']['p50'])} | {_f(m['infer']['p50'])} | {_f(m['postprocess']['p50'])} | "
                     f"**{_f(m['total']['p50'])}** | {_f(m['total']['p95'])} | {_f(m['total_cpu']['p50'])} |")
    return ("\n".join(lines) + f"\n\n`{g['command']}`: one {g['frame']} frame of the sample clip → labels, "
            f"{g['backend']}, {g['threads']} thread, engine.upsample {g['upsample']}, {g['runs']} runs, the graphs "
            f"interleaved; load average {_f(g['load_average_1min'])} on {g['cpus']} cores"
            f"{' (a loaded machine: compare the rows, not the absolute figures)' if g['load_average_1min'] > 0.5 * g['cpus'] else ''}"
            f". Labels equal on {_f(g['labels_equal_old_new_f32'] * 100, '{:.2f}')} % "
            f"of the frame; the new graph is {_f(g['speedup_total_p50_f32'], '{:.2f}')}× the old at p50 "
            f"({_f(g['speedup_total_cpu_p50_f32'], '{:.2f}')}× in CPU time). CPU capabilities (OpenVINO): "
            f"{', '.join(g['cpu_capabilities'])}."
            + (f" int8 (`model_int8.onnx`): labels equal to f32's on {_f(g['labels_equal_new_int8_f32'] * 100, '{:.2f}')} % "
               f"of the frame, inference {_f(g['speedup_infer_p50_int8'], '{:.2f}')}× f32's at p50."
               if "labels_equal_new_int8_f32" in g else "") + "\n" + _graph_cut_accuracy())


def _graph_cut_accuracy() -> str:
    """Same weights through both graphs: the re-export's label check (stage 3b's model.yml, kept in
    reexport_stage3b.json when v7 was shipped) and held-out eval before/after."""
    r = load("docs/measured/reexport_stage3b.json")["labels_vs_previous_export"]
    b, a = load("docs/measured/eval_s21_before_cut.json"), load("docs/measured/eval_s21_after_cut.json")
    ece = lambda e: e["calibration"]["ece"]["after"]["overall"] * 100
    return (f"\nSame weights (`scripts/reexport_model.py`): labels equal to the previous export on "
            f"**{_f(r['agreement'] * 100, '{:.2f}')} %** of the pixels of {r['images']} frames (`{r.get('data_command', r['data'])}`), "
            f"worst frame {_f(r['worst_image'] * 100, '{:.2f}')} %. Held out ({a['num_images']} frames of "
            f"`synth --images 300 --seed 21 --instrument-masks`, `eval --split all --upsample bilinear`, OpenVINO f32): "
            f"mIoU {_f(b['mean']['iou'] * 100, '{:.2f}')} before → **{_f(a['mean']['iou'] * 100, '{:.2f}')}** after "
            f"({(a['mean']['iou'] - b['mean']['iou']):+.5f}), Dice {_f(b['mean']['dice'] * 100, '{:.2f}')} → "
            f"{_f(a['mean']['dice'] * 100, '{:.2f}')}, AUC {b['mean']['auc']:.4f} → {a['mean']['auc']:.4f}, "
            f"ECE after the card's temperature {_f(ece(b), '{:.2f}')} % → {_f(ece(a), '{:.2f}')} % (the softmax now "
            f"comes after the resize).\n")


def render_replay(file: str, others: str = "") -> str:
    """One replay bench run: throughput, engine-only, baseline and the stage means; with `others` (more runs
    of the same command), the range over all of them, since the run shown is one of several."""
    s = load(f"docs/measured/{file}.json")
    runs = [s] + [load(f"docs/measured/{o}.json") for o in others.split(",") if o]
    spread = ""
    if len(runs) > 1:
        fps = [r["fps"] for r in runs]
        ratios = [r["speedup_vs_openvino_loop"] for r in runs if r.get("speedup_vs_openvino_loop")]
        reads = [r["source_cpu_ms_per_frame"] for r in runs if r.get("source_cpu_ms_per_frame")]
        spread = (f" Over {len(runs)} runs of this command: {_f(min(fps))}–{_f(max(fps))} fps"
                  + (f", {_f(min(ratios), '{:.2f}')}–{_f(max(ratios), '{:.2f}')}× the naive OpenVINO loop" if ratios else "")
                  + (f", source reads {_f(min(reads), '{:.2f}')}–{_f(max(reads), '{:.2f}')} ms of CPU a frame"
                     if len(reads) == len(runs) else "")
                  + ("; the run shown is the slowest." if s["fps"] == min(fps) else "."))
    st = s["stages_ms"]
    base = s.get("baseline", {}).get("fps")
    naive = s.get("baseline_openvino") or {}
    return (f"`{s.get('command', 'surgical-seg bench')}`: **{_f(s['fps'])} fps** over {s['frames_out']} frames "
            f"({s['frames_in']} in, {s['dropped']} dropped), engine alone {_f(s['engine_only_fps'])} fps "
            f"(overhead ratio {_f(s['overhead_ratio'], '{:.2f}')})"
            + (f", the naive cv2 + Paddle Inference loop {_f(base)} fps → **{_f(s['speedup_vs_baseline'], '{:.1f}')}× faster**"
               if base else "")
            + (f", the naive sequential OpenVINO loop on the same ONNX (`{Path(naive.get('model_file', 'model.onnx')).name}`, "
               f"its defaults: {naive.get('precision')}, "
               f"{naive.get('threads')} threads) {_f(naive['fps'])} fps → **{_f(s['speedup_vs_openvino_loop'], '{:.2f}')}×**"
               if naive.get("fps") else "")
            + (f"; precision {s['precision']} ({s['precision_why']})" if s.get("precision_why") else "")
            + (f"; load average {_f(s['load_average_1min'])}" if s.get("load_average_1min") is not None else "")
            + (f"; the source's reads took {_f(s['source_cpu_ms_per_frame'], '{:.2f}')} ms of CPU a frame (the machine's "
               f"speed in this run)" if s.get("source_cpu_ms_per_frame") else "")
            + ". Stage means (ms): " + ", ".join(f"{k} {_f(v['mean'])}" for k, v in st.items()) + "." + spread + "\n")


def render_readers(file: str) -> str:
    """The reader study's table and its paired tests, taken from the report `surgical-seg readers` wrote."""
    lines = Path(file).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Rater"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    tests = [line for line in lines if line.startswith("- model − ")]
    kappa = [line for line in lines if line.startswith("Fleiss' kappa")]
    return "\n".join(table + [""] + tests + [""] + [k.split(" Pairwise")[0] for k in kappa]) + "\n"


def render_stages(files: str, stages: str = "postprocess,composite") -> str:
    """Runs side by side: fps and the p50 of chosen stages (e.g. what an overlay option costs)."""
    names = stages.split(",")
    lines = ["| run | overlay.confidence | fps | " + " | ".join(f"{n} p50 ms" for n in names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    for name in _files(files):
        s = load(f"docs/measured/{name}.json")
        conf = next((c.split("=", 1)[1] for c in s.get("command", "").split() if c.startswith("overlay.confidence=")), "–")
        lines.append(f"| {name} | {conf} | {_f(s['fps'])} | "
                     + " | ".join(_f(s["stages_ms"][n]["p50"], "{:.2f}") for n in names) + " |")
    return "\n".join(lines) + "\n"


def _spread(values: list[float]) -> str:
    """min / median / max of a list, or – when empty."""
    if not values:
        return "–"
    v = sorted(values)
    return f"{v[0]:.0f} / {v[len(v) // 2]:.0f} / {v[-1]:.0f}"


def render_soak(file: str) -> str:
    """`surgical-seg soak`: faults by kind (detection, recovery), then RSS, UI stalls and the overlay audit."""
    r = load(file)
    lines = ["| fault | times | detected ms (min / median / max) | detected as | FROZEN after last frame ms "
             "| recovered ms (min / median / max) | from |", "|---|---|---|---|---|---|---|"]
    kinds: dict[str, list[dict]] = {}
    for o in r["occurrences"]:
        kinds.setdefault(o["kind"], []).append(o)
    for kind, occ in kinds.items():
        fired = [o for o in occ if o.get("fired", True)]
        seen = sorted({o["detected_as"].split(" (")[0].split(": ")[0] for o in fired if o["detected_as"]})
        missed = sum(o["detected_ms"] is None for o in fired)
        lines.append(f"| {kind} | {len(fired)}{f' ({missed} not detected)' if missed else ''} "
                     f"| {_spread([o['detected_ms'] for o in fired if o['detected_ms'] is not None])} "
                     f"| {', '.join(seen) or '–'} "
                     f"| {_spread([o['frozen_after_last_frame_ms'] for o in fired if o.get('frozen_after_last_frame_ms') is not None])} "
                     f"| {_spread([o['recovered_ms'] for o in fired if o['recovered_ms'] is not None])} "
                     f"| {fired[0].get('recovered_from', 'stream back') if fired else '–'} |")
    rss, ui = r["rss_mb"], r["ui"]
    late = sum(v for k, v in ui["stall_histogram_ms"].items() if k in ("<100", "<inf"))
    stall = (r.get("longest_stalls") or [{}])[0]
    where = f" (UI thread in `{stall['ui'][-1]}`{_stall_split(stall)})" if stall.get("ui") else ""
    load_avg = r.get("machine_load")
    return "\n".join(lines) + "\n\n" + (
        f"`{r.get('command', 'surgical-seg soak')}`: {r['duration_s'] / 60:.1f} min of {r['source']}, "
        f"{r['backend']}, model {r['model']}, load average at the end {_f(load_avg[0]) if load_avg else '–'}{_steal(r)}. "
        f"{_rss_reference(rss)} (**{_f(rss['growth'], '{:+.1f}')} MB**{_rss_extra(r)}). Longest UI-thread stall **{_f(ui['max_stall_after_5s_ms'])} ms** "
        f"after the first 5 s{where}; {late} of {ui['ticks']} heartbeats were 50 ms or more late. "
        f"Overlays painted on a frozen frame: **{r['overlay_on_frozen_frame']}** of {r['overlay_paints']}. "
        f"Threads left stuck: {sum(v or 0 for v in r['leaked_threads'].values())}; "
        f"FROZEN outside the drops (load): {r['freezes_outside_drops']}.\n")


def _steal(r: dict[str, Any]) -> str:
    """CPU time the hypervisor took from this VM during the soak, where the soak recorded it."""
    steal = r.get("cpu_steal_s")
    return "" if steal is None else f", CPU steal {steal:.1f} s"


def _stall_split(stall: dict[str, Any]) -> str:
    """How the UI thread spent the heartbeat interval of a stall, where the soak recorded it."""
    t = stall.get("ui_thread")
    if not t:
        return ""
    steal = t.get("vm_steal_ms")
    return (f"; over that interval it ran {t['on_cpu_ms']:.1f} ms and waited {t['runnable_waiting_ms']:.1f} ms "
            "for a CPU" + ("" if steal is None else f", and the hypervisor took {steal:.0f} ms of CPU time"))


def _rss_reference(rss: dict[str, Any]) -> str:
    """RSS after warm-up and at the end, as the soak measured them: medians of a minute (window_s), or,
    in older files, single samples at 1 minute and at the end."""
    ref, end = _f(rss["after_warmup"], "{:.0f}"), _f(rss["end"], "{:.0f}")
    if "window_s" not in rss:
        return f"RSS {ref} MB after the first minute, {end} MB at the end"
    w = rss["window_s"]
    return f"RSS (medians of 5 s samples) {ref} MB over {w:g}–{2 * w:g} s, {end} MB over the last {w:g} s"


def _rss_extra(r: dict[str, Any]) -> str:
    """Highest RSS after the first minute and the heap setting, where the soak recorded them."""
    top, kib = r["rss_mb"].get("max_after_warmup"), r.get("heap_mmap_kib")
    parts = ([f"highest {top:.0f} MB"] if top is not None else []) + (
        [f"blocks of {kib} KiB or more mmapped"] if kib else [])
    return "; " + ", ".join(parts) if parts else ""


def render_kill9(file: str) -> str:
    """scripts/kill9_recording.py: what survives SIGKILL mid-recording."""
    k = load(file)
    res = [x for x in k["results"] if "csv_rows" in x]
    rows = [x["csv_rows"] for x in res]
    return (f"`{k.get('command', 'scripts/kill9_recording.py')}`: **{k['passed']}/{k['runs']} runs** left both videos "
            f"decodable and the CSV whole (torn last lines: {sum(x['torn_lines'] for x in res)}). Killed after "
            f"{min(x['killed_after_s'] for x in res):.1f}–{max(x['killed_after_s'] for x in res):.1f} s with "
            f"{min(rows)}–{max(rows)} CSV rows; the videos held those rows minus "
            f"{min(x['lost_frames'] for x in res)}–{k['lost_frames_max']} frames (mean "
            f"{_f(k['lost_frames_mean'])}; bound 30)."
            + (f" `labels.bin` held a whole record for every CSV row in {sum(x['mask_records'] >= x['csv_rows'] for x in res)}"
               f" of {len(res)} runs, and `compose` made the overlay video from what was left in "
               f"{sum(x['composed_frames'] > 0 for x in res)}." if res and "mask_records" in res[0] else "") + "\n")


def render_confidence_cost(file: str) -> str:
    """scripts/time_confidence.py: what the confidence map and its drawing cost per frame."""
    c = load(file)
    t1, tt = c["map_ms"]["1"], c["map_ms"][f"{c['temperature']:g}"]
    a = c["annotate_cpu_ms"]
    w, h = c["map_size"]
    fw, fh = c["frame_size"]
    return (f"`{c['command']}` (load average {_f(c['load_average'])}): the confidence map ({w}×{h}) costs "
            f"**p50 {_f(tt['cpu_p50'], '{:.2f}')} ms, p95 {_f(tt['cpu_p95'], '{:.2f}')} ms** of thread CPU per frame "
            f"at T = {c['temperature']:g} ({_f(t1['cpu_p50'], '{:.2f}')} / {_f(t1['cpu_p95'], '{:.2f}')} ms at T = 1). "
            f"Drawing costs more than computing: the whole {fw}×{fh} composite takes {_f(a['off']['p50'])} ms "
            f"(thread CPU p50) plain, {_f(a['fade']['p50'])} ms with `fade`, {_f(a['hatch']['p50'])} ms with `hatch`.\n")


def render_training(files: str) -> str:
    """Training stages side by side (update_docs.py --record-run): what each ran and its validation curve."""
    lines = ["| stage | input | iterations (total) | wall min (total) | validation mIoU (model resolution) "
             "| validation instrument pixels labelled | command |",
             "|---|---|---|---|---|---|---|"]
    for name in _files(files):
        r = load(name)
        curve = r["val_miou"]
        pick = curve if len(curve) <= 6 else [curve[i * (len(curve) - 1) // 5] for i in range(6)]
        shown = ", ".join(f"{m:.3f} @{i}" for i, m in pick) or f"best {r['best']['miou']:.3f} @{r['best']['iter']}"
        tools = ", ".join(f"{100 * v:.2f} % @{i}" for i, v in r.get("val_instruments", [])) or "–"
        lines.append(f"| {name} | {r['input'].replace('x', '×')} | {r['iterations']} | {_f(r['train_minutes'])} "
                     f"| {shown} | {tools} | `{r['command']}` |")
    return "\n".join(lines) + "\n"


def render_video(files: str, labels: str = "", targets: str = "") -> str:
    """`eval --video --json` runs (one per model) on the held-out video suite: one row per model and clip;
    `labels="a,b"` names the models; `targets=miou:80,frame:75,spurious:0.5` (percent) adds, per model,
    which targets every clip meets."""
    runs = [load(name) for name in _files(files)]
    names = labels.split(",") if labels else [r["model"] for r in runs]
    fg = runs[0]["classes"][1:]
    lines = ["| model | clip | size | fps | frames | mIoU, classes present | " + " | ".join(f"{c} IoU" for c in fg)
             + " | mean per-frame mIoU | worst frame | spurious share |",
             "|---" * (9 + len(fg)) + "|"]
    for name, r in zip(names, runs):
        for c in r["clips"]:
            per = [_f(None if c["per_class"][k] is None or k not in c["present"] else 100 * c["per_class"][k])
                   for k in fg]
            worst = c["worst"][0]["miou"] * 100 if c["worst"] else None
            lines.append(f"| {name} | `{c['clip'].rsplit('.', 1)[0]}` | {c['size'][0]}×{c['size'][1]} | {c['fps']:g} | "
                         f"{c['frames']} | **{_f(100 * c['miou'])}** | " + " | ".join(per)
                         + f" | **{_f(100 * c['frame_miou'])}** | {_f(worst)} | {_f(100 * c['spurious_share'], '{:.2f}')} % |")
    r0 = runs[0]
    lines += ["", f"Scored by `surgical-seg eval --video` with the app's engine settings (smoothing {r0['smoothing']:g}, "
              f"{r0['upsample']} upsampling, {r0['backend']} {' / '.join(dict.fromkeys(r['precision'] for r in runs))}"
              + (f", regions under {100 * r0['min_region']:g} % of the frame given to the class around them"
                 if r0.get("min_region") else "") + "); IoU in %; a class absent from the "
              "clip's truth is left out of its mIoU (`–`) and counted in the spurious share."]
    if targets:
        t = {k: float(v) for k, v in (x.split(":") for x in targets.split(","))}
        for name, r in zip(names, runs):
            parts = []
            for key, word, get, better in (
                    ("miou", "mIoU over classes present", lambda c: 100 * c["miou"], "min"),
                    ("frame", "mean per-frame mIoU", lambda c: 100 * c["frame_miou"], "min"),
                    ("spurious", "spurious share", lambda c: 100 * c["spurious_share"], "max")):
                if key not in t:
                    continue
                vals = [get(c) for c in r["clips"]]
                worst = min(vals) if better == "min" else max(vals)
                ok = worst >= t[key] if better == "min" else worst <= t[key]
                sign = "≥" if better == "min" else "≤"
                unit = " %" if key == "spurious" else ""
                short = sum(1 for v in vals if (v < t[key] if better == "min" else v > t[key]))
                parts.append(f"{word} {sign} {t[key]:g}{unit}: {'worst' if better == 'min' else 'highest'} "
                             f"{worst:.{2 if key == 'spurious' else 1}f}{unit}, "
                             + ("**met**" if ok else f"**not met** ({short} of {len(vals)} clips)"))
            lines += ["", f"Targets, {name}, every clip: " + "; ".join(parts) + "."]
    return "\n".join(lines) + "\n"


def render_latency(file: str) -> str:
    """`python -m surgical_seg.apps.measure --json`: segment() of one frame per architecture, input and backend."""
    m = load(file)
    lines = ["| architecture | input | backend | preprocess p50 ms | infer p50 ms | postprocess p50 ms | total p50 ms | total p95 ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in m["rows"]:
        lines.append(f"| {r['arch']} | {r['input'].replace('x', '×')} | {r['backend']} | {_f(r['preprocess_p50'])} | "
                     f"{_f(r['infer_p50'])} | {_f(r['postprocess_p50'])} | **{_f(r['total_p50'])}** | {_f(r['total_p95'])} |")
    return ("\n".join(lines) + f"\n\n`{m['command']}`: one {m['frame']} frame, {m['threads']} thread(s), {m['runs']} runs "
            f"each, random weights (speed does not depend on them), load average {_f(m['load_average'])}.\n")


# the screen's done-when (issue 21), judged on the worst run of each kind: (source fps, recording) -> targets
# 1080p60 while recording is the brief's ("painting at the source's rate ... while recording"), with the
# 1080p60 targets and a recording that keeps every frame
SCREEN_TARGETS = {(30, True): {"painted_over_source": 0.98, "own_share": 0.95, "age_p95": 40.0, "off": 3},
                  (60, False): {"painted_fps": 58.0, "own_share": 0.90, "age_p95": 50.0},
                  (60, True): {"painted_fps": 58.0, "own_share": 0.90, "age_p95": 50.0, "rec_dropped": 0}}


def render_screen(files: str) -> str:
    """`view --stats` runs side by side: what the screen got, painting included (summary.json "screen"),
    and one line per kind of run with a target (SCREEN_TARGETS): its worst run against it."""
    head = ("run", "source fps", "recording", "load avg (1 min)", "painted fps (× source)", "own %",
            "warped / latest / off (of which out of body)", "overlay age p50 / p95 ms", "overlay off (frames)",
            "infer / postprocess / composite / display p50 ms", "recorded / dropped frames (cadence)",
            "CPU in cores: total (the 3 busiest threads)", "source read CPU ms / frame (machine speed)")
    from surgical_seg.viewer.screen import source_cpu_ms_per_frame
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    screens = []
    for name in _files(files):
        s = load(name)
        sc, p50 = s["screen"], s["screen"]["stages_p50_ms"]
        decode_ms = sc.get("source_cpu_ms_per_frame") or source_cpu_ms_per_frame(sc.get("thread_cpu") or {},
                                                                                 sc["source_fps"])
        screens.append({**sc, "rec": s.get("recorder")})
        src = sc["mask_source"]
        lines.append("| " + " | ".join([
            Path(name).stem, _f(sc["source_fps"], "{:g}"), "yes" if sc["recording"] else "no",
            _f(sc["load_avg_1min"]), f"{_f(sc['painted_fps'])} ({_f(sc['painted_over_source'], '{:.3f}')})",
            _f(100 * sc["own_share"], "{:.0f}"), f"{src.get('warped', 0)} / {src.get('latest', 0)} / {src.get('off', 0)} ({sc.get('out_of_body', '–')})",
            f"{_f(sc['overlay_age_ms']['p50'])} / **{_f(sc['overlay_age_ms']['p95'])}**", str(sc["overlay_off_frames"]),
            " / ".join(_f(p50.get(k), "{:.2f}") for k in ("infer", "postprocess", "composite", "display")),
            _recorded(s.get("recorder")),
            _thread_cpu(sc.get("thread_cpu")), _f(decode_ms, "{:.2f}")]) + " |")
    verdicts = screen_verdicts(screens)
    return "\n".join(lines + ([""] + verdicts if verdicts else [])) + "\n"


def _recorded(rec: dict | None) -> str:
    """written / dropped, and the cadence the recorder fell back to (every Nth frame) when it did."""
    if not rec:
        return "–"
    from surgical_seg.viewer.recorder import ordinal
    every = rec.get("every", 1)
    return f"{rec['written']} / {rec['dropped']}" + (f" (every {ordinal(every)})" if every > 1 else "")


def _thread_cpu(cores: dict | None) -> str:
    if not cores:
        return "–"
    busiest = sorted(((v, k) for k, v in cores.items() if k != "total"), reverse=True)[:3]   # --record sorts keys
    top = [f"{name} {v:.2f}" for v, name in busiest]
    return f"{cores['total']:.2f} ({', '.join(top)})"


def screen_verdicts(screens: list[dict]) -> list[str]:
    """One sentence per kind of run in SCREEN_TARGETS that was measured: the worst run, each target met or not."""
    out = []
    for (fps, recording), t in SCREEN_TARGETS.items():
        runs = [sc for sc in screens if round(sc["source_fps"] or 0) == fps and sc["recording"] == recording]
        if not runs:
            continue
        checks = []
        for key, bound in t.items():
            if key == "age_p95":
                worst = max(sc["overlay_age_ms"]["p95"] for sc in runs)
                ok, text = worst <= bound, "overlay age p95 ≤ {b:g} ms: {w:.1f}"
            elif key == "off":
                worst = max(sc["overlay_off_frames"] for sc in runs)
                ok, text = worst <= bound, "overlay off ≤ {b:g} frames: {w:g}"
            elif key == "rec_dropped":
                worst = max((sc.get("rec") or {}).get("dropped", 0) for sc in runs)
                ok, text = worst <= bound, "recorder drops ≤ {b:g} frames: {w:g}"
            elif key == "own_share":
                worst = min(sc["own_share"] for sc in runs)
                ok, text = worst >= bound, "own masks ≥ {b:.0%}: {w:.1%}"
            else:
                worst = min(sc[key] or 0.0 for sc in runs)
                ok = worst >= bound
                text = ("painted ≥ {b:g} × source fps: {w:.3f}" if key == "painted_over_source"
                        else "painted ≥ {b:g} fps: {w:.1f}")
            checks.append(text.format(b=bound, w=worst) + (" **met**" if ok else " **not met**"))
        kind = f"{fps} fps{' while recording' if recording else ''}"
        out.append(f"Targets, {kind} (worst of {len(runs)} runs): " + "; ".join(checks) + ".")
    return out


def render_privacy(file: str, before: str = "") -> str:
    """scripts/privacy_check.py: the privacy gate's done-when figures (+ `before`: gate-eval --fill-frame
    of the gate before its training frames included frame-filling views)."""
    m = load(f"docs/measured/{file}.json")
    lines = ["| clip | frames out of body | AUC | out-of-body recall after hysteresis | in-body blanked (away from transitions) "
             "| visible in raw.mp4 / overlay.mp4 | snapshots allowed | predict images / tasks |",
             "|---|---|---|---|---|---|---|---|"]
    filled = [c for c in m["eval"]["clips"] if c.get("fill_frame")]
    for c in m["eval"]["clips"]:
        if c.get("fill_frame"):
            continue
        name = Path(c["video"]).name
        r = m["clips"][name]
        rec, pr = r["recording"], r["predict"]
        lines.append(f"| {name} | {c['out_frames']} of {c['frames']} | {c['auc']:.4f} | "
                     f"{c['out_recall_after_hysteresis'] * 100:.1f} % | {c['in_body_blanked_away_from_transitions'] * 100:.2f} % "
                     f"of {c['in_body_frames_counted']} | **{rec['raw.mp4']['out_of_body_visible']} / "
                     f"{rec['overlay.mp4']['out_of_body_visible']}** of {rec['raw.mp4']['out_of_body_frames']} | "
                     f"{rec['snapshots_of_out_of_body_frames_allowed']} | {pr['out_of_body_images']} / {pr['out_of_body_tasks']} |")
    cpu, f = m["cpu_1080p"], m["faults"]
    tags = sorted({t for c in m["clips"].values() for k in ("raw.mp4", "overlay.mp4") for t in c["recording"][k]["tags"]})
    if filled:                          # gate-eval --fill-frame: towers whose scope image fills the frame
        lines += [f"| {Path(c['video']).name}, filling the frame | {c['out_frames']} of {c['frames']} | {c['auc']:.4f} | "
                  f"{c['out_recall_after_hysteresis'] * 100:.1f} % | {c['in_body_blanked_away_from_transitions'] * 100:.2f} % "
                  f"of {c['in_body_frames_counted']} | – | – | – |" for c in filled]
    text = ("\n".join(lines) + f"\n\nHeld-out photographs (never generated by the project): {', '.join(m['photos'])}. "
            f"Gate cost at {cpu['size']}: **{cpu['thread_cpu_ms_per_frame']:.2f} ms** thread CPU per frame "
            f"({cpu['score_ms']:.2f} scoring + {cpu['submit_ms']:.2f} hand-over). Fault injection: classifier raises, "
            f"{f['raises']['blanked']} of {f['raises']['frames']} frames blanked (HUD: {f['raises']['hud']}); hangs, "
            f"{f['hangs']['blanked']} of {f['hangs']['frames']} blanked (HUD: {f['hangs']['hud']}). "
            f"Recording tags left: {', '.join(tags) or 'none'} (no creation_time, no encoder).")
    d = m.get("full_disk")
    if d:
        text += (f" Full disk ({d['tmpfs']}, 6 MB tmpfs): HUD \"REC FAILED — {d['failed']}\" "
                 f"{'in red' if d['hud_red'] else 'NOT red'}, {d['decodable_raw_frames']} frames decodable, painted "
                 f"{_f(d['painted_fps_before'])} fps before the failure and {_f(d['painted_fps_after'])} after.")
    if before:
        b = [c for c in load(f"docs/measured/{before}.json")["clips"] if c.get("fill_frame")]
        text += (" Before the gate's training frames included frame-filling views, it blanked "
                 + " and ".join(f"{c['in_body_blanked_away_from_transitions'] * 100:.0f} %" for c in b)
                 + " of those in-body frames (AUC " + ", ".join(f"{c['auc']:.2f}" for c in b)
                 + f"; `gate-eval --fill-frame`, docs/measured/{before}.json).")
    return text + f" Load average {_f(m['load_average'])} → {_f(m['load_average_end'])} (2 shared cores).\n"


RENDERERS: dict[str, Callable[..., str]] = {
    "privacy": render_privacy,
    "screen": render_screen,
    "latency": render_latency,
    "video": render_video,
    "training": render_training,
    "confidence_cost": render_confidence_cost,
    "soak": render_soak,
    "kill9": render_kill9,
    "stages": render_stages,
    "readers": render_readers,
    "heldout": render_heldout,
    "selection": render_selection,
    "precision": render_precision,
    "layers": render_layers,
    "graph_cut": render_graph_cut,
    "replay": render_replay,
    "overlay": render_overlay,
    "upsample": render_upsample,
    "min_region": render_min_region,
    "lag": render_lag,
    "commands": render_commands,
    "eval": render_eval,
}


# ------------------------------------------------------------------ README
def rewrite(text: str, only: set[str] | None = None) -> tuple[str, list[str]]:
    """Every marked block re-rendered; returns (new text, kinds rewritten)."""
    done: list[str] = []

    def sub(m: re.Match) -> str:
        kind = m.group("kind")
        if only and kind not in only:
            return m.group(0)
        if kind not in RENDERERS:
            raise SystemExit(f"update_docs: no renderer for block figures:{kind} (known: {', '.join(RENDERERS)})")
        kwargs = dict(kv.split("=", 1) for kv in shlex.split(m.group("args")))
        done.append(kind)
        return m.group(1) + RENDERERS[kind](**kwargs) + m.group(5)

    return BLOCK.sub(sub, text), done


# ------------------------------------------------------------------ model card
def card_speed_entry(s: dict[str, Any]) -> dict[str, Any]:
    """One bench run as the card's speed entry; the overlay age is the headline."""
    import os
    import platform
    m = s.get("machine") or {"processor": platform.machine(), "cpus": os.cpu_count()}   # the run's, where recorded
    entry = {"machine": f"{m['processor']}, {m['cpus']} CPU cores", "source": s["source"],
             "mode": s["mode"], "fps": round(s["fps"], 1),
             "overlay_age_ms_p50": _round(s.get("overlay_age_ms", {}).get("p50")),
             "overlay_age_ms_p95": _round(s.get("overlay_age_ms", {}).get("p95")),
             "video_latency_ms_p95": _round(s.get("video_latency_ms", s.get("latency_ms", {})).get("p95")),
             "infer_ms_p50": _round(s["stages_ms"]["infer"]["p50"], 2),
             "engine_only_fps": _round(s.get("engine_only_fps"))}
    if s.get("source_cpu_ms_per_frame"):          # the machine's speed in that run (apps/bench.py)
        entry["source_read_cpu_ms_per_frame"] = _round(s["source_cpu_ms_per_frame"], 2)
    if s.get("mask_source"):
        entry["mask_source"] = dict(s["mask_source"])
    if s.get("accuracy"):
        a = s["accuracy"]
        entry["displayed_miou"] = _round(a["displayed"]["miou"], 4)
        entry["offline_miou"] = _round(a["offline"]["miou"], 4)
    return entry


def _round(v: Any, n: int = 1) -> Any:
    return None if v is None else round(float(v), n)


def update_card(model_dir: str, eval_json: str | None, benches: list[str], note: str | None) -> Path:
    from surgical_seg.modelcard import ModelCard
    card = ModelCard.load(model_dir)
    metrics, speed = dict(card.metrics), dict(card.speed)
    if eval_json:
        e = load(eval_json)
        metrics = {"data": e.get("data"), "split": e.get("split"), "num_images": e["num_images"],
                   "pixel_accuracy": round(e["pixel_accuracy"], 4),
                   "mean": {k: round(v, 4) for k, v in e["mean"].items()},
                   "per_class": {c: {k: round(v, 4) for k, v in m.items()} for c, m in e["per_class"].items()}}
    for path in benches:
        s = load(path)
        speed[f"{s['backend']}_{s['mode']}"] = card_speed_entry(s)
    training = {**card.training, "note": note} if note else card.training
    return dataclasses.replace(card, metrics=metrics, speed=speed, training=training).save(model_dir)


# ------------------------------------------------------------------ command
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--page", action="append",
                   help="rewrite only this Markdown file (repeat; default README.md and docs/*.md)")
    p.add_argument("--only", action="append", help="rewrite only blocks of this kind (repeat)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 when a block is out of date")
    p.add_argument("--record", nargs=2, metavar=("NAME", "SUMMARY_JSON"),
                   help="copy a bench summary.json (minus per-frame data) to docs/measured/NAME.json")
    p.add_argument("--record-run", nargs=2, metavar=("NAME", "RUN_DIR_OR_MODEL_YML"),
                   help="copy a training run's facts and validation curve to docs/measured/NAME.json")
    p.add_argument("--card", help="model folder whose model.yml gets metrics/speed")
    p.add_argument("--eval", help="with --card: JSON written by surgical-seg eval --json")
    p.add_argument("--bench", action="append", default=[], help="with --card: bench summary (path or measured name)")
    p.add_argument("--note", help="with --card: a sentence for the card's training section")
    a = p.parse_args(argv)
    if a.record:
        print(f"wrote {record(*a.record)}")
        return 0
    if a.record_run:
        print(f"wrote {record_run(*a.record_run)}")
        return 0
    if a.card:
        print(f"updated {update_card(a.card, a.eval, a.bench, a.note)}")
        return 0
    pages = [Path(x) for x in a.page] if a.page else doc_pages()
    stale = []
    for page in pages:
        old = page.read_text()
        new, done = rewrite(old, set(a.only) if a.only else None)
        if a.check:
            if new != old:
                stale.append(page)
            continue
        if new != old:
            page.write_text(new)
        print(f"{page.relative_to(ROOT) if page.is_relative_to(ROOT) else page}: rewrote {len(done)} block(s): "
              f"{', '.join(done) or 'none'}")
    if a.check:
        for page in stale:
            print(f"{page}: figure blocks out of date; run scripts/update_docs.py", file=sys.stderr)
        if not stale:
            print(f"{len(pages)} page(s): every figure block up to date")
        return 1 if stale else 0
    return 0


def doc_pages() -> list[Path]:
    """Every page whose figures this script writes: README.md and docs/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


if __name__ == "__main__":
    sys.exit(main())
