"""The live/replay pipeline, wired in one place (`Pipeline._compose`).

Public API (stable; the viewer codes against it)
------------------------------------------------
    pipe = Pipeline(source, segmenter, annotator, mode="live", stale_ms=150.0, align_ms=25.0, warp=True,
                    stats=StatsRecorder(), sinks=[recorder.submit], on_event=callback)
    pipe.start()                      # threads: source, inference, compositor
    pipe.latest() -> FramePacket | None   # newest composited packet; never blocks (call it on a QTimer).
                                      # packet.composited is the picture; after painting it, mark
                                      # "display" and call stats.add(packet) again (spans merge)
    pipe.latest_index -> int          # its frame index (-1 before the first): tell new from repeat
    Pipeline(..., on_output=wake)     # wake(packet) is called (compositor thread) with each new latest():
                                      # the viewer paints it at once instead of up to one poll interval later
    pipe.events() -> list[Event]      # drain source + pipeline events (never blocks)
    Pipeline(..., burn_in=False)      # the viewer: packet.composited stays None where a mask is drawn
                                      # (it paints packet.layer; burns in only what it records)
    Pipeline(..., privacy=gate)       # surgical_seg.realtime.privacy: every sink gets packets through the gate
                                      # (decided, blanked when out of the body, writer_delay_ms late); no
                                      # segmentation while the gate says out of the body
    pipe.set_annotator(annotator | None, layer=None)  # restyle from the UI thread; None = overlay off by
                                      # the user; layer(seg) -> packet.layer, the viewer's paint layer,
                                      # built here on the compositor thread so the UI thread only paints
    pipe.counts() -> Counts           # frames_in, inferred, dropped, frames_out, model_errors
    pipe.finished -> bool             # the source ended and every frame was handled
    pipe.wait(timeout) -> bool        # block until finished (bench, tests)
    pipe.stop(timeout=5.0) -> bool    # stop every thread; True when all ended
    open_pipeline(spec, cfg, model=None, backend=None, mode=None, ...) -> Pipeline  # from configs/app.yml

Modes (an argument, because it changes the pipeline's shape):
  live   source → LatestSlot → inference (older frames counted as dropped); raw frames go through a
         FrameQueue to the compositor, every frame in order. Each waits for its own mask up to align_ms
         after capture, else gets the newest mask warped to it by optical flow (warp=True) or as is
         (surgical_seg.realtime.align; packet.mask_source = own | warped | latest | off). A mask older than
         stale_ms (its frame's capture → now) is not drawn: overlay_off_reason "stale (N ms)".
  replay every frame in order through small blocking queues: nothing dropped, deterministic.

An exception in the segmenter never stops the video: that frame (and every frame until the model
works again) gets overlay_off_reason "model error: ...", and an Event says so once.
With `watchdog=StallBounds(...)` (open_pipeline sets it from the `watchdog:` section) the model runs
behind surgical_seg.watchdog: a call past stall_s turns the overlay off as "model stalled (N ms)" while
it runs; past abandon_s it is abandoned and `segmenter_factory()` gives a new inference session.
Sinks and `on_event` are called on worker threads: they must be quick and must not touch widgets.
"""
from __future__ import annotations

import collections
import dataclasses
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Protocol, TypeVar

from .align import Aligner, MaskHistory
from ..packet import FramePacket, Segmentation
from .priority import LINUX, shift_thread_priority
from ..sources.base import Event, Source
from ..watchdog import GuardedSegmenter, StageHung, StallBounds

T = TypeVar("T")
_END = object()           # end-of-stream marker on replay queues
REPLAY_QUEUE = 2          # frames decoded ahead in replay: bounded, and blocking (nothing dropped)


class Segmenter(Protocol):
    """What the pipeline needs from surgical_seg.engine (spans preprocess/infer/postprocess + segmentation)."""
    def process(self, packet: FramePacket) -> FramePacket: ...


class Annotator(Protocol):
    def annotate(self, frame, segmentation: Segmentation): ...


