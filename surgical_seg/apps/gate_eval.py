"""`surgical-seg gate-eval`: how well the privacy gate separates in-body from out-of-body frames.

Per clip with truth (`VIDEO.oob.csv`, from `synth --out-of-body` or a held-out clip over real
photographs; with `fill` also as a tower whose scope image fills the frame, `fill_frame`): every
frame scored by the gate's classifier and rules, decided like the live gate (fail closed, hysteresis,
writer-delay look-ahead: surgical_seg.realtime.privacy.decide_offline). Reports ROC AUC of the frame score (classifier p(out), 1 where a rule fired), recall on out-of-body
frames after the decision, and in-body frames blanked counted away from transitions (not within 15
frames before leaving the body or 30 after returning), plus the scorer's thread CPU per frame.
A dataset folder instead of a clip: its labelled frames (DATASET/gate/, import-labelstudio's body
choice), each scored alone.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from ..data import theatre

BEFORE_LEAVING, AFTER_RETURNING = 15, 30


def away_from_transitions(truth: np.ndarray) -> np.ndarray:
    """In-body frames not within 15 frames before leaving or 30 after returning (the clip's start counts
    as a return: the gate starts out of the body and waits in_body_ms, fail closed)."""
    keep = truth == 0
    keep[:AFTER_RETURNING] = False
    for i in np.flatnonzero(np.diff(truth.astype(int)) != 0):
        if truth[i] == 0:                       # i is the last in-body frame before leaving
            keep[max(0, i + 1 - BEFORE_LEAVING):i + 1] = False
        else:                                   # i + 1 is the first in-body frame after returning
            keep[i + 1:i + 1 + AFTER_RETURNING] = False
    return keep


FILL_SHARE = 0.45      # of each side, centred: inside every synthetic scope circle (radius >= 0.46 of the height)


def fill_frame(bgr: np.ndarray, share: float = FILL_SHARE) -> np.ndarray:
    """The picture a tower shows when the scope image fills the frame (no dark ring): the centre
    `share` of each side, scaled back to the frame's size."""
    h, w = bgr.shape[:2]
    ch, cw = int(h * share), int(w * share)
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(bgr[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def evaluate_clip(video: str | Path, scorer, cfg_privacy, fps: float | None = None, fill: bool = False) -> dict:
    import av
    from ..realtime.privacy import decide_offline
    from ..training.oob_gate import roc_auc
    truth = theatre.read_truth(theatre.truth_path(video))
    items, raw, cpu = [], [], 0
    with av.open(str(video)) as c:
        rate = fps or float(c.streams.video[0].average_rate or 30)
        for i, frame in enumerate(c.decode(video=0)):
            bgr = frame.to_ndarray(format="bgr24")
            if fill:
                bgr = fill_frame(bgr)
            t0 = time.thread_time_ns()
            p, rule = scorer.score(bgr)
            cpu += time.thread_time_ns() - t0
            items.append((i, i * 1000.0 / rate, p, rule, None))
            raw.append(1.0 if rule else p)
    n = min(len(truth), len(items))
    truth, raw = truth[:n], np.array(raw[:n])
    decisions = decide_offline(items[:n], cfg_privacy.threshold, cfg_privacy.in_body_ms, cfg_privacy.writer_delay_ms)
    out = np.array([d.out for d in decisions], bool)
    away = away_from_transitions(truth)
    return {"video": str(video), "fill_frame": fill, "frames": n, "out_frames": int(truth.sum()),
            "auc": round(roc_auc(raw, truth), 5),
            "out_recall_after_hysteresis": round(float(out[truth == 1].mean()), 5) if truth.any() else None,
            "out_frames_passed": int((~out[truth == 1]).sum()),
            "in_body_blanked_away_from_transitions": round(float(out[away].mean()), 5) if away.any() else None,
            "in_body_frames_counted": int(away.sum()),
            "score_cpu_ms_per_frame": round(cpu / n / 1e6, 3)}


def evaluate_frames(folder: str | Path, scorer, cfg_privacy) -> dict:
    """A dataset's labelled frames (FOLDER/gate/in_body, out_of_body: import-labelstudio's body choice), each
    alone: AUC, out-of-body frames passed and in-body frames blanked by the classifier and rules
    (no hysteresis: the frames are not a sequence)."""
    from ..training.oob_gate import gate_frames, roc_auc
    thumbs, truth, _ = gate_frames([folder])       # the gate scores a 64x64 thumbnail of a frame as the frame
    scores = [scorer.score(t) for t in thumbs]
    raw = np.array([1.0 if rule else p for p, rule in scores])
    out = np.array([bool(rule) or p >= cfg_privacy.threshold for p, rule in scores])
    return {"video": str(folder), "kind": "frames", "frames": len(truth), "out_frames": int(truth.sum()),
            "auc": round(roc_auc(raw, truth), 5), "out_frames_passed": int((~out[truth == 1]).sum()),
            "in_body_blanked": round(float(out[truth == 0].mean()), 5) if (truth == 0).any() else None,
            "in_body_frames_counted": int((truth == 0).sum())}


def run_gate_eval(videos: list[str], model: str | None = None, out: str | Path | None = None,
                  fill: bool = False) -> dict:
    from ..config import load_app_config
    from ..engine.oob import load_scorer
    cfg = load_app_config()
    scorer = load_scorer(model or cfg.privacy.model, runtime=cfg.privacy.runtime)
    clips = [evaluate_frames(v, scorer, cfg.privacy) if Path(v).is_dir() else evaluate_clip(v, scorer, cfg.privacy)
             for v in videos]
    if fill:                                    # the same clips on a tower whose picture fills the frame
        clips += [evaluate_clip(v, scorer, cfg.privacy, fill=True) for v in videos if not Path(v).is_dir()]
    total_out = sum(c["out_frames"] for c in clips)
    summary = {"model": str(scorer.folder), "clips": clips,
               "out_frames": total_out, "out_frames_passed": sum(c["out_frames_passed"] for c in clips),
               "worst_in_body_blanked": max((c.get("in_body_blanked_away_from_transitions", c.get("in_body_blanked"))
                                             or 0) for c in clips),
               "min_auc": min(c["auc"] for c in clips)}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(summary, indent=1))
    return summary


__all__ = ["run_gate_eval", "evaluate_clip", "evaluate_frames", "away_from_transitions"]
