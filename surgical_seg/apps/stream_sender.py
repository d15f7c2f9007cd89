"""A local live stream for soaks and tests: synthetic endoscope video, H.264 in MPEG-TS over UDP.

    python -m surgical_seg.apps.stream_sender udp://127.0.0.1:5600 --size 1280x720 --fps 30 \
        --seconds 300 --faults drop=5s@60s/60s

It renders a short loop of the synthetic scene once, then encodes and sends one frame per frame
interval (x264 ultrafast/zerolatency, a keyframe a second and right after every drop, so a receiver
recovers in well under a second). `drop` faults stop sending entirely, as a cable pulled at the tower
would. Each drop's start and end are printed as JSON lines with perf_counter_ns (CLOCK_MONOTONIC on
Linux, the same clock in every process), so the soak times detection and recovery from them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction

import av
import cv2
import numpy as np

LOOP_FRAMES = 90


def render_loop(size: tuple[int, int], fps: float, n: int = LOOP_FRAMES) -> list[np.ndarray]:
    """n I420 frames: one synthetic scene frame panned smoothly there and back (cheap to make on a
    busy machine; moving, so the decoder and the model see new pictures)."""
    from ..config import SourceConfig
    from ..sources.synthetic import SyntheticSource
    src = SyntheticSource(f"synthetic:{size[0]}x{size[1]}@0", SourceConfig())
    base, _ = src._read()
    src.close()
    frames = []
    for i in range(n):
        shift = round(40 * np.sin(2 * np.pi * i / n))
        frames.append(cv2.cvtColor(np.roll(base, (shift, 2 * shift), axis=(0, 1)), cv2.COLOR_BGR2YUV_I420))
    return frames


def send(url: str, size: tuple[int, int], fps: float, seconds: float, drops: list[tuple[float, float]],
         out=sys.stdout) -> int:
    """Stream until `seconds` have passed; `drops` = [(start_s, length_s)]. Returns frames sent."""
    frames = render_loop(size, fps)
    container = av.open(url, "w", format="mpegts")
    stream = container.add_stream("libx264", rate=Fraction(round(fps * 1000), 1000))
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(round(fps))}
    print(json.dumps({"event": "started", "t_ns": time.perf_counter_ns()}), file=out, flush=True)
    t0 = time.perf_counter()
    sent, i, key_next, last_pts = 0, 0, False, -1
    pending = sorted(drops)
    try:
        while (now := time.perf_counter() - t0) < seconds:
            if pending and now >= pending[0][0]:
                start, length = pending.pop(0)
                print(json.dumps({"event": "drop_start", "t_ns": time.perf_counter_ns(), "at_s": start,
                                  "length_s": length}), file=out, flush=True)
                time.sleep(max(0.0, start + length - (time.perf_counter() - t0)))
                print(json.dumps({"event": "drop_end", "t_ns": time.perf_counter_ns(), "at_s": start}),
                      file=out, flush=True)
                key_next = True
                continue
            frame = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="yuv420p")
            frame.pts = last_pts = max(round(now * fps), last_pts + 1)    # wall-clock pts: a drop is a gap
            if key_next:
                frame.pict_type = av.video.frame.PictureType.I
                key_next = False
            for packet in stream.encode(frame):
                container.mux(packet)
            sent += 1
            i += 1
            delay = t0 + sent / fps - time.perf_counter()
            if pending:
                delay = min(delay, t0 + pending[0][0] - time.perf_counter())
            if delay > 0:
                time.sleep(delay)
    finally:
        container.close()
    return sent


def main(argv: list[str] | None = None) -> int:
    from ..realtime.faults import parse_faults
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--faults", default="", help="only drop=... items are used here")
    a = p.parse_args(argv)
    w, h = (int(v) for v in a.size.lower().split("x"))
    drops = []
    if a.faults:
        for f in parse_faults(a.faults):
            if f.kind == "drop":
                drops += [(t, f.value_s) for t in f.times(a.seconds)]
    n = send(a.url, (w, h), a.fps, a.seconds, drops)
    print(json.dumps({"event": "finished", "t_ns": time.perf_counter_ns(), "frames": n}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["send", "render_loop", "main"]