class LatestSlot(Generic[T]):
    """One-slot latest-value buffer carrying the item's index: put() overwrites, get() waits for newer.

    `overwritten` counts items replaced before anyone took them (the live path's drops).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._index = -1
        self._item: T | None = None
        self._taken = True
        self._closed = False
        self.overwritten = 0

    def put(self, index: int, item: T) -> T | None:
        """Store `item`; returns the item it replaced unread (a drop), else None."""
        with self._cond:
            lost = None if self._taken else self._item
            if lost is not None:
                self.overwritten += 1
            self._index, self._item, self._taken = index, item, False
            self._cond.notify_all()
            return lost

    def get(self, newer_than: int = -1, timeout: float | None = None) -> tuple[int, T] | None:
        """Wait until the slot holds an index > newer_than; None on timeout or when closed and drained."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self._index > newer_than or self._closed, timeout)
            if not ok or self._index <= newer_than:
                return None
            self._taken = True
            return self._index, self._item

    def peek(self) -> tuple[int, T | None]:
        """(index, item) now, without waiting or marking it taken; (-1, None) when empty."""
        with self._cond:
            return self._index, self._item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class FrameQueue(Generic[T]):
    """The live compositor's raw frames, in capture order; bounded: when full the oldest is dropped.

    A frame waiting for its own mask (up to align_ms after capture) must not cost the frames behind it
    their turn: with a one-slot buffer they were overwritten while it waited (1080p60, align_ms 35: 54 of
    60 fps painted). Each frame's wait ends at its own deadline, so the queue stays a few frames short.
    """

    def __init__(self, maxlen: int = 8) -> None:
        self._cond = threading.Condition()
        self._items: collections.deque[T] = collections.deque()
        self._maxlen = maxlen
        self._closed = False
        self.overwritten = 0

    def put(self, item: T) -> None:
        with self._cond:
            if len(self._items) >= self._maxlen:
                self._items.popleft()
                self.overwritten += 1
            self._items.append(item)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest frame, waiting up to `timeout`; None on timeout or when closed and drained."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._closed, timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


@dataclass(frozen=True)
class Counts:
    frames_in: int = 0        # frames the source delivered
    inferred: int = 0         # frames the segmenter ran on (errors included)
    dropped: int = 0          # live: frames replaced in the inference slot before the model took them
    frames_out: int = 0       # composited frames
    model_errors: int = 0


