"""The viewer's fail-safe decisions, kept apart from the widgets so they can be tested alone.

* `FreezeDetector`: no new frame for more than 3 frame intervals (or `viewer.frozen_ms`) = frozen.
  The paint-time overlay gate asks it at the moment of painting, so a frame that stops changing
  loses its overlay within that bound, whatever the pipeline believes.
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


__all__ = ["FreezeDetector", "name_failure", "overlay_verdict", "CAUSES", "FROZEN_INTERVALS"]
