"""The recording's label stream and `compose`: the overlay video made afterwards equals the one burnt in live."""
from __future__ import annotations

import subprocess
import sys

import av
import numpy as np
import pytest

from surgical_seg.errors import ConfigError
from surgical_seg.packet import FramePacket, Segmentation
from surgical_seg.realtime.overlay import MaskAnnotator
from surgical_seg.viewer.compose import compose
from surgical_seg.viewer.maskstream import LABELS_NAME, overlay_mode, read_labels
from surgical_seg.viewer.recorder import Recorder, decodable_times

NAMES = ("background", "bone", "ligament", "disc")
COLORS = ((0, 0, 0), (250, 220, 50), (60, 220, 60), (40, 150, 255))
T0 = 5_000_000_000


def annotator() -> MaskAnnotator:
    return MaskAnnotator(COLORS, opacity=0.5, class_names=NAMES)


def packets(n: int = 12, size=(320, 180)):
    """Frames with a moving disc-labelled square, on a small label map (as the live viewer's are);
    every fourth frame has no overlay (late or off)."""
    w, h = size
    rng = np.random.default_rng(1)
    base = rng.integers(60, 120, (h, w, 3), dtype=np.uint8)
    out = []
    for i in range(n):
        small = np.zeros((h // 4, w // 4), np.uint8)
        small[5:20, 2 + i:20 + i] = 3
        seg = None if i % 4 == 3 else Segmentation(small, NAMES, COLORS, frame_index=i)
        out.append(FramePacket(i, base.copy(), T0 + i * 33_000_000, segmentation=seg))
    return out


def record(tmp_path, mode: str, name: str):
    ann = annotator()
    rec = Recorder(tmp_path / name, fps=30, overlay=mode, annotator=ann).start()
    for p in packets():
        assert rec.submit(p, lambda p=p: ann.annotate(p.frame, p.segmentation) if p.segmentation else p.frame)
    assert rec.stop(timeout=60) and rec.error is None
    return rec


def frames(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24").astype(np.int16) for f in c.decode(video=0)]


def test_composed_overlay_matches_the_live_one_frame_for_frame(tmp_path):
    live = record(tmp_path, "live", "live")
    later = record(tmp_path, "later", "later")
    assert later.overlay == "later" and not later.paths[1].exists()
    assert "compose" in later.status()
    out, n = compose(later.out_dir, progress=False)
    assert out == later.paths[1] and n == 12
    assert decodable_times(out) == decodable_times(later.paths[0])          # capture times kept
    a, b = frames(live.paths[1]), frames(out)
    assert len(a) == len(b) == 12
    for i, (x, y) in enumerate(zip(a, b)):                  # two encode generations apart: a few levels
        assert np.abs(x - y).mean() < 2.5, i
    raw = frames(later.paths[0])
    tinted = (slice(25, 75), slice(12, 70))                 # inside the disc square on the frame's scale
    assert np.abs(b[0][tinted] - raw[0][tinted]).mean() > 20        # drawn where the mask says
    assert np.abs(b[3][tinted] - raw[3][tinted]).mean() < 3         # no overlay on frame 3: untouched


def test_label_stream_keeps_every_frame_and_a_torn_end_is_dropped(tmp_path):
    rec = record(tmp_path, "later", "rec")
    path = rec.out_dir / LABELS_NAME
    got = list(read_labels(path))
    assert [r[0] for r in got] == list(range(12))
    assert [r[1] for r in got] == [i * 33 for i in range(12)]
    assert got[3][2] is None and got[0][2].shape == (45, 80) and (got[0][2] == 3).sum() == 15 * 18
    data = path.read_bytes()
    path.write_bytes(data[:-7])                              # a crash mid-record
    assert [r[0] for r in read_labels(path)] == list(range(11))
    out, n = compose(rec.out_dir, tmp_path / "cut.mp4", progress=False)
    assert n == 11 and len(decodable_times(out)) == 11      # stops at the shorter of video and masks


def test_overlay_mode_auto_keeps_live_burn_in_up_to_720p30():
    assert overlay_mode("auto", 1280, 720, 30) == "live"
    assert overlay_mode("auto", 1920, 1080, 60) == "later"
    assert overlay_mode("auto", 1920, 1080, 30) == "later"
    assert overlay_mode("live", 3840, 2160, 60) == "live"
    with pytest.raises(ConfigError, match="recorder.overlay"):
        Recorder("unused", overlay="sometimes")


def test_compose_cli_refuses_to_overwrite_and_names_a_bad_folder(tmp_path):
    rec = record(tmp_path, "later", "rec")
    cmd = [sys.executable, "-m", "surgical_seg", "compose", "--quiet"]
    ok = subprocess.run(cmd + [str(rec.out_dir)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "12 frames" in ok.stdout
    before = rec.paths[1].read_bytes()
    again = subprocess.run(cmd + [str(rec.out_dir)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    assert rec.paths[1].read_bytes() == before
    bad = subprocess.run(cmd + [str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "raw.mp4 missing" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_a_frame_the_privacy_gate_blanked_leaves_no_mask_in_the_stream(tmp_path):
    from surgical_seg.realtime.privacy import Decision, blanked
    ps = packets(4)
    ps[1] = blanked(ps[1], Decision(1, 33.0, True, 0.97, "classifier"))
    rec = Recorder(tmp_path / "rec", fps=30, overlay="later", annotator=annotator()).start()
    for p in ps:
        assert rec.submit(p)
    assert rec.stop(timeout=60) and rec.error is None
    masks = [m for _, _, m in read_labels(rec.out_dir / LABELS_NAME)]
    assert masks[0] is not None and masks[1] is None and masks[2] is not None


def test_compose_after_a_crash_stops_at_the_last_whole_frame_of_raw_mp4(tmp_path):
    rec = record(tmp_path, "later", "rec")
    raw = rec.paths[0]
    whole = len(decodable_times(raw))
    raw.write_bytes(raw.read_bytes()[: raw.stat().st_size * 2 // 3])     # kill -9 mid-fragment
    left = len(decodable_times(raw))
    assert 0 < left < whole
    out, n = compose(rec.out_dir, progress=False)
    assert n == left and len(decodable_times(out)) == left
