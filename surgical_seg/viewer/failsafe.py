"""The viewer's fail-safe decisions, kept apart from the widgets so they can be tested alone.

* `FreezeDetector`: no new frame for more than 3 frame intervals (or `viewer.frozen_ms`) = frozen.
  The paint-time overlay gate asks it at the moment of painting, so a frame that stops changing
  loses its overlay within that bound, whatever the pipeline believes.
* `LateHold`: an overlay found too old at paint stays off for a moment, so an age hovering at the
  budget does not blink the overlay at the frame rate.
* `name_failure` / `overlay_verdict`: every reason the overlay is off is said as one of five causes,
  most basic first: source lost, source frozen, model error, model stalled, model late.
"""
from __future__ import annotations

import time

CAUSES = ("source lost", "source frozen", "model error", "model stalled", "model late")
DEFAULT_FPS = 30.0
FROZEN_INTERVALS = 3


class FreezeDetector:
    """Tracks when the last new frame arrived; `frozen(now)` once it is older than the bound."""

    def __init__(self, frozen_ms: float = 0.0, fps: float | None = None) -> None:
        self.frozen_ms = float(frozen_ms)
        self.fps = fps if fps and fps > 0 else DEFAULT_FPS
        self.last_new_ns: int | None = None

    @property
    def threshold_ms(self) -> float:
        """`viewer.frozen_ms` when set, else 3 frame intervals of the source's rate."""
        return self.frozen_ms if self.frozen_ms > 0 else FROZEN_INTERVALS * 1000.0 / self.fps

    def new_frame(self, now_ns: int | None = None) -> None:
        self.last_new_ns = time.perf_counter_ns() if now_ns is None else now_ns

    def age_ms(self, now_ns: int | None = None) -> float | None:
        if self.last_new_ns is None:
            return None
        return ((time.perf_counter_ns() if now_ns is None else now_ns) - self.last_new_ns) / 1e6

    def frozen(self, now_ns: int | None = None) -> bool:
        age = self.age_ms(now_ns)
        return age is not None and age > self.threshold_ms


class LateHold:
    """Model-late hysteresis at paint time. A paint that finds the mask older than the budget turns the
    overlay off for at least `hold_ms`, and it comes back at the first fresh paint after that. In the
    720p soak the overlay's age hovered at the 150 ms budget and the overlay blinked on and off about
    4 times a second (2453 "model late" changes in 10 minutes); held, it changes at most 1000/hold_ms
    times a second. The hold only ever hides the overlay longer: a late mask is never drawn."""

    def __init__(self, hold_ms: float) -> None:
        self.hold_ms = float(hold_ms)
        self._until_ns = 0
        self._age_ms = 0.0

    def reason(self, age_ms: float, stale_ms: float, now_ns: int) -> str | None:
        """Why this paint must not draw the mask (age_ms old now), or None."""
        if age_ms > stale_ms:
            self._until_ns, self._age_ms = now_ns + int(self.hold_ms * 1e6), age_ms
            return f"model late (overlay {age_ms:.0f} ms old at paint)"
        if now_ns < self._until_ns:
            return f"model late (overlay {self._age_ms:.0f} ms old at paint, held)"
        return None


def name_failure(reason: str | None) -> str | None:
    """The pipeline's overlay_off_reason said as one of CAUSES (details kept in brackets)."""
    if reason is None:
        return None
    if reason.startswith("stale"):                      # the pipeline's "stale (N ms)": mask too old
        detail = reason[len("stale"):].strip(" ()")
        return f"model late (mask {detail} old)" if detail else "model late"
    return reason


def overlay_verdict(source_state: str | None, frozen_ms: float | None, packet_reason: str | None) -> str | None:
    """Why the overlay is off now, most basic cause first; None when it may be drawn.

    source_state: "source lost" / "source ended" / a source error, from the source's events;
    frozen_ms: how long the picture has not changed, when past the freeze bound (else None).
    """
    if source_state:
        return source_state
    if frozen_ms is not None:
        return f"source frozen (no new frame for {frozen_ms:.0f} ms)"
    return name_failure(packet_reason)


__all__ = ["FreezeDetector", "LateHold", "name_failure", "overlay_verdict", "CAUSES", "FROZEN_INTERVALS"]
