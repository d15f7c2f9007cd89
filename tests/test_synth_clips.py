"""One scene world: clips and clip stills at physical zoom (surgical_seg/data/synth_clips.py)."""
import json

import av
import cv2
import numpy as np
import pytest

from surgical_seg.apps.cli import main
from surgical_seg.data.synth_clips import ClipScene, random_size, write_clip_dataset


def _edge_density(labels: np.ndarray) -> float:
    """Share of pixels whose right or lower neighbour has another label: falls as regions grow."""
    return float(((labels[:, 1:] != labels[:, :-1])[:-1] | (labels[1:] != labels[:-1])[:, :-1]).mean())


def test_zoom_is_physical_the_same_anatomy_at_any_resolution():
    small = ClipScene.build(3, (320, 180), zoom=1.0)
    large = ClipScene.build(3, (640, 360), zoom=1.0)
    assert large.labels.shape == (486, 864) and small.labels.shape == (243, 432)
    down = cv2.resize(large.labels, small.labels.shape[::-1], interpolation=cv2.INTER_NEAREST)
    assert (down == small.labels).mean() > 0.9          # same territories, twice the pixels
    # zoom 2 at the same resolution: regions twice as large, so about half the boundary pixels
    wide, near = (np.mean([_edge_density(ClipScene.build(s, (320, 180), zoom=z).labels) for s in range(4)])
                  for z in (0.7, 2.0))
    assert near < 0.6 * wide


def test_without_zoom_a_clip_keeps_its_historical_scale():
    old = ClipScene.build(5, (320, 180))
    same = ClipScene.build(5, (320, 180), zoom=1.35)
    assert old.unit is None and same.unit == pytest.approx(1.35 * 180 / 360)
    assert (old.labels == same.labels).mean() > 0.97


def test_video_with_zoom_writes_truth_and_instrument_masks_per_frame(tmp_path):
    clip = tmp_path / "z.mp4"
    assert main(["synth", "--video", str(clip), "--seconds", "0.5", "--fps", "10", "--size", "192x108", "--seed", "4",
                 "--labels-dir", str(tmp_path / "z_labels"), "--instruments-dir", str(tmp_path / "z_tools"),
                 "--zoom", "0.8", "--motion", "fast"]) == 0
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (108, 192, 3)
    for i in range(5):
        lab = cv2.imread(str(tmp_path / "z_labels" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
        tools = cv2.imread(str(tmp_path / "z_tools" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
        assert lab.shape == tools.shape == (108, 192) and set(np.unique(tools)) <= {0, 255}
        assert (lab[tools > 0] == 0).all()               # an instrument is background
    assert (cv2.imread(str(tmp_path / "z_tools" / "000000.png"), 0) > 0).any()


def test_zoom_errors_are_one_line(capsys, tmp_path):
    assert main(["synth", "--video", str(tmp_path / "a.mp4"), "--zoom", "0.5,2"]) == 2
    assert "one --zoom value" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "d"), "--clip-stills", "--zoom", "abc"]) == 2
    assert "--zoom must be a positive number" in capsys.readouterr().err


def test_random_sizes_are_even_16_9_within_bounds():
    rng = np.random.default_rng(0)
    sizes = [random_size(rng) for _ in range(200)]
    assert all(640 <= w <= 1920 and 360 <= h <= 1080 and w % 2 == 0 and h % 2 == 0 for w, h in sizes)
    assert all(abs(w / h - 16 / 9) < 0.01 for w, h in sizes)
    assert min(w for w, _ in sizes) < 800 and max(w for w, _ in sizes) > 1700


def test_clip_stills_dataset_groups_frames_by_clip(tmp_path):
    out = tmp_path / "cs"
    msg = write_clip_dataset(out, 9, seed=2, frames_per_clip=3, zoom=(0.6, 1.8), sizes=((160, 90), (320, 180)),
                             instrument_masks=True, progress=False)
    assert "9 clip stills from 3 clips" in msg
    clips = json.loads((out / "clips.json").read_text())
    assert len(clips) == 3 and all(0.6 <= c["zoom"] <= 1.8 for c in clips)
    for c in clips:
        for j in range(3):
            stem = f"c2p{c['clip']:04d}_{j:04d}.png"
            img = cv2.imread(str(out / "images" / stem))
            lab = cv2.imread(str(out / "labels" / stem), cv2.IMREAD_UNCHANGED)
            assert img.shape[1::-1] == tuple(c["size"]) and lab.shape == img.shape[:2] and lab.max() <= 3
            assert (out / "instruments" / stem).is_file()
    groups = {}
    for split in ("train", "val", "test"):
        for line in (out / f"{split}.txt").read_text().split("\n"):
            if line:
                groups.setdefault(line.split("/")[1].split("_")[0], set()).add(split)
    assert len(groups) == 3 and all(len(s) == 1 for s in groups.values())    # a clip never straddles splits
    assert "--clip-stills" in json.loads((out / "synth.json").read_text())["command"]


def test_clip_stills_size_is_the_smallest_random_size(tmp_path, capsys):
    out = tmp_path / "big"
    assert main(["synth", "--out", str(out), "--images", "2", "--seed", "3", "--clip-stills", "--size", "1856x1044",
                 "--zoom", "2,2.5"]) == 0
    clips = json.loads((out / "clips.json").read_text())
    assert all(c["size"][0] >= 1856 and 2 <= c["zoom"] <= 2.5 for c in clips)
    assert "--size 1856x1044" in json.loads((out / "synth.json").read_text())["command"]
    assert main(["synth", "--out", str(tmp_path / "x"), "--clip-stills", "--size", "3840x2160"]) == 2
    assert "at most 1920x1080" in capsys.readouterr().err


def test_contact_sheet_of_frames_of_different_sizes(tmp_path, capsys):
    """Clip stills differ in size (and 16:9 heights by rounding): the sheet pads, and --clip-stills writes it."""
    from surgical_seg.data.synth import write_contact_sheet
    d = tmp_path / "mixed"
    for sub in ("images", "labels"):
        (d / sub).mkdir(parents=True)
    for k, (w, h) in enumerate([(1472, 828), (1456, 818), (640, 480)]):     # 320 wide: 180, 179 and 240 high
        for j in range(7):
            cv2.imwrite(str(d / "images" / f"s{k}_{j}.png"), np.full((h, w, 3), 90, np.uint8))
            cv2.imwrite(str(d / "labels" / f"s{k}_{j}.png"), np.full((h, w), k + 1, np.uint8))
    sheet = cv2.imread(str(write_contact_sheet(d, tmp_path / "sheet.png", n=3)))
    assert sheet.shape[1] == 3 * 320 and sheet.shape[0] == 28 + 2 * 240
    out = tmp_path / "cs"
    assert main(["synth", "--out", str(out), "--images", "2", "--seed", "5", "--clip-stills",
                 "--contact-sheet", str(tmp_path / "cs.png")]) == 0
    assert cv2.imread(str(tmp_path / "cs.png")).shape[1] == 320
