"""Sources: real clips encoded with PyAV, real folders, a real HTTP server; events instead of exceptions."""
from __future__ import annotations

import functools
import http.server
import re
import threading

import cv2
import numpy as np
import pytest

from fixtures_media import CLIP_FRAMES, read_index
from surgical_seg.config import SourceConfig
from surgical_seg.errors import SourceError
from surgical_seg.sources import (FolderSource, OpenCVFileSource, PyAVFileSource, PyAVStreamSource,
                                  SyntheticSource, open_source)


def run(src, timeout=20.0, stop_when=None):
    """Start `src`, collect packets and events until it stops by itself (or stop_when(frames, events))."""
    frames, events, done = [], [], threading.Event()

    def on_event(e):
        events.append(e)
        if e.kind == "stopped":
            done.set()

    def on_frame(p):
        frames.append(p)
        if stop_when is not None and stop_when(frames, events):
            done.set()

    src.start(on_frame, on_event)
    assert done.wait(timeout), f"source did not finish within {timeout} s; events: {[str(e) for e in events]}"
    assert src.stop(5.0), "source thread did not end"
    return frames, events


def kinds(events):
    return [e.kind for e in events]


def check_stream(frames, shape, arrival_stamped=False):
    """arrival_stamped: a network stream stamps capture when the packet arrives, inside the read span."""
    assert frames, "no frames"
    for i, p in enumerate(frames):
        assert p.index == i
        assert p.frame.dtype == np.uint8 and p.frame.shape == shape and p.frame.flags["C_CONTIGUOUS"]
        assert "capture" in p.spans and p.spans["capture"][0] <= p.spans["capture"][1]
        assert p.t_capture_ns < p.spans["capture"][1] if arrival_stamped else p.spans["capture"][1] <= p.t_capture_ns
    t = [p.t_capture_ns for p in frames]
    assert all(b > a for a, b in zip(t, t[1:])), "capture times must increase"
    pts = [p.pts_s for p in frames]
    assert all(b > a for a, b in zip(pts, pts[1:])), "pts must increase"


def test_file_delivers_every_frame_in_order_as_bgr(clip_path):
    src = open_source(str(clip_path))
    assert isinstance(src, PyAVFileSource) and src.size == (320, 240) and src.fps == pytest.approx(30)
    assert src.frame_count == CLIP_FRAMES
    frames, events = run(src)
    assert len(frames) == CLIP_FRAMES
    check_stream(frames, (240, 320, 3))
    assert frames[1].pts_s == pytest.approx(1 / 30, abs=1e-3)
    for p in frames:                      # identity survives lossy H.264
        assert read_index(p.frame) == p.index
    # colour order: the clip's background red channel is 160, blue is a gradient
    assert abs(float(frames[0].frame[120:, 200:, 2].mean()) - 160) < 4
    assert kinds(events) == ["opened", "end", "stopped"]


@pytest.mark.parametrize("fixture, shape, n", [("odd_clip_path", (239, 321, 3), 24),
                                                ("tenbit_clip_path", (240, 320, 3), 12),
                                                ("interlaced_clip_path", (240, 320, 3), 12)])
def test_odd_size_10bit_and_interlaced_clips(request, fixture, shape, n):
    frames, events = run(open_source(str(request.getfixturevalue(fixture))))
    assert len(frames) == n
    check_stream(frames, shape)
    for p in frames:
        assert read_index(p.frame) == p.index
    assert "error" not in kinds(events)


def test_rotation_metadata_is_applied(rotated_clip_path):
    frames, _ = run(open_source(str(rotated_clip_path)))
    assert len(frames) == 6
    f = frames[2].frame
    assert f.shape == (320, 240, 3)               # portrait after a 90° rotation
    # 90° counter-clockwise: turning it back clockwise restores the coded picture
    assert read_index(cv2.rotate(f, cv2.ROTATE_90_CLOCKWISE)) == 2
    assert abs(float(f[-40:-8, 8:40].mean()) - (40 + 12 * 2)) < 5      # lo block now bottom-left
    assert abs(float(f[8:40, 8:40].mean()) - (40 + 12 * 2)) > 20


