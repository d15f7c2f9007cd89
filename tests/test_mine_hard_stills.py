"""scripts/mine_hard_stills.py: only scenes the model gets wrong are kept, with truth, instrument masks and a split."""
from __future__ import annotations

import json

import cv2
import pytest

from fixtures_scripts import load_script


@pytest.fixture(scope="module")
def mine():
    return load_script("mine_hard_stills")


def test_keeps_only_scenes_under_the_bar(tmp_path, mine):
    out = tmp_path / "hard"
    assert mine.main([str(out), "--seed", "999", "--images", "6", "--below", "0.75", "--frames-per-scene", "4",
                      "--max-minutes", "2"]) == 0
    info = json.loads((out / "synth.json").read_text())
    scenes = json.loads((out / "clips.json").read_text())
    assert info["images"] == 6 and info["scenes_tried"] > info["scenes_kept"] == len(scenes) == 1
    for s in scenes:           # each kept scene failed the model on its probe frames
        assert s["probe_miou"] < 0.75 or s["probe_tools_labelled"] > 0.03
    images = sorted((out / "images").glob("*.png"))
    assert len(images) == 6
    for p in images:
        lab = cv2.imread(str(out / "labels" / p.name), cv2.IMREAD_UNCHANGED)
        tools = cv2.imread(str(out / "instruments" / p.name), cv2.IMREAD_UNCHANGED)
        assert lab.shape == tools.shape == cv2.imread(str(p)).shape[:2] and lab.max() <= 3
    split = sum(len((out / f"{k}.txt").read_text().splitlines()) for k in ("train", "val", "test"))
    assert split == 6


def test_nothing_hard_enough_is_an_error_not_an_empty_set(tmp_path, mine, capsys):
    assert mine.main([str(tmp_path / "none"), "--seed", "999", "--images", "6", "--below", "0", "--tools", "1",
                      "--max-minutes", "0.05"]) == 1
    assert "no scene under mIoU 0" in capsys.readouterr().err


def test_a_model_that_is_not_there_is_one_line(tmp_path, mine, capsys):
    assert mine.main([str(tmp_path / "x"), "--seed", "1", "--model", str(tmp_path / "nomodel")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mine_hard_stills: ") and "nomodel" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
