"""viewer/screen.py: the screen's figures count painted frames only; update_docs renders them."""
from __future__ import annotations

import json
import sys
import threading
import time

import pytest

from fixtures_scripts import load_script
from surgical_seg.realtime.stats import FrameRow
from surgical_seg.viewer.screen import screen_figures

MS = 1_000_000


def row(i, source, mask_lag_frames=0, painted=True):
    t = i * 33 * MS
    r = FrameRow(i, t, mask_source=source)
    r.spans["composite"] = (t + 5 * MS, t + 6 * MS)
    r.spans["infer"] = (t + 1 * MS, t + 4 * MS)
    if painted:
        r.spans["display"] = (t + 10 * MS, t + 12 * MS)
    if source != "off":
        r.mask_t_capture_ns = t - mask_lag_frames * 33 * MS
    return r


def test_figures_count_painted_frames_and_overlay_off_after_the_first_mask():
    gate_start = [row(i, "off") for i in (96, 97)]          # painted, held out of the body by the privacy gate
    for r in gate_start:
        r.overlay_off_reason = "out of body (gate starting)"
    rows = gate_start + ([row(0, "off"), row(1, "off")] + [row(i, "own") for i in range(2, 92)]
            + [row(92, "latest", 1), row(93, "off"), row(94, "own", painted=False),
               row(95, "latest", 6)])
    s = screen_figures(rows, 30.0, stale_ms=150.0, recording=True)
    assert s["painted"] == 97 and s["mask_source"] == {"own": 90, "warped": 0, "latest": 2, "off": 5}
    assert s["out_of_body"] == 2 and s["own_share"] == pytest.approx(90 / 95)   # out-of-body frames left out
    assert s["overlay_off_frames"] == 2                 # frame 93 (off) and 95 (older than stale_ms at paint)
    assert s["painted_fps"] == pytest.approx(30.0, rel=0.05) and s["painted_over_source"] == pytest.approx(1.0, rel=0.05)
    assert s["overlay_age_ms"]["p50"] == pytest.approx(12.0) and s["overlay_age_ms"]["max"] == pytest.approx(210.0)
    assert s["stages_p50_ms"]["display"] == pytest.approx(2.0) and s["stages_p50_ms"]["infer"] == pytest.approx(3.0)
    assert s["recording"] is True


def test_update_docs_renders_the_screen_block(tmp_path):
    ud = load_script("update_docs")
    s = screen_figures([row(i, "own") for i in range(60)], 30.0, 150.0)
    s["load_avg_1min"] = 0.4
    (tmp_path / "screen_a.json").write_text(json.dumps({"screen": s}))
    table = ud.render_screen(files=str(tmp_path / "screen_a.json"))
    assert table.splitlines()[0].startswith("| run | source fps | recording |")
    assert "| screen_a | 30 | no | 0.4 |" in table and "/ **12.0** |" in table and "| 100 |" in table
    assert table.splitlines()[0].endswith("| source read CPU ms / frame (machine speed) |")
    assert table.splitlines()[2].endswith("| – |")          # a run without thread CPU figures


def test_source_cpu_per_frame_is_the_read_threads_cpu_at_the_source_rate():
    from surgical_seg.viewer.screen import source_cpu_ms_per_frame
    cpu = {"total": 1.5, "source-file-read-call": 0.42, "inference-call": 0.55, "source-file": 0.01}
    assert source_cpu_ms_per_frame(cpu, 60.0) == 7.0            # 0.42 cores / 60 frames a second
    assert source_cpu_ms_per_frame(cpu, None) is None
    assert source_cpu_ms_per_frame({"total": 0.3, "MainThread": 0.3}, 30.0) is None   # not measured (not Linux)


def test_screen_verdict_judges_the_worst_run_of_each_kind(tmp_path):
    ud = load_script("update_docs")
    good = screen_figures([row(i, "own") for i in range(60)], 30.0, 150.0, recording=True)
    bad = dict(good, own_share=0.9)                       # one run of three misses the own-mask target
    lines = ud.screen_verdicts([good, bad, good])
    assert len(lines) == 1 and lines[0].startswith("Targets, 30 fps while recording (worst of 3 runs)")
    assert "own masks ≥ 95%: 90.0% **not met**" in lines[0] and "overlay age p95 ≤ 40 ms: 12.0 **met**" in lines[0]
    assert ud.screen_verdicts([dict(good, recording=False)]) == []      # no target for 30 fps without recording


def test_screen_verdict_at_1080p60_while_recording_counts_the_recorders_drops():
    ud = load_script("update_docs")
    run = screen_figures([row(i, "own") for i in range(120)], 60.0, 150.0, recording=True)
    kept = dict(run, rec={"written": 120, "dropped": 0})
    lossy = dict(run, rec={"written": 100, "dropped": 20})
    (line,) = ud.screen_verdicts([kept, lossy])
    assert line.startswith("Targets, 60 fps while recording (worst of 2 runs)")
    assert "recorder drops ≤ 0 frames: 20 **not met**" in line
    assert "recorder drops ≤ 0 frames: 0 **met**" in ud.screen_verdicts([kept])[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_thread_cpu_names_the_thread_that_spent_it_and_keeps_it_after_the_thread_ended():
    from surgical_seg.viewer.screen import ThreadCPU
    cpu = ThreadCPU()
    assert cpu.cores() == {}
    cpu.start()

    done = threading.Event()

    def spin():
        while not done.is_set():
            pass

    t = threading.Thread(target=spin, name="busy-worker")
    t.start()
    time.sleep(0.3)
    cpu.stop()                                   # while it runs: an ended thread leaves /proc
    done.set()
    t.join()
    got = cpu.cores()
    assert got["busy-worker"] > 0 and got["total"] >= got["busy-worker"]
    assert list(got)[:1] == ["total"] and cpu.cores() is got       # frozen at stop()