def test_truncated_file_gives_frames_before_the_break_and_says_where(truncated_clip_path):
    frames, events = run(open_source(str(truncated_clip_path)))
    n = len(frames)
    assert 0 < n < CLIP_FRAMES
    check_stream(frames, (240, 320, 3))
    for p in frames:
        assert read_index(p.frame) == p.index
    errors = [e for e in events if e.kind == "error"]
    assert len(errors) == 1 and kinds(events)[-1] == "stopped"
    m = re.match(r"truncated at frame (\d+) / t=(\d+\.\d\d)s: ", errors[0].message)
    assert m, errors[0].message
    assert int(m.group(1)) == n and errors[0].frame_index == n
    assert float(m.group(2)) == pytest.approx(n / 30, abs=0.02)


@pytest.mark.parametrize("make_spec, words", [
    (lambda d: str(d["zero_byte_path"]), "empty file (0 bytes)"),
    (lambda d: str(d["text_mp4_path"]), "cannot open"),
    (lambda d: str(d["headless_truncated_path"]), "cannot open"),
    (lambda d: str(d["empty_folder"]), "no images"),
    (lambda d: str(d["media_dir"] / "missing.mp4"), "no such file"),
    (lambda d: "ftp://example.org/x.mp4", "unsupported URL scheme 'ftp'"),
    (lambda d: "synthetic:12", "synthetic source must look like"),
    (lambda d: "97", "camera 97: cannot open"),
    (lambda d: "", "empty source"),
])
def test_bad_inputs_raise_source_error_with_one_line(request, make_spec, words):
    names = ("zero_byte_path", "text_mp4_path", "headless_truncated_path", "empty_folder", "media_dir")
    spec = make_spec({n: request.getfixturevalue(n) for n in names})
    with pytest.raises(SourceError) as info:
        open_source(spec)
    msg = str(info.value)
    assert words in msg and "\n" not in msg
    if spec and "://" not in spec and not spec.isdigit() and not spec.startswith("synthetic"):
        assert spec in msg, "the message names the file"


def test_folder_plays_images_in_natural_order(image_folder):
    src = open_source(str(image_folder))
    assert isinstance(src, FolderSource) and src.frame_count == 10 and src.size == (320, 240)
    frames, events = run(src)
    assert len(frames) == 10
    check_stream(frames, (240, 320, 3))
    assert [read_index(p.frame) for p in frames] == list(range(10))   # f_2 before f_10
    assert kinds(events) == ["opened", "end", "stopped"]


def test_realtime_paces_at_native_fps_and_max_frames_stops(clip_path):
    frames, events = run(open_source(str(clip_path), SourceConfig(realtime=True), max_frames=16))
    assert len(frames) == 16
    spent_s = (frames[-1].t_capture_ns - frames[0].t_capture_ns) / 1e9
    assert spent_s >= 15 / 30 * 0.95           # cannot be faster than the clip's own clock
    assert events[-2].kind == "end" and "16 frames" in events[-2].message


def test_loop_restarts_a_file(clip_path):
    frames, _ = run(open_source(str(clip_path), SourceConfig(loop=True), max_frames=CLIP_FRAMES + 8))
    assert [p.index for p in frames] == list(range(CLIP_FRAMES + 8))
    assert read_index(frames[CLIP_FRAMES + 3].frame) == 3


def test_opencv_file_source(clip_path):
    src = open_source(f"opencv:{clip_path}")
    assert isinstance(src, OpenCVFileSource) and not src.live
    frames, events = run(src)
    assert len(frames) == CLIP_FRAMES
    check_stream(frames, (240, 320, 3))
    assert read_index(frames[10].frame) == 10


