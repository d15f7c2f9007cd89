"""Fault injection on a schedule, for the soak (`surgical-seg soak --faults SPEC`).

SPEC is a comma-separated list of `KIND[=VALUE]@START[/EVERY][+LENGTH]`, times with `s` or `ms`:
    drop=5s@60s/60s       the source stops sending for 5 s at 60 s, 120 s, ...
    raise@120s/120s       the next inference call after 120 s, 240 s, ... raises
    hang=10s@150s         the next inference call after 150 s blocks for 10 s
    slow=100ms@200s+10s   every inference call from 200 s to 210 s takes 100 ms longer
`drop` is carried out by the stream sender (surgical_seg/apps/stream_sender.py) or by `FaultySource`;
the model faults by `FaultySegmenter`, which wraps the real segmenter. Every occurrence records
when it actually fired (perf_counter_ns), so the soak can time detection and recovery from it.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

KINDS = ("drop", "raise", "hang", "slow")
_ITEM = re.compile(r"^(?P<kind>[a-z]+)(?:=(?P<value>[\d.]+m?s))?@(?P<start>[\d.]+m?s)"
                   r"(?:/(?P<every>[\d.]+m?s))?(?:\+(?P<length>[\d.]+m?s))?$")


def _seconds(text: str) -> float:
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1])


@dataclass(frozen=True)
class Fault:
    kind: str
    start_s: float
    value_s: float = 0.0          # drop: silence; hang: block; slow: added per call
    every_s: float | None = None
    length_s: float = 10.0        # slow only: how long the slowdown lasts

    def times(self, duration_s: float) -> list[float]:
        if self.every_s is None:
            return [self.start_s] if self.start_s < duration_s else []
        n = int((duration_s - self.start_s) // self.every_s) + 1 if self.start_s < duration_s else 0
        return [t for t in (self.start_s + i * self.every_s for i in range(max(0, n))) if t < duration_s]


def parse_faults(spec: str) -> list[Fault]:
    """`drop=5s@60s/60s,raise@300s/300s,...` -> Faults; ConfigError naming the bad item."""
    faults = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        m = _ITEM.match(item)
        if not m or m["kind"] not in KINDS:
            raise ConfigError(f"--faults: {item!r} is not KIND[=VALUE]@START[/EVERY][+LENGTH] "
                              f"(kinds: {', '.join(KINDS)}; times like 5s or 300ms)")
        kind = m["kind"]
        if kind in ("drop", "hang", "slow") and not m["value"]:
            raise ConfigError(f"--faults: {item!r}: {kind} needs a duration, e.g. {kind}=5s@60s")
        every = _seconds(m["every"]) if m["every"] else None
        if every is not None and every <= 0:
            raise ConfigError(f"--faults: {item!r}: the period must be > 0")
        faults.append(Fault(kind, _seconds(m["start"]), _seconds(m["value"]) if m["value"] else 0.0, every,
                            _seconds(m["length"]) if m["length"] else 10.0))
    if not faults:
        raise ConfigError("--faults: empty fault list")
    return faults


@dataclass
class Occurrence:
    """One scheduled fault and what happened to it."""
    kind: str
    at_s: float                   # scheduled, seconds after the schedule's start
    value_s: float
    length_s: float
    fired_ns: int | None = None   # when it really began (the call that raised/hung, the sender's stop)
    ended_ns: int | None = None   # when it really ended (call returned, stream resumed, slowdown over)
    notes: dict[str, Any] = field(default_factory=dict)


class FaultClock:
    """The schedule, shared by everything that injects faults (a new inference session included)."""

    def __init__(self, faults: list[Fault], duration_s: float, t0_ns: int | None = None) -> None:
        self.t0_ns = time.perf_counter_ns() if t0_ns is None else t0_ns
        self.occurrences = sorted((Occurrence(f.kind, t, f.value_s, f.length_s)
                                   for f in faults for t in f.times(duration_s)), key=lambda o: o.at_s)
        self.lock = threading.Lock()
        self.release = threading.Event()          # set at shutdown: hung calls return at once

    def elapsed_s(self, now_ns: int | None = None) -> float:
        return ((time.perf_counter_ns() if now_ns is None else now_ns) - self.t0_ns) / 1e9

    def due(self, kind: str) -> Occurrence | None:
        """The earliest unfired occurrence of `kind` whose time has come (marked fired)."""
        now = time.perf_counter_ns()
        with self.lock:
            for o in self.occurrences:
                if o.kind == kind and o.fired_ns is None and o.at_s <= self.elapsed_s(now):
                    o.fired_ns = now
                    return o
        return None

    def slowdown_s(self) -> float:
        """Extra seconds for an inference call now (a `slow` fault in progress)."""
        t = self.elapsed_s()
        with self.lock:
            for o in self.occurrences:
                if o.kind == "slow" and o.at_s <= t < o.at_s + o.length_s:
                    if o.fired_ns is None:
                        o.fired_ns = time.perf_counter_ns()
                    o.ended_ns = self.t0_ns + int((o.at_s + o.length_s) * 1e9)
                    return o.value_s
        return 0.0


class InjectedFault(RuntimeError):
    """What a `raise` fault throws from inside the inference call."""


class FaultySegmenter:
    """The real segmenter with the schedule's model faults injected into `process()`."""

    def __init__(self, inner: Any, clock: FaultClock) -> None:
        self.inner, self.clock = inner, clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def process(self, packet: Any) -> Any:
        o = self.clock.due("raise")
        if o is not None:
            o.ended_ns = o.fired_ns
            raise InjectedFault(f"injected fault at {o.at_s:.0f} s")
        o = self.clock.due("hang")
        if o is not None:
            self.clock.release.wait(o.value_s)        # a wedged call: the watchdog must abandon it
            o.ended_ns = time.perf_counter_ns()
        extra = self.clock.slowdown_s()
        if extra > 0:
            time.sleep(extra)
        return self.inner.process(packet)


__all__ = ["Fault", "Occurrence", "FaultClock", "FaultySegmenter", "InjectedFault", "parse_faults", "KINDS"]