class Pipeline:
    """Source → segmenter → compositor, with sinks. See the module docstring for the API."""

    def __init__(self, source: Source, segmenter: Segmenter, annotator: Annotator | None, *,
                 mode: str = "live", stale_ms: float = 150.0, align_ms: float = 0.0, warp: bool = False,
                 stats: Any = None,
                 sinks: Iterable[Callable[[FramePacket], None]] = (),
                 on_event: Callable[[Event], None] | None = None,
                 watchdog: StallBounds | None = None, segmenter_factory: Callable[[], Any] | None = None,
                 model_nice: int = 0, burn_in: bool = True, privacy: Any = None,
                 on_output: Callable[[FramePacket], None] | None = None) -> None:
        if mode not in ("live", "replay"):
            raise ValueError(f"mode must be live or replay, not {mode!r}")
        self.source, self.segmenter, self.mode, self.stale_ms = source, segmenter, mode, stale_ms
        self.align_ms, self.warp, self.model_nice, self.burn_in = align_ms, warp, model_nice, burn_in
        self.stats = stats                    # StatsRecorder-like: add(packet), dropped(packet)
        self.sinks = list(sinks)
        self.on_event = on_event
        self.on_output = on_output
        self._style: tuple[Annotator | None, Callable[[Segmentation], Any] | None] = (annotator, None)
        self._user_off = annotator is None
        self._out: LatestSlot[FramePacket] = LatestSlot()
        self._events: collections.deque[Event] = collections.deque(maxlen=512)
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._n = {"frames_in": 0, "inferred": 0, "dropped": 0, "frames_out": 0, "model_errors": 0}
        self._model_error: str | None = None   # set while the last inference failed
        self._threads: list[threading.Thread] = []
        self._started = False
        if watchdog is not None:         # a hung call is flagged, then abandoned for a new session
            self.segmenter = GuardedSegmenter(segmenter, watchdog, segmenter_factory,
                                              on_event=lambda kind, text: self._event(kind, text))
        # the privacy gate (surgical_seg.realtime.privacy) sits between the compositor and every sink
        self.privacy = privacy
        if privacy is not None:
            privacy.emit = self._to_sinks
        self._compose()

    # ------------------------------------------------------------------ wiring (the one place)
    def _compose(self) -> None:
        if self.mode == "live":
            self._to_model: LatestSlot[FramePacket] = LatestSlot()   # newest frame wins
            self._raw: FrameQueue[FramePacket] = FrameQueue()         # every raw frame, in order
            self._masks = MaskHistory()                               # the last few masks, by frame
            self._aligner = Aligner(self._masks, self.align_ms, self._warper() if self.warp else None,
                                    self.stale_ms)
            self._on_frame = self._live_source_out
            self._workers = [("inference", self._live_inference), ("compositor", self._live_compositor)]
        else:
            self._frames_q: queue.Queue = queue.Queue(maxsize=REPLAY_QUEUE)      # source → model
            self._segmented_q: queue.Queue = queue.Queue(maxsize=REPLAY_QUEUE)   # model → compositor
            self._on_frame = self._replay_source_out
            self._workers = [("inference", self._replay_inference), ("compositor", self._replay_compositor)]

    def _warper(self):
        from .warp import DEFAULT_WORK_SIZE, MaskWarper
        card = getattr(self.segmenter, "card", None)      # flow at the model's resolution
        return MaskWarper((card.input_width, card.input_height) if card is not None else DEFAULT_WORK_SIZE)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._started:
            raise RuntimeError("a pipeline can be started once")
        self._started = True
        for name, target in self._workers:
            t = threading.Thread(target=self._guard(target), name=f"pipeline-{name}", daemon=True)
            self._threads.append(t)
            t.start()
        self.source.start(self._on_frame, self._on_source_event)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the source and the workers; True when every thread has ended within `timeout`."""
        self._stop.set()
        if not self._started:
            self.source.close()
            return True
        deadline = time.monotonic() + timeout
        ok = self.source.stop(timeout)
        self._close_inputs()
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
            ok = ok and not t.is_alive()
        if self.privacy is not None:
            self.privacy.stop()
        return ok

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the source ended and every frame was composited (or stop() was called)."""
        return self._finished.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    # ------------------------------------------------------------------ for the UI (never blocks)
    def latest(self) -> FramePacket | None:
        return self._out.peek()[1]

    @property
    def latest_index(self) -> int:
        return self._out.peek()[0]

    def events(self) -> list[Event]:
        out = []
        while True:
            try:
                out.append(self._events.popleft())
            except IndexError:
                return out

    def set_annotator(self, annotator: Annotator | None, layer: Callable[[Segmentation], Any] | None = None) -> None:
        """Change the overlay style; None = turned off by the user (frames still flow). `layer`, when
        given, builds packet.layer from each drawn mask in the same style (one assignment: the
        compositor never sees a new annotator with an old layer)."""
        self._style, self._user_off = (annotator, layer), annotator is None

    def counts(self) -> Counts:
        with self._lock:
            return Counts(**self._n)

    # ------------------------------------------------------------------ plumbing
    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._n[key] += n

    def _event(self, kind: str, message: str, index: int | None = None) -> None:
        self._post(Event(kind, message, index, origin="pipeline"))

    def _post(self, ev: Event) -> None:
        self._events.append(ev)
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # noqa: BLE001 - a consumer's bug must not stop the video
                pass

    def _on_source_event(self, ev: Event) -> None:
        self._post(ev)
        if ev.kind == "stopped":          # always the source's last word
            self._close_inputs()

    def _close_inputs(self) -> None:
        if self.mode == "live":
            self._to_model.close()
            self._raw.close()
            if self._stop.is_set():               # else the model's last masks are still to come
                self._masks.close()
        else:
            self._put(self._frames_q, _END, force=True)

    def _put(self, q: queue.Queue, item: Any, force: bool = False) -> bool:
        """Blocking put that gives up when the pipeline stops (the end marker always gets in)."""
        while (force or not self._stop.is_set()) and not self._finished.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                if force and self._stop.is_set():
                    try:                      # make room: after stop() nobody needs the frames
                        q.get_nowait()
                    except queue.Empty:
                        pass
        return False

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception as e:  # noqa: BLE001 - report instead of a silent dead thread
                self._event("error", f"pipeline {threading.current_thread().name} failed: "
                                     f"{type(e).__name__}: {e}")
                self._finished.set()
        return run

    def _segment(self, packet: FramePacket) -> FramePacket:
        """Run the model; a failure is recorded on the packet, never raised. Skipped out of the body."""
        out_reason = self._out_of_body()
        if out_reason is not None:
            packet.segmentation, packet.overlay_off_reason = None, out_reason
            return packet
        self._count("inferred")
        try:
            self.segmenter.process(packet)
        except Exception as e:  # noqa: BLE001 - the video must keep running
            reason = f"model error: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            reason = reason.rstrip(": ")
            if isinstance(e, StageHung):  # abandoned by the watchdog; the next call uses a new session
                reason = f"model stalled (hung {e.seconds:.1f} s, restarted)"
            packet.segmentation = None
            packet.overlay_off_reason = reason
            self._count("model_errors")
            if self._model_error is None:
                self._event("model_error", f"{reason} (frame {packet.index}); overlay off, video continues",
                            packet.index)
            self._model_error = reason
            return packet
        seg = packet.segmentation
        if seg is not None and (seg.frame_index != packet.index or seg.t_capture_ns != packet.t_capture_ns):
            packet.segmentation = dataclasses.replace(seg, frame_index=packet.index, t_capture_ns=packet.t_capture_ns)
        if self._model_error is not None:
            self._event("model_ok", f"model works again at frame {packet.index}", packet.index)
            self._model_error = None
        return packet

    def _composite(self, packet: FramePacket, seg: Segmentation | None, off_reason: str | None,
                   mask_source: str = "own") -> None:
        """Draw (or not) on a new array, publish, feed stats and sinks. Runs on the compositor thread."""
        t0 = time.perf_counter_ns()
        annotator, layer = self._style        # annotator None: the user turned the overlay off (not an alarm)
        if seg is not None and annotator is not None and off_reason is None:
            packet.composited = annotator.annotate(packet.frame, seg) if self.burn_in else None
            packet.layer = layer(seg) if layer is not None else None
        else:
            packet.composited = packet.frame  # shared, read-only: nobody draws on frames in place
            mask_source = "off"
        packet.segmentation = seg
        packet.overlay_off_reason = off_reason
        packet.mask_source = mask_source
        packet.mark("composite", t0)
        self._count("frames_out")
        self._out.put(packet.index, packet)
        if self.on_output is not None:
            try:
                self.on_output(packet)
            except Exception:  # noqa: BLE001 - a consumer's bug must not stop the video
                pass
        if self.stats is not None:
            self.stats.add(packet)
        if self.privacy is not None:
            self.privacy.submit(packet)          # sinks get it from the gate, decided, writer_delay_ms later
        else:
            self._to_sinks(packet)

    def _to_sinks(self, packet: FramePacket) -> None:
        for sink in self.sinks:
            try:
                sink(packet)
            except Exception as e:  # noqa: BLE001
                self._event("warning", f"sink {getattr(sink, '__name__', sink)!s} failed: {type(e).__name__}: {e}",
                            packet.index)

    # ------------------------------------------------------------------ live
    def _live_source_out(self, packet: FramePacket) -> None:
        self._count("frames_in")
        self._raw.put(packet)
        # the model works on its own copy of the spans: the raw packet goes on to the compositor
        lost = self._to_model.put(packet.index, dataclasses.replace(packet, spans=dict(packet.spans)))
        if lost is not None:
            self._masks.skip(lost.index)          # its frame must not wait for a mask that will not come
            self._count("dropped")
            if self.stats is not None:
                self.stats.dropped(lost)

    def _follow(self, slot: "LatestSlot", handle: Callable[[Any], None]) -> None:
        """Hand each newer item of a latest-value slot to `handle` until the slot closes or stop()."""
        last = -1
        while not self._stop.is_set():
            got = slot.get(newer_than=last, timeout=0.1)
            if got is None:
                if slot.closed:
                    break
                continue
            last, item = got
            handle(item)

    def _live_inference(self) -> None:
        if not shift_thread_priority(self.model_nice) and LINUX:   # the watchdog's call thread inherits it
            self._event("warning", f"pipeline.model_nice {self.model_nice}: not permitted (needs CAP_SYS_NICE); "
                                   "the model runs at the capture's priority")
        try:
            self._follow(self._to_model, self._infer_newest)
        finally:
            self._masks.close()                   # no more masks: nobody waits for one

    def _infer_newest(self, packet: FramePacket) -> None:
        self._segment(packet)
        if self.stats is not None:
            self.stats.add_later(packet)          # no lock on this (niced) thread: see StatsRecorder
        if packet.segmentation is not None:
            self._masks.put(packet.segmentation, packet.frame)
        else:
            self._masks.skip(packet.index)

    def _live_compositor(self) -> None:
        try:
            while not self._stop.is_set():
                packet = self._raw.get(timeout=0.1)
                if packet is not None:
                    self._composite_aligned(packet)
                elif self._raw.closed:
                    break
        finally:
            self._finish()

    def _composite_aligned(self, packet: FramePacket) -> None:
        """Draw the mask the alignment policy picks, unless the model failed or stalls; then say why not."""
        reason = self._out_of_body() or self._model_error or _stalled_reason(self.segmenter)
        if reason is None:
            choice = self._aligner.choose(packet)
            reason = self._model_error or _stalled_reason(self.segmenter)   # it may fail while this frame waited
        if reason is not None:
            self._composite(packet, None, reason, "off")
        else:
            self._composite(packet, choice.segmentation, choice.off_reason, choice.mask_source)

    # ------------------------------------------------------------------ replay
    def _replay_source_out(self, packet: FramePacket) -> None:
        self._count("frames_in")
        self._put(self._frames_q, packet)

    def _drain(self, q: queue.Queue, handle: Callable[[FramePacket], None]) -> None:
        """Hand every packet of a replay queue to `handle` until the end marker or stop()."""
        while not self._stop.is_set():
            try:
                packet = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if packet is _END:
                break
            handle(packet)

    def _replay_inference(self) -> None:
        try:
            self._drain(self._frames_q, lambda p: self._put(self._segmented_q, self._segment(p)))
        finally:
            self._put(self._segmented_q, _END, force=True)

    def _replay_compositor(self) -> None:
        try:
            self._drain(self._segmented_q, lambda p: self._composite(p, p.segmentation, p.overlay_off_reason,
                                                                     "own" if p.segmentation else "off"))
        finally:
            self._finish()

    def _out_of_body(self) -> str | None:
        """'out of body (...)' while the privacy gate says so now (no segmentation, no overlay)."""
        if self.privacy is None:
            return None
        out, why = self.privacy.live_state()
        return (f"out of body ({why})" if why else "out of body") if out else None

    def _finish(self) -> None:
        if self.privacy is not None:
            # the last writer_delay_ms of frames, decided; at stop (not a source that ended) their
            # look-ahead was cut short: those frames go out, blanked
            self.privacy.flush(cut=self._stop.is_set())
        if not self._finished.is_set():
            c = self.counts()
            self._event("finished", f"{c.frames_out} frames out of {c.frames_in} in, {c.dropped} dropped")
            self._finished.set()


