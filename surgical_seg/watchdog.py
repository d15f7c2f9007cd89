"""Watchdogs for calls that may never return: a capture read, an inference call.

Python cannot kill a thread. So a guarded call runs on a helper thread while its caller waits with
a bound: past `stall_s` the caller is told at once (the HUD says "model stalled"), past `abandon_s`
the caller gives up on that helper thread, raises `StageHung`, and the stage is restarted (a new
capture handle, a new inference session). The abandoned thread is counted in `leaked` until its call
returns (if ever), so a hang costs a visible number, never a silent leak.

    guard = CallGuard("inference")
    result = guard.call(fn, arg, stall_s=0.15, abandon_s=2.0, on_stall=lambda ms: ...)
    guard.in_flight_ms()     # how long the current call has run (None when idle)
    guard.leaked             # abandoned helper threads still stuck in their call

`GuardedSegmenter` applies this to the pipeline's model: `process(packet)` as the Segmenter
protocol wants, `stalled_reason()` for the compositor, a fresh session from `factory()` after a hang.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable


class StageHung(Exception):
    """A guarded call did not return within its bound and was abandoned."""

    def __init__(self, stage: str, seconds: float, leaked: int) -> None:
        super().__init__(f"{stage} hung for {seconds:.1f} s; abandoned ({leaked} stuck thread(s))")
        self.stage, self.seconds, self.leaked = stage, seconds, leaked


class _Helper:
    """One daemon thread that runs submitted calls one at a time."""

    def __init__(self, name: str) -> None:
        self._cond = threading.Condition()
        self._job: tuple[Callable, tuple] | None = None
        self.abandoned = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def submit(self, fn: Callable, args: tuple) -> "_Result":
        result = _Result()
        with self._cond:
            self._job = (fn, args, result)
            self._cond.notify()
        return result

    def retire(self) -> None:
        with self._cond:
            self.abandoned = True
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._job is not None or self.abandoned)
                if self._job is None:            # retired while idle
                    return
                fn, args, result = self._job
                self._job = None
            try:
                result.value = fn(*args)
            except BaseException as e:  # noqa: BLE001 - handed to the caller, raised there
                result.error = e
            result.done.set()
            fn = args = result = None            # hold no packet while idle
            if self.abandoned:                   # the hung call came back late: nobody waits, just end
                return


class _Result:
    __slots__ = ("value", "error", "done")

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class CallGuard:
    """Bounded calls on a helper thread; see the module docstring. One caller thread at a time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._helper: _Helper | None = None
        self._abandoned: list[_Helper] = []
        self._started_ns: int | None = None
        self.hangs = 0                       # calls abandoned so far

    @property
    def leaked(self) -> int:
        """Abandoned helper threads still inside their call."""
        self._abandoned = [h for h in self._abandoned if h.thread.is_alive()]
        return len(self._abandoned)

    def in_flight_ms(self, now_ns: int | None = None) -> float | None:
        t = self._started_ns
        return None if t is None else ((now_ns or time.perf_counter_ns()) - t) / 1e6

    def call(self, fn: Callable, *args: Any, stall_s: float, abandon_s: float,
             on_stall: Callable[[float], None] | None = None) -> Any:
        """fn(*args) on the helper thread; raises what fn raises, or StageHung after abandon_s."""
        if self._helper is None:
            self._helper = _Helper(f"{self.name}-call")
        self._started_ns = time.perf_counter_ns()
        result = self._helper.submit(fn, args)
        try:
            if not result.done.wait(stall_s):
                if on_stall is not None:
                    on_stall(self.in_flight_ms())
                if not result.done.wait(max(0.0, abandon_s - stall_s)):
                    spent = self.in_flight_ms() / 1e3
                    self._helper.retire()
                    self._abandoned.append(self._helper)
                    self._helper = None
                    self.hangs += 1
                    raise StageHung(self.name, spent, self.leaked)
        finally:
            self._started_ns = None
        value, error = result.value, result.error
        result.value = result.error = None
        if error is None:
            return value
        try:
            raise error
        finally:   # this frame held the error its traceback holds: a cycle keeping the frame (the packet) for minutes
            del error

    def close(self) -> None:
        if self._helper is not None:
            self._helper.retire()
            self._helper = None


@dataclass(frozen=True)
class StallBounds:
    """When a call counts as stalled (flag it) and when it is abandoned (restart the stage)."""
    stall_s: float = 0.15
    abandon_s: float = 2.0


def _warmed(segmenter: Any) -> Any:
    """Run a new session once on a black frame: its first call (allocations, kernel choice) is the slow
    one, and must not be the call the watchdog times on live video."""
    card = getattr(segmenter, "card", None)
    if card is not None and hasattr(segmenter, "segment"):
        import numpy as np
        try:
            segmenter.segment(np.zeros((card.input_height, card.input_width, 3), np.uint8))
        except Exception:  # noqa: BLE001 - a broken session shows on the next real call
            pass
    return segmenter


class GuardedSegmenter:
    """The pipeline's model behind a CallGuard: flags a stall, restarts the session after a hang.

    `factory()` builds a new segmenter (a new inference session) after a hang; without one the old
    object is reused, which is only safe when its hung call cannot touch it again.
    """

    def __init__(self, segmenter: Any, bounds: StallBounds = StallBounds(),
                 factory: Callable[[], Any] | None = None,
                 on_event: Callable[[str, str], None] | None = None) -> None:
        self.inner, self.bounds, self.factory = segmenter, bounds, factory
        self.on_event = on_event
        self.guard = CallGuard("inference")
        self.restarts = 0
        self.stalls = 0
        self._restarting = False

    def __getattr__(self, name: str) -> Any:      # card, backend_name, reset() ... of the real one
        return getattr(self.inner, name)

    def stalled_reason(self) -> str | None:
        """'model stalled (N ms)' while the call in flight is past the stall bound, else None."""
        if self._restarting:
            return "model stalled (starting a new session)"
        ms = self.guard.in_flight_ms()
        if ms is None or ms < self.bounds.stall_s * 1e3:
            return None
        return f"model stalled ({ms:.0f} ms)"

    def _stalled(self, ms: float) -> None:
        self.stalls += 1
        if self.on_event is not None:
            self.on_event("model_stalled", f"inference call running {ms:.0f} ms (bound "
                                           f"{self.bounds.stall_s * 1e3:.0f} ms); overlay off")

    def process(self, packet: Any) -> Any:
        try:
            return self.guard.call(self.inner.process, packet, stall_s=self.bounds.stall_s,
                                   abandon_s=self.bounds.abandon_s, on_stall=self._stalled)
        except StageHung as e:
            self.restarts += 1
            if self.factory is not None:
                self._restarting = True
                try:
                    self.inner = _warmed(self.factory())
                finally:
                    self._restarting = False
            if self.on_event is not None:
                self.on_event("model_restarted", f"{e}; new inference session"
                                                 + ("" if self.factory else " not possible, reusing the old one"))
            raise

    def close(self) -> None:
        self.guard.close()


__all__ = ["CallGuard", "StageHung", "StallBounds", "GuardedSegmenter"]
