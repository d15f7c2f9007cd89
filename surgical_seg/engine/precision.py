"""engine.precision "auto": the fastest precision that `export` validated for this model and this CPU has.

`export` measures each reduced precision against f32 on a val split and writes the result into the model
card (`precisions`): label agreement, mIoU change, whether it passed, or why it was not measured. A
precision is allowed only if labels agree on >= 99.5 % of pixels and mIoU drops by <= 0.002. At load
time `auto` takes, among the allowed ones the CPU runs natively (OpenVINO's OPTIMIZATION_CAPABILITIES),
the one export measured fastest; otherwise f32, and `why` says which rule decided. Explicit f32 / bf16 /
f16 / int8 run as asked. Nothing is left to a runtime default.

bf16 and f16 are OpenVINO's arithmetic on model.onnx; int8 runs another graph, model_int8.onnx, which
`export` quantizes from it (training/quantize.py): every x86 CPU runs INT8, so on CPUs without bf16 it is
the one reduced precision there is.
"""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError

PRECISIONS = ("f32", "bf16", "f16", "int8")
CHOICES = ("auto", *PRECISIONS)
REDUCED = ("bf16", "f16", "int8")
MIN_AGREEMENT = 0.995          # share of pixels whose label equals f32's
MAX_MIOU_DROP = 0.002          # mIoU(f32) - mIoU(reduced) on the val split
CAPABILITY = {"bf16": "BF16", "f16": "FP16", "int8": "INT8"}     # OpenVINO CPU OPTIMIZATION_CAPABILITIES names


def check_choice(precision: str) -> str:
    if precision not in CHOICES:
        raise ConfigError(f"engine.precision: {precision!r} unknown (choose from {', '.join(CHOICES)})")
    return precision


def verdict(agreement: float, miou_change: float) -> tuple[bool, str]:
    """(allowed, one line) for a measured precision: both thresholds must hold."""
    fails = []
    if agreement < MIN_AGREEMENT:
        fails.append(f"labels equal on {agreement * 100:.2f} % < {MIN_AGREEMENT * 100:.1f} %")
    if -miou_change > MAX_MIOU_DROP:
        fails.append(f"mIoU {miou_change:+.4f} drops more than {MAX_MIOU_DROP}")
    if fails:
        return False, "; ".join(fails)
    return True, (f"labels equal on {agreement * 100:.2f} % >= {MIN_AGREEMENT * 100:.1f} %, "
                  f"mIoU {miou_change:+.4f} (drop <= {MAX_MIOU_DROP})")


def cpu_capabilities() -> tuple[str, ...]:
    """OpenVINO's CPU OPTIMIZATION_CAPABILITIES (e.g. FP32, BF16, FP16, INT8); () without OpenVINO."""
    try:
        import openvino as ov
        return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:
        return ()


def native(precision: str, caps: tuple[str, ...]) -> bool:
    return precision == "f32" or CAPABILITY[precision] in caps


def resolve(asked: str, precisions: dict[str, Any], backend: str, device: str,
            caps: tuple[str, ...]) -> tuple[str, str]:
    """(precision to run, why in one line) for engine.precision `asked` on `backend`/`device`."""
    check_choice(asked)
    if asked != "auto":
        rec = precisions.get(asked) or {}
        if asked == "f32":
            note = ""
        elif not rec:
            note = "; NOT validated by export for this model"
        elif rec.get("allowed"):
            note = "; export allowed it"
        else:
            note = f"; export refused it ({rec.get('why') or 'failed its check'})"
        return asked, f"asked for (engine.precision {asked}){note}"
    if backend != "openvino" or device != "cpu":
        return "f32", f"auto: f32 on {backend} {device} (reduced precisions are validated for OpenVINO on CPU)"
    candidates, refused = [], []
    missing = [p for p in REDUCED if not native(p, caps)]
    if missing:                                  # what this CPU lacks decides first: nothing to validate then
        refused.append(f"no native {' or '.join(missing)} on this CPU (OpenVINO offers {', '.join(caps) or 'nothing'})")
    for p in REDUCED:
        rec = precisions.get(p)
        if p in missing:
            continue
        if not rec:
            refused.append(f"{p} not validated by export")
        elif not rec.get("allowed"):
            refused.append(f"{p} refused by export: {rec.get('why') or 'not allowed'}")
        else:
            candidates.append(p)
    f32_ms = (precisions.get("f32") or {}).get("infer_ms_p50")
    if candidates:
        best = min(candidates, key=lambda p: precisions[p].get("infer_ms_p50") or float("inf"))
        ms, rec = precisions[best].get("infer_ms_p50"), precisions[best]
        if f32_ms is None or ms is None or ms < f32_ms:
            return best, (f"auto: {best} validated by export (labels equal on {rec['agreement'] * 100:.2f} %, "
                          f"mIoU {rec['miou_change']:+.4f})" + (f", {ms} vs {f32_ms} ms f32" if ms and f32_ms else ""))
        refused.append(f"{best} measured no faster than f32 ({ms} vs {f32_ms} ms)")
    return "f32", "auto: f32, " + "; ".join(refused)


__all__ = ["PRECISIONS", "CHOICES", "REDUCED", "MIN_AGREEMENT", "MAX_MIOU_DROP", "check_choice", "verdict",
           "cpu_capabilities", "native", "resolve"]
