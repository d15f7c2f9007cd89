"""PyAV sources: files of any codec/container FFmpeg reads, and network streams.

Frames are converted once, here, to BGR by one `VideoReformatter` per open source (10-bit and odd sizes
included); rotation from the display matrix is applied; interlaced frames go through FFmpeg's yadif.
"""
from __future__ import annotations

import time
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import SourceError
from .base import Source, _reason, check_not_empty_file

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "rtp", "udp", "tcp", "srt", "http", "https")
# cv2.rotate code for a counter-clockwise display rotation in degrees (VideoFrame.rotation)
_ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, -90: cv2.ROTATE_90_CLOCKWISE, 270: cv2.ROTATE_90_CLOCKWISE,
           180: cv2.ROTATE_180, -180: cv2.ROTATE_180}
# swscale threads for the YUV -> BGR conversion. `frame.to_ndarray(format=...)` builds a new scaler per
# frame, whose automatic thread pool is started and torn down each time: measured here, 2.1-5.3 ms per
# 720p frame and 60 short-lived threads a second, against 0.8 ms for one kept scaler on 1 thread.
CONVERT_THREADS = 1


def url_scheme(spec: str) -> str | None:
    head, sep, _ = spec.partition("://")
    return head.lower() if sep and head.isascii() and head.replace("+", "").isalnum() else None


class _Deinterlacer:
    """yadif (one output per input frame), built on the first interlaced frame."""

    def __init__(self, stream) -> None:
        self.graph = av.filter.Graph()
        src = self.graph.add_buffer(template=stream)
        yadif = self.graph.add("yadif", "mode=send_frame:parity=auto:deint=interlaced")
        sink = self.graph.add("buffersink")
        src.link_to(yadif)
        yadif.link_to(sink)
        self.graph.configure()

    def push(self, frame) -> list:
        self.graph.push(frame)
        out = []
        while True:
            try:
                out.append(self.graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out


class _PyAVBase(Source):
    """Demux + decode one video stream; yields BGR frames with their pts in seconds."""

    # FFmpeg frame threading ("AUTO") is fastest but holds back a frame per decoder thread:
    # right for files, wrong for a live stream, where slice threading adds no delay.
    decode_threads = "AUTO"

    def _container_options(self) -> dict:
        return {}

    def _av_open(self):
        return av.open(self.spec, mode="r", options=self._container_options())

    def _open(self) -> None:
        try:
            self._container = self._av_open()
        except av.error.FFmpegError as e:
            raise SourceError(f"{self.spec}: cannot open ({_reason(e)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"{self.spec}: no video stream in this file")
        stream = self._container.streams.video[0]
        threads = getattr(self.cfg, "decode_threads", 0)
        stream.thread_type = "NONE" if threads == 1 else self.decode_threads
        if threads:
            stream.codec_context.thread_count = threads
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate else None
        self.frame_count = stream.frames or None
        self.size = (stream.codec_context.width, stream.codec_context.height)
        self._frames = self._decode()
        self._deint: _Deinterlacer | None = None
        self._pending: list = []
        self._to_bgr = VideoReformatter()

    def _decode(self):
        for packet in self._container.demux(self._stream):
            self._t_packet_ns = time.perf_counter_ns()    # the data arrived: before decoding it
            for frame in packet.decode():
                yield frame
        # demux ends with an empty flush packet, so the decoder's delayed frames come out above

    def _read(self):
        while not self._pending:
            frame = next(self._frames, None)
            if frame is None:
                if self._deint is not None:
                    self._pending.extend(self._deint.push(None))
                    self._deint = None
                    if self._pending:
                        break
                return None
            if frame.interlaced_frame:
                if self._deint is None:
                    self._deint = _Deinterlacer(self._stream)
                self._pending.extend(self._deint.push(frame))
            else:
                self._pending.append(frame)
        frame = self._pending.pop(0)
        bgr = self._to_bgr.reformat(frame, format="bgr24", threads=CONVERT_THREADS).to_ndarray()
        rot = round(frame.rotation or 0)
        if rot in _ROTATE:
            bgr = cv2.rotate(bgr, _ROTATE[rot])
        bgr = np.ascontiguousarray(bgr)
        self.size = (bgr.shape[1], bgr.shape[0])
        pts = float(frame.time) if frame.time is not None else None
        # the recorder encodes this picture as decoded (at 1080p60, ~2 ms a frame of BGR -> I420 saved)
        yuv = frame if frame.format.name == "yuv420p" and rot not in _ROTATE else None
        # a stream's capture time is its packet's arrival, not decode's end
        return bgr, pts, getattr(self, "_t_packet_ns", None) if self.live else None, yuv

    def _close(self) -> None:
        c = getattr(self, "_container", None)
        if c is not None:
            self._frames = iter(())
            c.close()
            self._container = None


class PyAVFileSource(_PyAVBase):
    """A video file: paced at its native fps when realtime, else as fast as it decodes."""

    kind = "file"
    live = False

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return url_scheme(spec) is None and not Path(spec).is_dir()

    def _open(self) -> None:
        check_not_empty_file(self.spec)
        if Path(self.spec).is_dir():
            raise SourceError(f"{self.spec}: is a folder, not a video file")
        super()._open()

    def _container_options(self) -> dict:
        return {}


class PyAVStreamSource(_PyAVBase):
    """RTSP/UDP/HTTP/... with open and read timeouts; silence becomes "signal lost" and a retry."""

    kind = "stream"
    live = True
    decode_threads = "SLICE"

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return url_scheme(spec) is not None

    def _av_open(self):
        # (fflags=nobuffer would cut latency on TS/RTSP but makes MP4 over HTTP deliver nothing)
        opts = {"rtsp_transport": "tcp"} if url_scheme(self.spec) in ("rtsp", "rtsps") else {}
        if url_scheme(self.spec) in ("udp", "rtp", "srt"):
            # MPEG-TS over a datagram link: FFmpeg's default probe (5 MB / 5 s) would hold the first frame
            # (and every reconnect) for seconds; one keyframe with its SPS/PPS is all the decoder needs
            opts.update({"probesize": "500000", "analyzeduration": "1000000"})
        return av.open(self.spec, mode="r", container_options=opts,
                       timeout=(self.cfg.open_timeout_s, self.cfg.read_timeout_s))

    def _open(self) -> None:
        scheme = url_scheme(self.spec)
        if scheme not in STREAM_SCHEMES:
            raise SourceError(f"{self.spec}: unsupported URL scheme {scheme!r} "
                              f"(supported: {', '.join(STREAM_SCHEMES)})")
        super()._open()
        self.frame_count = None


__all__ = ["PyAVFileSource", "PyAVStreamSource", "STREAM_SCHEMES", "url_scheme"]
