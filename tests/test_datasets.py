"""Split files grouped by video/patient, split reading and label loading."""
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from surgical_seg.apps.cli import main
from surgical_seg.errors import ConfigError, DataError
from surgical_seg.data.datasets import SPLITS, load_label, make_split, read_split


def make_dataset(root, sizes, ext=".png"):
    """Tiny frames: group g has sizes[g] frames named vid<g>_<i>; labels are class-id PNGs."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for g, n in enumerate(sizes):
        for i in range(n):
            stem = f"vid{g:02d}_{i:04d}"
            cv2.imwrite(str(root / "images" / f"{stem}{ext}"), np.full((6, 8, 3), g, np.uint8))
            cv2.imwrite(str(root / "labels" / f"{stem}.png"), np.full((6, 8), i % 4, np.uint8))
    return root


def split_groups(root):
    out = {}
    for s in SPLITS:
        pairs = read_split(root, s)
        out[s] = {p[1].stem.split("_")[0] for p in pairs}
        assert all(img.stem == lab.stem for img, lab in pairs)
    return out


def test_grouped_split_never_leaks_and_counts_approach_ratios(tmp_path):
    sizes = [int(v) for v in np.random.default_rng(0).integers(3, 13, 40)]
    root = make_dataset(tmp_path / "ds", sizes)
    counts = make_split(root, ratios=(0.7, 0.2, 0.1), seed=1)
    total = sum(sizes)
    assert sum(counts.values()) == total
    for s, r in zip(SPLITS, (0.7, 0.2, 0.1)):
        assert abs(counts[s] - r * total) <= max(sizes), (s, counts[s], r * total)
        assert len(read_split(root, s)) == counts[s]
    groups = split_groups(root)
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"]) \
        and not (groups["val"] & groups["test"])
    assert len(groups["train"] | groups["val"] | groups["test"]) == 40
    audit = json.loads((root / "split_groups.json").read_text())
    assert {s: {g for g, v in audit.items() if v == s} for s in SPLITS} == groups
    line = (root / "train.txt").read_text().splitlines()[0]
    assert line.startswith("images/vid") and line.split()[1].startswith("labels/vid") and line.endswith(".png")


def test_split_is_deterministic_and_seed_dependent(tmp_path):
    root = make_dataset(tmp_path / "ds", [5] * 30)
    make_split(root, seed=3)
    first = {s: (root / f"{s}.txt").read_text() for s in SPLITS}
    make_split(root, seed=3)
    assert {s: (root / f"{s}.txt").read_text() for s in SPLITS} == first
    make_split(root, seed=4)
    assert {s: (root / f"{s}.txt").read_text() for s in SPLITS} != first


def test_few_groups_still_fill_every_split_and_zero_ratio_gets_none(tmp_path):
    root = make_dataset(tmp_path / "ds", [10, 10, 4])
    counts = make_split(root)
    assert sorted(counts.values()) == [4, 10, 10]              # one video each rather than an empty test set
    counts = make_split(root, ratios=(0.9, 0.1, 0.0))
    assert counts["test"] == 0 and counts["train"] > counts["val"] > 0
    assert (root / "test.txt").read_text() == ""


def test_group_pattern_and_unmatched_stems(tmp_path):
    root = make_dataset(tmp_path / "ds", [4, 4, 4, 4])
    # patient-level grouping: vid00 and vid01 are one patient under this pattern
    make_split(root, group_pattern=r"^vid0(\d)", seed=0)
    audit = json.loads((root / "split_groups.json").read_text())
    assert sorted(audit) == ["0", "1", "2", "3"]
    # a pattern that matches nothing: every frame is its own group
    make_split(root, group_pattern=r"^patient(\d+)$", seed=0)
    assert len(json.loads((root / "split_groups.json").read_text())) == 16


def test_read_split_all_jpg_and_errors(tmp_path):
    root = make_dataset(tmp_path / "ds", [3, 2], ext=".jpg")
    pairs = read_split(root, "all")
    assert [(i.name, l.name) for i, l in pairs][:2] == [("vid00_0000.jpg", "vid00_0000.png"),
                                                         ("vid00_0001.jpg", "vid00_0001.png")]
    assert len(pairs) == 5
    with pytest.raises(DataError, match=r"test\.txt: split file not found"):
        read_split(root, "test")
    with pytest.raises(DataError, match="dataset folder not found"):
        read_split(tmp_path / "nope", "all")
    (root / "val.txt").write_text("images/vid00_0000.jpg labels/vid00_0000.png\nimages/x.jpg labels/x.png\n")
    with pytest.raises(DataError, match=r"val\.txt:2: .*x\.jpg not found"):
        read_split(root, "val")
    (root / "val.txt").write_text("images/vid00_0000.jpg\n")
    with pytest.raises(DataError, match=r"val\.txt:1: expected 'image label'"):
        read_split(root, "val")


def test_load_label_refuses_colour_palette_and_16_bit(tmp_path):
    ok = tmp_path / "ok.png"
    cv2.imwrite(str(ok), np.array([[0, 1], [3, 255]], np.uint8))
    assert load_label(ok).tolist() == [[0, 1], [3, 255]]
    pal = Image.fromarray(np.array([[0, 1], [2, 3]], np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 250, 220, 50, 60, 220, 60, 40, 150, 255])
    pal.save(tmp_path / "palette.png")
    cv2.imwrite(str(tmp_path / "colour.png"), np.zeros((2, 2, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "deep.png"), np.zeros((2, 2), np.uint16))
    for name in ("palette.png", "colour.png", "deep.png"):
        with pytest.raises(DataError, match=f"{name}: label must be a single-channel 8-bit PNG"):
            load_label(tmp_path / name)
    with pytest.raises(DataError, match="cannot read label"):
        load_label(tmp_path / "missing.png")


def test_bad_settings_and_cli(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", [3] * 6)
    with pytest.raises(ConfigError, match="ratios"):
        make_split(root, ratios=(0.5, 0.5, 0.5))
    with pytest.raises(ConfigError, match="group-pattern"):
        make_split(root, group_pattern="(")
    with pytest.raises(DataError, match="no image has a label"):
        make_split(make_dataset(tmp_path / "empty", []))
    assert main(["split", str(root), "--ratios", "0.5,0.25,0.25", "--seed", "2"]) == 0
    assert capsys.readouterr().out.strip() == "train: 9, val: 6, test: 3"
    assert main(["split", str(root), "--ratios", "a,b,c"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--ratios must look like 0.8,0.1,0.1" in err