def test_synthetic_source_is_paced_and_reports_signal_lost_then_reconnects():
    cfg = SourceConfig(read_timeout_s=0.2, retry_backoff_s=(0.1, 0.2))
    src = open_source("synthetic:96x64@40;dropout=5+0.8", cfg, max_frames=12)
    assert isinstance(src, SyntheticSource) and src.live and src.size == (96, 64)
    frames, events = run(src)
    assert len(frames) == 12
    check_stream(frames, (64, 96, 3))
    k = kinds(events)
    assert k[0] == "opened" and k[-2:] == ["end", "stopped"]
    lost = k.index("signal_lost")
    assert events[lost].frame_index == 5 and "signal lost at frame 5" in events[lost].message
    assert "retrying" in k[lost:] and "reconnected" in k[lost:]
    assert k.index("reconnected") > lost
    gap_s = (frames[5].t_capture_ns - frames[4].t_capture_ns) / 1e9
    assert gap_s >= 0.8 * 0.95                 # no frames while the "cable" was out


def test_stop_ends_an_endless_live_source_promptly():
    src = open_source("synthetic:64x48@30")
    frames, events = run(src, stop_when=lambda f, e: len(f) >= 3)
    assert len(frames) >= 3 and not src.running
    assert kinds(events)[-1] == "stopped" and "signal_lost" not in kinds(events)


@pytest.fixture
def http_server(clip_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clip_path.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()
    t.join(5)


def test_http_stream_plays_then_reports_signal_lost_and_retries(http_server, clip_path):
    url = f"http://127.0.0.1:{http_server.server_address[1]}/{clip_path.name}"
    cfg = SourceConfig(open_timeout_s=3.0, read_timeout_s=1.0, retry_backoff_s=(0.1,))
    src = open_source(url, cfg)
    assert isinstance(src, PyAVStreamSource) and src.live
    # a stream that ends is a lost signal: it reconnects and plays again from the server
    frames, events = run(src, timeout=30, stop_when=lambda f, e: len(f) >= CLIP_FRAMES + 5)
    check_stream(frames[:CLIP_FRAMES], (240, 320, 3), arrival_stamped=True)
    assert read_index(frames[CLIP_FRAMES + 2].frame) == 2
    k = kinds(events)
    assert k[:1] == ["opened"] and "signal_lost" in k and "reconnected" in k and k[-1] == "stopped"
    assert [p.index for p in frames] == list(range(len(frames)))


def test_unreachable_stream_fails_at_open(http_server):
    port = http_server.server_address[1]
    with pytest.raises(SourceError, match="cannot open"):
        open_source(f"http://127.0.0.1:{port}/missing.mp4", SourceConfig(open_timeout_s=2.0))



@pytest.mark.parametrize("threads, thread_type, count", [(1, "NONE", 1), (0, "AUTO", None), (2, "AUTO", 2)])
def test_decode_threads_setting_reaches_the_decoder_and_frames_stay_the_same(clip_path, threads, thread_type, count):
    """source.decode_threads 1 (the default): one decoder thread, the cheapest in CPU on 2 cores."""
    src = open_source(str(clip_path), SourceConfig(decode_threads=threads))
    src._open()
    try:
        assert src._stream.thread_type.name == thread_type
        if count is not None:
            assert src._stream.codec_context.thread_count == count
    finally:
        src._close()
    frames, _ = run(open_source(str(clip_path), SourceConfig(decode_threads=threads)))
    assert [read_index(p.frame) for p in frames] == list(range(CLIP_FRAMES))


def test_config_refuses_negative_decode_threads(tmp_path):
    from surgical_seg.config import load_app_config
    from surgical_seg.errors import ConfigError
    bad = tmp_path / "app.yml"
    bad.write_text("source:\n  decode_threads: -1\n")
    with pytest.raises(ConfigError, match=r"app.yml: source.decode_threads must be >= 0"):
        load_app_config(str(bad))
