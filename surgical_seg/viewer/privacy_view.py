"""The privacy gate as the viewer sees it (surgical_seg.realtime.privacy does the deciding).

* `viewer_gate(cfg)`: the pipeline's gate from `privacy:` (None when privacy.enabled is false). A gate
  model that cannot be loaded fails closed: every frame is blanked and the HUD says why.
* `privacy_alarm(pipeline)`: the HUD's red line while out of the body: "OUT OF BODY — recording blanked".
* `screen_frame(packet, cfg)`: the surgeon keeps the live picture; with privacy.blank_screen (teaching
  streams) the screen is blanked too.
* `snapshot_allowed(gate, index)`: a snapshot is written only once the gate has released that frame as
  in-body (waits at most writer_delay_ms + score_timeout_ms + 1 s, on the file thread).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..packet import FramePacket
from ..realtime.privacy import PrivacyGate, blank_like, gate_from_config

ALARM = "OUT OF BODY — recording blanked"


class _Unavailable:
    """A scorer that cannot score (its model failed to load): every frame fails closed."""

    def __init__(self, why: str) -> None:
        self.why = why

    def score(self, frame):
        raise RuntimeError(self.why)


def viewer_gate(cfg: Any) -> PrivacyGate | None:
    if not cfg.privacy.enabled:
        return None
    try:
        return gate_from_config(cfg)
    except Exception as e:  # noqa: BLE001 - no gate model: blank everything, say so
        return gate_from_config(cfg, scorer=_Unavailable(f"gate model unavailable ({e})"))


def privacy_alarm(pipeline: Any) -> tuple[str, ...]:
    gate = getattr(pipeline, "privacy", None) if pipeline is not None else None
    if gate is None:
        return ()
    out, why = gate.live_state()
    if not out:
        return ()
    return (ALARM + (f" ({why})" if why and why != "gate starting" else ""),)


def screen_frame(packet: FramePacket, cfg: Any) -> np.ndarray:
    reason = packet.overlay_off_reason or ""
    if cfg.privacy.enabled and cfg.privacy.blank_screen and reason.startswith("out of body"):
        return blank_like(packet.frame)
    return packet.frame


def snapshot_allowed(gate: PrivacyGate | None, index: int, cfg_wait_s: float | None = None) -> bool:
    if gate is None:
        return True
    wait = cfg_wait_s if cfg_wait_s is not None else (gate.decider.delay_ms + gate.score_timeout_ms) / 1e3 + 1.0
    d = gate.verdict(index, timeout=wait)
    return d is not None and not d.out


__all__ = ["viewer_gate", "privacy_alarm", "screen_frame", "snapshot_allowed", "ALARM"]
