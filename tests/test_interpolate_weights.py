"""scripts/interpolate_weights.py: lerped floats (BatchNorm statistics too), integers from A, mismatches refused."""
from __future__ import annotations

import json

import numpy as np
import paddle
import pytest

from fixtures_scripts import load_script


@pytest.fixture(scope="module")
def iw():
    return load_script("interpolate_weights")


def tiny(w, mean, var, steps):
    return {"conv.weight": paddle.to_tensor(np.full((2, 3), w, "float32")),
            "bn._mean": paddle.to_tensor(np.array([mean, -mean], "float32")),
            "bn._variance": paddle.to_tensor(np.array([var, 2 * var], "float32")),
            "bn.steps": paddle.to_tensor(np.array([steps], "int64"))}


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_values_at_alpha(tmp_path, iw, alpha):
    a, b = tiny(1.0, 0.2, 1.0, 7), tiny(3.0, 0.6, 5.0, 99)
    paddle.save(a, str(tmp_path / "a.pdparams"))
    paddle.save(b, str(tmp_path / "b.pdparams"))
    out = tmp_path / "o" / "mix.pdparams"
    assert iw.main([str(tmp_path / "a.pdparams"), str(tmp_path / "b.pdparams"), "--alpha", str(alpha),
                    "--out", str(out)]) == 0
    m = paddle.load(str(out))
    assert set(m) == set(a)
    lerp = lambda x, y: (1 - alpha) * x + alpha * y      # noqa: E731
    np.testing.assert_allclose(m["conv.weight"].numpy(), np.full((2, 3), lerp(1.0, 3.0)), rtol=1e-6)
    np.testing.assert_allclose(m["bn._mean"].numpy(), [lerp(0.2, 0.6), -lerp(0.2, 0.6)], rtol=1e-6)
    np.testing.assert_allclose(m["bn._variance"].numpy(), [lerp(1.0, 5.0), 2 * lerp(1.0, 5.0)], rtol=1e-6)
    assert m["conv.weight"].dtype == paddle.float32
    assert m["bn.steps"].dtype == paddle.int64 and m["bn.steps"].numpy().tolist() == [7]   # integers from A
    if alpha in (0.0, 1.0):      # the ends are the inputs exactly
        src = a if alpha == 0.0 else b
        for k in ("conv.weight", "bn._mean", "bn._variance"):
            assert np.array_equal(m[k].numpy(), src[k].numpy()), k


def test_out_gets_bs_run_json_with_the_mix_recorded(tmp_path, iw):
    """export reads run.json beside the weights: B's run, plus what was mixed (the model card says so)."""
    (tmp_path / "b").mkdir()
    paddle.save(tiny(1.0, 0.2, 1.0, 7), str(tmp_path / "a.pdparams"))
    paddle.save(tiny(3.0, 0.6, 5.0, 99), str(tmp_path / "b" / "b.pdparams"))
    (tmp_path / "b" / "run.json").write_text(json.dumps({"name": "m", "iterations": 850}))
    out = tmp_path / "o" / "mix.pdparams"
    assert iw.main([str(tmp_path / "a.pdparams"), str(tmp_path / "b" / "b.pdparams"), "--alpha", "0.75",
                    "--out", str(out)]) == 0
    info = json.loads((out.parent / "run.json").read_text())
    assert info["iterations"] == 850 and info["interpolated"]["alpha"] == 0.75
    assert info["interpolated"]["a"].endswith("a.pdparams") and "--alpha 0.75" in info["interpolated"]["command"]


def test_mismatches_are_one_line_errors(tmp_path, iw, capsys):
    a = tiny(1.0, 0.2, 1.0, 7)
    paddle.save(a, str(tmp_path / "a.pdparams"))
    shape = dict(a, **{"conv.weight": paddle.zeros([3, 2])})
    paddle.save(shape, str(tmp_path / "shape.pdparams"))
    keys = {k: v for k, v in a.items() if k != "bn._mean"}
    paddle.save(keys, str(tmp_path / "keys.pdparams"))
    out = tmp_path / "mix.pdparams"
    for other, expect in (("shape", "conv.weight: shape [2, 3] in A but [3, 2] in B"),
                          ("keys", "keys differ: 1 only in A (e.g. ['bn._mean']), 0 only in B")):
        rc = iw.main([str(tmp_path / "a.pdparams"), str(tmp_path / f"{other}.pdparams"), "--alpha", "0.5",
                      "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and expect in err and err.count("\n") == 1, err
        assert not out.exists()
    with pytest.raises(ValueError, match="keys differ"):
        iw.interpolate(a, keys, 0.5)
