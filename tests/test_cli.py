"""The command line as a newcomer meets it: help on every option, --version, one-line errors,
bench results never overwritten, and `view` refusing in one line where Qt cannot start."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from surgical_seg import __version__
from surgical_seg.apps.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_option_of_every_subcommand_has_help_with_its_default():
    subs = _subparsers(build_parser())
    assert {"synth", "bench", "view", "eval", "doctor", "export", "train"} <= set(subs)
    for name, sp in subs.items():
        text = sp.format_help()
        for action in sp._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help.strip(), f"{label}: no help text"
            shown = sp._get_formatter()._get_help_string(action) % {"default": action.default, "prog": sp.prog}
            if action.option_strings and action.default not in (None, argparse.SUPPRESS, []):
                assert "default" in shown, f"{label}: help does not say its default ({action.default!r})"
            assert shown.split("(default")[0].strip() in " ".join(text.split()), label
        for opt in ("--backend", "--mode", "--device", "--precision"):
            action = next((a for a in sp._actions if opt in a.option_strings), None)
            if action is not None:
                assert action.choices, f"{name} {opt}: fixed choices not declared"
                assert "{" + ",".join(action.choices) + "}" in text, f"{name} {opt}: choices not shown"


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"surgical-seg {__version__}"


def test_wrong_option_is_one_line_naming_the_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "clip.mp4", "--mode", "fast"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1
    assert err[0].startswith("surgical-seg bench: error: argument --mode: invalid choice: 'fast'")


def test_library_message_naming_the_command_is_not_doubled(clip_path, tiny_model_dir, capsys):
    assert main(["bench", str(clip_path), "--model", str(tiny_model_dir), "--frames", "0"]) == 2
    assert capsys.readouterr().err.strip() == "surgical-seg bench: error: --frames must be > 0, not 0"
    assert main(["synth", "--images", "3"]) == 2
    assert capsys.readouterr().err.strip() == "surgical-seg synth: error: give --out DIR (images) or --video FILE.mp4"


def test_bench_without_out_writes_a_new_timestamped_folder(tmp_path, monkeypatch, clip_path, tiny_model_dir, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["bench", str(clip_path), "--model", str(tiny_model_dir), "--backend", "onnxruntime", "--frames", "4"]
    assert main(args) == 0 and main(args) == 0
    runs = sorted((tmp_path / "out" / "bench").iterdir())
    assert len(runs) == 2 and all((r / "summary.json").is_file() for r in runs)
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("results in ")]
    assert said == [f"results in {os.path.join('out', 'bench', r.name)}" for r in runs]


def test_gpu_device_without_gpu_runtime_is_one_line(clip_path, tiny_model_dir):
    import importlib.metadata
    try:
        importlib.metadata.version("onnxruntime-gpu")
        pytest.skip("onnxruntime-gpu installed here")
    except importlib.metadata.PackageNotFoundError:
        pass
    proc = subprocess.run([sys.executable, "-m", "surgical_seg", "bench", str(clip_path), "--model", str(tiny_model_dir),
                           "--backend", "onnxruntime", "--device", "cuda", "--frames", "4", "--out", "/nonexistent/x"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("surgical-seg bench: error: backend onnxruntime: device gpu not available: ")
    assert "scripts/setup.sh --gpu" in lines[0]


@pytest.mark.parametrize("extra_env", [{"QT_QPA_PLATFORM": "xcb"}, {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99"},
                                       {"QT_QPA_PLATFORM": "nosuchplatform"}])
def test_view_without_a_usable_display_is_one_line(extra_env):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "surgical_seg", "view", "--quit-after", "1"],
                          capture_output=True, text=True, timeout=120, env={**env, **extra_env})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr          # not Qt's abort (134)
    assert lines[0].startswith("surgical-seg view: error: ")
    assert "QT_QPA_PLATFORM=offscreen surgical-seg view --screenshot" in lines[0]
    assert any(w in lines[0] for w in ("not found", "no display", "Qt cannot start"))
