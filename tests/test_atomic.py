"""Atomic artefacts: write-temp-then-rename files, and an export that publishes only after parity."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from surgical_seg.atomic import atomic_path, atomic_write_json, atomic_write_text, publish_folder, staging_folder
from surgical_seg.errors import ModelError


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "summary.json"
    atomic_write_json(path, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text('{"v": 2, "half')           # a writer dies halfway
            raise RuntimeError("disk gone")
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
    atomic_write_text(path, '{"v": 3}')
    assert json.loads(path.read_text()) == {"v": 3}
    assert oct(path.stat().st_mode & 0o777) in ("0o644", "0o600", "0o664")   # keeps/uses a normal mode


def test_atomic_path_keeps_an_extension_for_picky_writers(tmp_path):
    import paddle
    with atomic_path(tmp_path / "last.pdparams") as tmp:
        assert tmp.suffix == ".pdparams" and tmp.parent == tmp_path
        paddle.save({"w": paddle.ones([2])}, str(tmp))
    assert float(paddle.load(str(tmp_path / "last.pdparams"))["w"].sum()) == 2.0


def test_publish_folder_replaces_whole(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "old.txt").write_text("old")
    staged = staging_folder(final)
    (staged / "new.txt").write_text("new")
    assert oct(staged.stat().st_mode & 0o777) == "0o755"
    publish_folder(staged, final)
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_export_parity_failure_leaves_target_untouched(tiny_run_dir, tiny_model_dir, tmp_path, monkeypatch):
    """A real export whose parity check fails (threshold raised past 100 %): nothing is published."""
    from surgical_seg.training import export
    target = tmp_path / "published"
    export.export_model(tiny_run_dir, target)                      # a good model is already there
    before = _digest(target)
    monkeypatch.setattr(export, "PARITY_MIN", 1.01)
    with pytest.raises(ModelError, match="agree on only .* nothing written"):
        export.export_model(tiny_run_dir, target)
    assert _digest(target) == before
    fresh = tmp_path / "never"
    with pytest.raises(ModelError):
        export.export_model(tiny_run_dir, fresh)
    assert not fresh.exists()
    assert sorted(os.listdir(tmp_path)) == ["published"]           # no staging folder left behind