def stall_bounds(cfg: Any) -> StallBounds:
    """The inference watchdog's bounds from an AppConfig's `watchdog:` section."""
    w = cfg.watchdog
    return StallBounds(stall_s=w.infer_stall_ms / 1e3, abandon_s=w.infer_abandon_s)


def _stalled_reason(segmenter: Any) -> str | None:
    """'model stalled (N ms)' while a watched inference call is past its bound (else None)."""
    check = getattr(segmenter, "stalled_reason", None)
    return check() if check is not None else None


def open_pipeline(spec: str | int, cfg: Any = None, *, model: str | None = None, backend: str | None = None,
                  mode: str | None = None, max_frames: int | None = None, stats: Any = None,
                  sinks: Iterable[Callable[[FramePacket], None]] = (),
                  on_event: Callable[[Event], None] | None = None) -> Pipeline:
    """Build source, segmenter and annotator from an AppConfig (configs/app.yml when None)."""
    from ..config import load_app_config
    from ..engine import load_segmenter
    from .overlay import MaskAnnotator
    from ..sources import open_source

    cfg = cfg or load_app_config()
    source = open_source(spec, cfg.source, max_frames=max_frames)
    e = cfg.engine
    threads = e.pipeline_threads(mode or cfg.pipeline.mode)
    seg = load_segmenter(model or e.model, backend=backend or e.backend, threads=threads, device=e.device,
                         smoothing=e.smoothing, precision=e.precision, confidence=cfg.overlay.confidence != "off",
                         upsample=e.upsample, min_region=e.min_region)
    annotator = MaskAnnotator.from_config(cfg.overlay, seg.card.colors_rgb, seg.card.classes,
                                          seg.card.confidence_threshold)
    return Pipeline(source, seg, annotator, mode=mode or cfg.pipeline.mode, stale_ms=cfg.pipeline.stale_ms,
                    align_ms=cfg.pipeline.align_ms, warp=cfg.pipeline.warp, stats=stats, sinks=sinks,
                    on_event=on_event, watchdog=stall_bounds(cfg), model_nice=cfg.pipeline.model_nice,
                    segmenter_factory=lambda: load_segmenter(
                        model or e.model, backend=seg.backend_name, threads=threads, device=e.device,
                        smoothing=e.smoothing, precision=e.precision, upsample=e.upsample, min_region=e.min_region))


__all__ = ["Pipeline", "LatestSlot", "FrameQueue", "Counts", "Event", "Segmenter", "Annotator", "open_pipeline", "stall_bounds"]
