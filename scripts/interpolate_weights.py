#!/usr/bin/env python
"""Interpolate two dygraph state dicts: w = (1 - alpha) * A + alpha * B, written to OUT (a "model soup").

Two weight sets that share one initialisation (a fine-tune and the weights it started from) usually
sit in one low-loss basin, so the straight line between them trades the one's strengths for the
other's smoothly (issue 22: the shipped weights pass the held-out stills gate, the scale fine-tune
is better on video). Every floating tensor is lerped, the BatchNorm running mean and variance
included; integer tensors (counters) are taken from A. Both files must hold the same keys with the
same shapes, or nothing is written.

    PYTHONPATH=$PWD .venv/bin/python scripts/interpolate_weights.py \\
        weights/fastscnn_spine/model.pdparams runs/scale_v6/iter_800.pdparams --alpha 0.5 --out soup.pdparams

`export` wants a run.json beside the .pdparams it is given: OUT gets B's run.json (the run B came from)
with an `interpolated` entry saying what was mixed, so the exported model card says so.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import paddle


def interpolate(a: dict, b: dict, alpha: float) -> dict:
    """(1 - alpha) * a + alpha * b per floating tensor (computed in float64, stored in a's dtype);
    non-floating tensors from a. Raises ValueError naming the first mismatch."""
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise ValueError(f"keys differ: {len(only_a)} only in A (e.g. {only_a[:1]}), "
                         f"{len(only_b)} only in B (e.g. {only_b[:1]})")
    out = {}
    for k in a:
        va, vb = (v if isinstance(v, paddle.Tensor) else paddle.to_tensor(v) for v in (a[k], b[k]))
        if list(va.shape) != list(vb.shape):
            raise ValueError(f"{k}: shape {list(va.shape)} in A but {list(vb.shape)} in B")
        if va.dtype != vb.dtype:
            raise ValueError(f"{k}: dtype {va.dtype} in A but {vb.dtype} in B")
        if paddle.is_floating_point(va):
            mixed = (1.0 - alpha) * va.astype("float64") + alpha * vb.astype("float64")
            out[k] = mixed.astype(va.dtype)
        else:
            out[k] = va.clone()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", help="first .pdparams (alpha 0 gives these weights)")
    p.add_argument("b", help="second .pdparams (alpha 1 gives these weights)")
    p.add_argument("--alpha", type=float, required=True, help="weight of B, 0..1")
    p.add_argument("--out", required=True, help="output .pdparams")
    args = p.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        p.error(f"--alpha {args.alpha}: must be within 0..1")
    sd_a, sd_b = paddle.load(args.a), paddle.load(args.b)
    for name, sd in ((args.a, sd_a), (args.b, sd_b)):
        if not isinstance(sd, dict):
            print(f"error: {name}: not a state dict ({type(sd).__name__})", file=sys.stderr)
            return 2
    try:
        mixed = interpolate(sd_a, sd_b, args.alpha)
    except ValueError as e:
        print(f"error: {args.a} vs {args.b}: {e}", file=sys.stderr)
        return 2
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    paddle.save(mixed, args.out)
    run_b = Path(args.b).parent / "run.json"
    if run_b.is_file():
        info = json.loads(run_b.read_text())
        info["interpolated"] = {"a": args.a, "b": args.b, "alpha": args.alpha,
                                "command": "scripts/interpolate_weights.py " + shlex.join(sys.argv[1:] if argv is None else argv)}
        (Path(args.out).parent / "run.json").write_text(json.dumps(info, indent=1))
    print(f"wrote {args.out}: {len(mixed)} tensors, alpha {args.alpha} of {args.b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
