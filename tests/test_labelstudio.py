"""Label Studio JSON export -> label PNGs. Brush regions are encoded with Label Studio's own SDK
(label_studio_sdk.converter.brush), so our decoder is checked against the real format."""
import json
from urllib.parse import quote

import cv2
import numpy as np
import pytest
from label_studio_sdk.converter.brush import encode_rle, image2annotation, mask2rle
from matplotlib.path import Path

from surgical_seg.apps.cli import main
from surgical_seg.errors import ConfigError, DataError
from surgical_seg.data.datasets import read_split
from surgical_seg.data.labelstudio import (ALPHA_THRESHOLD, decode_rle, frame_name_candidates,
                                               import_export, polygon_to_mask)

W, H = 64, 48


def blob(cx, cy, r, w=W, h=H):
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + ((yy - cy) * 1.3) ** 2 <= r * r


def brush(tmp_path, mask, label):
    """One brushlabels result item, made by the SDK from a 0/255 mask PNG (as users pre-annotate)."""
    png = tmp_path / f"m{np.random.default_rng().integers(1 << 30)}.png"
    cv2.imwrite(str(png), mask.astype(np.uint8) * 255)
    return image2annotation(str(png), label, "tag", "image")["result"][0]


def polygon(points, label, w=W, h=H):
    return {"id": "p", "type": "polygonlabels", "from_name": "poly", "to_name": "image", "original_width": w,
            "original_height": h, "image_rotation": 0,
            "value": {"points": [list(p) for p in points], "closed": True, "polygonlabels": [label]}}


def task(tid, ref, *results, **extra):
    return {"id": tid, "data": {"image": ref},
            "annotations": [{"id": tid * 10, "created_at": "2026-01-01T10:00:00.000000Z",
                             "updated_at": "2026-01-01T10:00:00.000000Z", "was_cancelled": False,
                             "result": list(results)}], "predictions": [], **extra}


@pytest.fixture
def frames(tmp_path):
    """images/ with a PNG, a JPG, a name with a space and one in a subfolder."""
    d = tmp_path / "frames"
    (d / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("vidA_0001.png", "vid B_0003.png", "vidC_0004.jpg", "sub/vidD_0005.png", "big_0001.png"):
        size = (H * 2, W * 2) if name.startswith("big") else (H, W)
        cv2.imwrite(str(d / name), rng.integers(0, 255, (*size, 3), dtype=np.uint8))
    return d


def run(tmp_path, frames, tasks, **kw):
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    return import_export(export, frames, tmp_path / "out", progress=False, **kw)


def label(tmp_path, stem):
    return cv2.imread(str(tmp_path / "out" / "labels" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)


def test_rle_decoder_equals_label_studio_encoder():
    rng = np.random.default_rng(1)
    long_run = np.full(200 * 150 * 4, 255, np.uint8)                   # runs longer than 2**16
    noisy = rng.integers(0, 256, 37 * 23 * 4).astype(np.uint8)          # literal (non-repeat) runs
    gray = np.repeat(cv2.GaussianBlur(blob(30, 20, 12).astype(np.uint8) * 255, (7, 7), 2).ravel(), 4)
    for arr in (long_run, noisy, gray, np.zeros(4, np.uint8)):
        assert np.array_equal(decode_rle(encode_rle(arr)), arr)
    mask = blob(20, 30, 9) * np.uint8(255)
    flat = decode_rle(mask2rle(mask))
    assert flat.size == W * H * 4 and np.array_equal(flat.reshape(H, W, 4)[:, :, 3], mask)
    with pytest.raises(ValueError, match="ends early"):
        decode_rle(encode_rle(noisy)[:40])


def test_reference_styles_name_the_frame():
    assert frame_name_candidates("/data/upload/7/1a2b3c4d-vidA_0001.png")[0] == ["1a2b3c4d-vidA_0001.png",
                                                                                 "vidA_0001.png"]
    assert frame_name_candidates("/data/local-files/?d=endo%2Fcase%201%2Fvid%20B_0003.png")[0] == ["vid B_0003.png"]
    assert frame_name_candidates("https://s3.example.org/b/vid%20B_0003.png?X-Amz-Signature=ab%2Fc&x=1")[0] == \
        ["vid B_0003.png"]
    assert frame_name_candidates("/data/upload/7/not-hex-vidA.png")[0] == ["not-hex-vidA.png"]
    assert frame_name_candidates("/data/local-files/?d=C:%5Cendo%5Ca+b.png")[0] == ["a+b.png", "a b.png"]


def test_brush_and_polygon_masks_from_every_reference_style(tmp_path, frames):
    bone, disc = blob(20, 20, 10), blob(45, 30, 9)
    lig_pts = [(10, 70), (40, 66), (35, 95), (5, 90)]                  # percent of W, H
    tasks = [
        task(1, "/data/upload/7/1a2b3c4d-vidA_0001.png", brush(tmp_path, bone, "bone"), brush(tmp_path, disc, "disc")),
        task(2, "/data/local-files/?d=" + quote("endo/vid B_0003.png", safe=""), polygon(lig_pts, "ligament")),
        task(3, "https://minio.local/bucket/vidC_0004.jpg?X-Amz-Signature=abc%3D&X-Amz-Date=1",
             polygon(lig_pts, "ligament"), brush(tmp_path, bone, "Bone")),      # label case does not matter
        task(4, "/data/local-files/?d=sub/vidD_0005.png", brush(tmp_path, disc, "disc")),
    ]
    report = run(tmp_path, frames, tasks)
    assert sorted(report.written) == ["vid B_0003", "vidA_0001", "vidC_0004", "vidD_0005"]
    assert report.skipped == {} and report.overlap_pixels == 0

    want = np.zeros((H, W), np.uint8)
    want[bone], want[disc] = 1, 3
    assert np.array_equal(label(tmp_path, "vidA_0001"), want)           # brush: pixel for pixel
    assert np.array_equal(label(tmp_path, "vidD_0005"), disc * np.uint8(3))

    # polygon: every pixel centre clearly inside is ligament, clearly outside is not
    corners = [(x * W / 100, y * H / 100) for x, y in lig_pts]
    yy, xx = np.mgrid[:H, :W] + 0.5                                       # pixel centres
    path_inside = Path(corners).contains_points(np.c_[xx.ravel(), yy.ravel()]).reshape(H, W)
    inside = path_inside.astype(np.uint8)
    edge = cv2.dilate(inside, np.ones((3, 3), np.uint8)) != cv2.erode(inside, np.ones((3, 3), np.uint8))
    got = label(tmp_path, "vid B_0003")
    assert set(np.unique(got)) == {0, 2} and np.array_equal((got == 2)[~edge], path_inside[~edge])
    perimeter = sum(np.hypot(x1 - x0, y1 - y0) for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1]))
    assert ((got == 2) != path_inside).sum() < perimeter                   # at most a pixel-wide fringe

    later = label(tmp_path, "vidC_0004")                                  # brush drawn after the polygon
    assert np.array_equal(later == 1, bone) and np.array_equal(later == 2, got == 2)

    # the images sit beside the labels under their own names, ready for read_split
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == \
        ["vid B_0003.png", "vidA_0001.png", "vidC_0004.jpg", "vidD_0005.png"]
    assert len(read_split(tmp_path / "out", "all")) == 4


def test_polygon_raster_is_at_full_size():
    m = polygon_to_mask([(0, 0), (100, 0), (100, 100), (0, 100)], 40, 30)
    assert m.shape == (30, 40) and m.all()
    half = polygon_to_mask([(0, 0), (50, 0), (50, 100), (0, 100)], 40, 30)
    assert 19 <= half[0].sum() <= 21 and half[:, :19].all() and not half[:, 21:].any()


def test_antialiased_brush_takes_half_covered_pixels(tmp_path, frames):
    alpha = cv2.GaussianBlur(blob(30, 24, 12).astype(np.uint8) * 255, (9, 9), 3)
    assert 0 < ((alpha > 0) & (alpha < 255)).sum()                        # soft edge, as the editor draws
    item = {"type": "brushlabels", "original_width": W, "original_height": H,
            "value": {"format": "rle", "rle": encode_rle(np.repeat(alpha.ravel(), 4)), "brushlabels": ["disc"]}}
    report = run(tmp_path, frames, [task(1, "/data/upload/1/vidA_0001.png", item)])
    assert report.written == ["vidA_0001"]
    assert np.array_equal(label(tmp_path, "vidA_0001") == 3, alpha >= ALPHA_THRESHOLD)


def test_newest_annotation_wins_cancelled_ignored_predictions_only_without_annotations(tmp_path, frames):
    bone, disc = blob(20, 20, 10), blob(45, 30, 9)
    t1 = task(1, "/data/upload/1/vidA_0001.png", brush(tmp_path, bone, "bone"))
    t1["annotations"] += [
        {"id": 12, "updated_at": "2026-03-01T00:00:00Z", "was_cancelled": False, "result": [brush(tmp_path, disc, "disc")]},
        {"id": 13, "updated_at": "2026-05-01T00:00:00Z", "was_cancelled": True, "result": [brush(tmp_path, bone, "ligament")]}]
    t1["predictions"] = [{"id": 1, "result": [brush(tmp_path, bone, "ligament")]}]
    t2 = {"id": 2, "data": {"image": "/data/upload/1/vidD_0005.png"}, "annotations": [],
          "predictions": [{"id": 5, "created_at": "2026-01-01T00:00:00Z", "result": [brush(tmp_path, bone, "disc")]},
                          {"id": 6, "created_at": "2026-02-01T00:00:00Z", "result": [brush(tmp_path, disc, "bone")]}]}
    t3 = task(3, "/data/upload/1/vidC_0004.jpg", brush(tmp_path, bone, "bone"))
    t3["annotations"][0]["was_cancelled"] = True
    t3["predictions"] = [{"id": 7, "result": [brush(tmp_path, bone, "disc")]}]
    report = run(tmp_path, frames, [t1, t2, t3])
    assert np.array_equal(label(tmp_path, "vidA_0001"), disc * np.uint8(3))       # annotation 12: newest kept
    assert np.array_equal(label(tmp_path, "vidD_0005"), disc * np.uint8(1))       # newest prediction
    assert report.from_predictions == 1
    assert list(report.skipped) == ["all annotations cancelled"]                  # a skipped task is not relabelled
    assert not (tmp_path / "out" / "labels" / "vidC_0004.png").exists()


def test_overlap_later_wins_counts_pixels_or_error_raises(tmp_path, frames):
    a, b = blob(25, 24, 10), blob(35, 24, 10)
    n = int((a & b).sum())
    t = [task(1, "/data/upload/1/vidA_0001.png", brush(tmp_path, a, "bone"), brush(tmp_path, b, "disc"))]
    report = run(tmp_path, frames, t)
    got = label(tmp_path, "vidA_0001")
    assert report.overlap_pixels == n > 0 and report.overlap_frames == 1
    assert np.array_equal(got == 3, b) and np.array_equal(got == 1, a & ~b)
    assert f"overlaps: {n} pixels in 1 frames" in report.summary()
    assert f"task 1 (vidA_0001.png): {n} pixels (bone vs disc {n})" in report.summary()

    (tmp_path / "out" / "labels" / "vidA_0001.png").unlink()
    with pytest.raises(DataError, match=rf"task 1 \(vidA_0001.png\): {n} pixels claimed by two classes "
                                        rf"\(bone vs disc {n}\); --on-overlap error"):
        run(tmp_path, frames, t, on_overlap="error")
    assert not (tmp_path / "out" / "labels" / "vidA_0001.png").exists()
    # the same class painted twice is not a conflict
    same = run(tmp_path, frames, [task(1, "/data/upload/1/vidA_0001.png", brush(tmp_path, a, "bone"),
                                       brush(tmp_path, b, "bone"))], on_overlap="error")
    assert same.written == ["vidA_0001"] and same.overlap_pixels == 0


def test_every_problem_is_counted_named_and_never_written(tmp_path, frames):
    bone = blob(20, 20, 10)
    small = brush(tmp_path, blob(10, 10, 5, w=32, h=24), "bone")
    small["original_width"], small["original_height"] = W, H                  # claims the right size, RLE is not
    faint = brush(tmp_path, bone, "bone")
    faint["value"]["rle"] = mask2rle(bone.astype(np.uint8))                    # a 0/1 mask: alpha is 1
    rect = {"type": "rectanglelabels", "original_width": W, "original_height": H,
            "value": {"x": 1, "y": 1, "width": 10, "height": 10, "rectanglelabels": ["bone"]}}
    tasks = [
        task(1, "/data/upload/1/vidA_0001.png", brush(tmp_path, bone, "nerve")),             # unknown label
        task(2, "/data/upload/1/ab12cd34-missing_0007.png", brush(tmp_path, bone, "bone")),  # no such frame
        {"id": 3, "data": {"image": "/data/upload/1/vidA_0001.png"}, "annotations": [], "predictions": []},
        task(4, "/data/upload/1/vidA_0001.png"),                                            # empty result
        task(5, "/data/upload/1/big_0001.png", brush(tmp_path, bone, "bone")),              # 64x48 vs 128x96
        task(6, "/data/upload/1/vidD_0005.png", small),                                     # RLE of 32x24
        task(7, "/data/upload/1/vidC_0004.jpg", faint),
        task(8, "/data/upload/1/vidA_0001.png", rect),
        task(9, "/data/upload/1/vid%20B_0003.png", brush(tmp_path, bone, "bone")),           # fine
        task(10, "/data/upload/1/vid%20B_0003.png", brush(tmp_path, bone, "disc")),          # same frame again
        {"id": 11, "data": {"text": "a", "other": "b"}, "annotations": []},                 # no image
    ]
    report = run(tmp_path, frames, tasks)
    counts = {k: len(v) for k, v in report.skipped.items()}
    assert counts == {"unknown label": 1, "image not found": 2, "not annotated": 1, "empty annotation": 1,
                      "size mismatch": 2, "bad region": 1, "unsupported region": 1, "duplicate frame": 1}
    assert report.written == ["vid B_0003"] and report.tasks == 11
    msgs = "\n".join(m for v in report.skipped.values() for m in v)
    for words in ("task 1 (vidA_0001.png) region 1: label 'nerve' is not in --labels bone,ligament,disc",
                  "no file named ab12cd34-missing_0007.png or missing_0007.png",
                  "annotated at 64x48, image file is 128x96", "RLE holds 768 pixels, image file is 64x48",
                  "only faint pixels", "rectanglelabels regions cannot be imported",
                  "already imported from task 9", "task 11: no data.image reference"):
        assert words in msgs
    assert sorted(p.stem for p in (tmp_path / "out" / "labels").iterdir()) == ["vid B_0003"]
    summary = report.summary().splitlines()
    assert summary[0].startswith("Label Studio import: 1 of 11 tasks written")
    assert summary[1].startswith("skipped 10: unknown label 1, image not found 2")
    i = summary.index("  image not found:")                              # examples grouped by reason
    assert summary[i + 1].startswith("    task 2 (missing_0007.png)") and summary[i + 2].startswith("    task 11")


def test_more_problems_no_traceback_and_no_background_only_mask(tmp_path, frames):
    tiny = polygon([(103, 50), (104, 50), (103.5, 60)], "bone")               # just right of the image
    blank = brush(tmp_path, blob(20, 20, 10), "bone")
    blank["value"]["rle"] = mask2rle(np.zeros((H, W), np.uint8))           # an erased stroke
    rotated = polygon([(10, 10), (50, 10), (50, 50)], "bone")
    rotated["image_rotation"] = 90
    odd = polygon([(10, 10), (50, 10), (50, 50)], "bone")
    odd["original_width"] = "wide"
    tasks = [task(1, "/data/upload/1/vidA_0001.png", blank),
             task(2, "/data/upload/1/vidD_0005.png", tiny),
             task(3, "/data/upload/1/vidC_0004.jpg", rotated),
             task(4, "/data/upload/1/vidA_0001.png", odd),
             {"id": 5, "data": ["not", "a", "dict"], "annotations": []},
             task(6, "/data/upload/1/vidA_0001.png", {"type": "brushlabels", "value": {"brushlabels": ["bone"]}}),
             task(7, "/data/upload/1/vidA_0001.png", polygon([(1e30, 2), (3, 4), (5, 60)], "bone")),
             task(8, "/data/upload/1/vidA_0001.png", polygon({"x": 1}, "bone")),
             task(9, "http://[broken/vidA_0001.png", {"type": "polygonlabels", "value": {"polygonlabels": ["bone"]}})]
    report = run(tmp_path, frames, tasks)
    assert report.written == [] and not any((tmp_path / "out" / "labels").iterdir())
    counts = {k: len(v) for k, v in report.skipped.items()}
    assert counts == {"empty annotation": 2, "unsupported region": 1, "bad region": 5, "image not found": 1}
    msgs = "\n".join(m for v in report.skipped.values() for m in v)
    for words in ("cover no pixel; not written as all background", "rotated by 90 degrees",
                  "original size 'wide'", "without an 'rle' list", "far outside the image",
                  "must be [x, y] number pairs", "task 9 (vidA_0001.png) region 1 (bone): polygon needs 3+"):
        assert words in msgs


def test_newest_by_real_time_not_by_text(tmp_path, frames):
    bone, disc = blob(20, 20, 10), blob(45, 30, 9)
    t = task(1, "/data/upload/1/vidA_0001.png")
    t["annotations"] = [   # same instant, other spellings; the +02:00 one is 2 h *earlier* than it reads
        {"id": 9, "updated_at": "2026-01-01T10:00:00.500Z", "result": [brush(tmp_path, disc, "disc")]},
        {"id": 3, "updated_at": "2026-01-01T11:00:00+02:00", "result": [brush(tmp_path, bone, "bone")]},
        {"id": 4, "created_at": "2026-01-01T10:00:00Z", "result": [brush(tmp_path, bone, "ligament")]}]
    run(tmp_path, frames, [t])
    assert np.array_equal(label(tmp_path, "vidA_0001"), disc * np.uint8(3))


def test_stale_labels_from_an_earlier_run_are_reported(tmp_path, frames):
    (tmp_path / "out" / "labels").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "out" / "labels" / "old_0001.png"), np.zeros((H, W), np.uint8))
    report = run(tmp_path, frames, [task(1, "/data/upload/1/vidA_0001.png", brush(tmp_path, blob(9, 9, 5), "disc"))])
    assert report.written == ["vidA_0001"] and report.stale_labels == ["old_0001"]
    assert "1 label PNGs" in report.summary() and "old_0001" in report.summary()


def test_bad_inputs_raise_our_errors(tmp_path, frames):
    export = tmp_path / "e.json"
    with pytest.raises(DataError, match="e.json: export file not found"):
        import_export(export, frames, tmp_path / "o", progress=False)
    export.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        import_export(export, frames, tmp_path / "o", progress=False)
    export.write_text(json.dumps([{"image": "/data/upload/1/a.png", "tag": []}]))
    with pytest.raises(DataError, match="JSON-MIN"):
        import_export(export, frames, tmp_path / "o", progress=False)
    export.write_text("[]")
    with pytest.raises(DataError, match="images folder not found"):
        import_export(export, tmp_path / "nope", tmp_path / "o", progress=False)
    with pytest.raises(ConfigError, match="distinct"):
        import_export(export, frames, tmp_path / "o", labels=["bone", "Bone"], progress=False)
    with pytest.raises(ConfigError, match="on-overlap"):
        import_export(export, frames, tmp_path / "o", on_overlap="first-wins", progress=False)


def test_cli_import_prints_summary_and_exit_codes(tmp_path, frames, capsys):
    export = tmp_path / "export.json"
    export.write_text(json.dumps([task(1, "/data/upload/3/0badf00d-vidA_0001.png",
                                       brush(tmp_path, blob(20, 20, 8), "ligament"))]))
    out = tmp_path / "ds"
    assert main(["import-labelstudio", str(export), "--images", str(frames), "--out", str(out),
                 "--labels", "bone, ligament ,disc"]) == 0
    assert "1 of 1 tasks written" in capsys.readouterr().out
    assert cv2.imread(str(out / "labels" / "vidA_0001.png"), cv2.IMREAD_UNCHANGED).max() == 2
    export.write_text(json.dumps([task(1, "/data/upload/3/nothing.png", brush(tmp_path, blob(20, 20, 8), "bone"))]))
    assert main(["import-labelstudio", str(export), "--images", str(frames), "--out", str(out)]) == 1
    assert "image not found 1" in capsys.readouterr().out
    assert main(["import-labelstudio", str(tmp_path / "gone.json"), "--images", str(frames), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gone.json: export file not found" in err
    coco = tmp_path / "coco.json"                                         # some other tool's JSON
    coco.write_text(json.dumps({"images": [{"file_name": "vidA_0001.png"}], "annotations": []}))
    assert main(["import-labelstudio", str(coco), "--images", str(frames), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "coco.json" in err and "Traceback" not in err
    a, b = blob(25, 24, 10), blob(35, 24, 10)
    export.write_text(json.dumps([task(1, "/data/upload/3/vidA_0001.png", brush(tmp_path, a, "bone"),
                                       brush(tmp_path, b, "disc"))]))
    assert main(["import-labelstudio", str(export), "--images", str(frames), "--out", str(out),
                 "--on-overlap", "error"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bone vs disc" in err and "Traceback" not in err


def annotated(aid, who, *results, updated="2026-01-01T10:00:00Z", **extra):
    """One annotation as Label Studio exports it: `completed_by` an id or a user object."""
    return {"id": aid, "completed_by": who, "updated_at": updated, "was_cancelled": False,
            "result": list(results), **extra}


def test_per_annotator_writes_one_reader_folder_each(tmp_path, frames, capsys):
    a_bone, b_bone, disc = blob(20, 20, 10), blob(22, 21, 12), blob(45, 30, 9)
    senior = {"id": 3, "email": "dr.senior@hospital.org", "first_name": "", "last_name": ""}
    t1 = {"id": 1, "data": {"image": "/data/upload/1/0badf00d-vidA_0001.png"}, "predictions": [], "annotations": [
        annotated(11, senior, brush(tmp_path, a_bone, "bone")),
        annotated(12, 7, brush(tmp_path, b_bone, "bone"), created_username=" junior@hospital.org, 7"),
        annotated(13, 7, brush(tmp_path, disc, "disc"), updated="2025-01-01T00:00:00Z",     # older: not taken
                  created_username=" junior@hospital.org, 7")]}
    t2 = {"id": 2, "data": {"image": "/data/local-files/?d=frames/vidD_0005.png"}, "predictions": [], "annotations": [
        annotated(21, senior, brush(tmp_path, disc, "disc")),
        annotated(22, 7, brush(tmp_path, disc, "ligament"), created_username=" junior@hospital.org, 7"),
        annotated(23, 9, brush(tmp_path, disc, "bone"), was_cancelled=True)]}           # cancelled: no reader
    t3 = task(3, "/data/upload/1/vidC_0004.jpg")
    t3["annotations"] = [annotated(31, 12, brush(tmp_path, disc, "disc"))]            # only a user id
    report = run(tmp_path, frames, [t1, t2, t3], per_annotator=True)
    readers = tmp_path / "out" / "readers"
    assert sorted(p.name for p in readers.iterdir() if p.is_dir()) == ["dr.senior@hospital.org", "junior@hospital.org",
                                                                        "user12"]
    got = lambda who, stem: cv2.imread(str(readers / who / "labels" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(got("dr.senior@hospital.org", "vidA_0001"), a_bone * np.uint8(1))
    assert np.array_equal(got("junior@hospital.org", "vidA_0001"), b_bone * np.uint8(1))
    assert np.array_equal(got("dr.senior@hospital.org", "vidD_0005"), disc * np.uint8(3))
    assert np.array_equal(got("junior@hospital.org", "vidD_0005"), disc * np.uint8(2))
    assert report.readers == {"dr.senior@hospital.org": 2, "junior@hospital.org": 2, "user12": 1}
    assert not report.skipped and not (tmp_path / "out" / "labels").exists()   # no single "truth" was written
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == ["vidA_0001.png", "vidC_0004.jpg",
                                                                                "vidD_0005.png"]
    listed = json.loads((readers / "readers.json").read_text())
    assert listed["junior@hospital.org"] == {"frames": 2, "annotators": ["junior@hospital.org 7"]}

    # a mapping file names groups (ids or e-mails as keys): readers/<group>/<annotator>/labels
    mapping = tmp_path / "groups.yml"
    mapping.write_text("DR.Senior@hospital.org: senior\n7: junior\n")
    export = tmp_path / "export.json"
    out = tmp_path / "grouped"
    assert main(["import-labelstudio", str(export), "--images", str(frames), "--out", str(out),
                 "--per-annotator", "--annotator-groups", str(mapping)]) == 0
    text = capsys.readouterr().out
    assert "readers under" in text and "junior/junior@hospital.org 2, senior/dr.senior@hospital.org 2, user12 1" in text
    assert np.array_equal(cv2.imread(str(out / "readers" / "junior" / "junior@hospital.org" / "labels" / "vidD_0005.png"),
                                     cv2.IMREAD_UNCHANGED), disc * np.uint8(2))
    # two annotators of one group who labelled the same frames: both kept, side by side
    report = import_export(export, frames, tmp_path / "two", progress=False, per_annotator=True,
                           annotator_groups={"dr.senior@hospital.org": "senior", "7": "senior"})
    assert report.readers == {"senior/dr.senior@hospital.org": 2, "senior/junior@hospital.org": 2, "user12": 1}
    assert not report.skipped and report.unmapped == ["user12"] and "not in the mapping file" in report.summary()
    assert json.loads((tmp_path / "two" / "readers" / "readers.json").read_text())["senior/junior@hospital.org"] == \
        {"frames": 2, "annotators": ["junior@hospital.org 7"]}


def test_per_annotator_without_names_and_bad_mapping(tmp_path, frames, capsys):
    t = {"id": 1, "data": {"image": "/data/upload/1/vidA_0001.png"}, "predictions": [
            {"id": 5, "result": [brush(tmp_path, blob(9, 9, 5), "bone")]}], "annotations": [
        {"id": 4, "result": [brush(tmp_path, blob(20, 20, 10), "bone")]}]}            # no annotator at all
    t2 = {"id": 2, "data": {"image": "/data/upload/1/vidD_0005.png"}, "annotations": [],
          "predictions": [{"id": 6, "result": [brush(tmp_path, blob(9, 9, 5), "bone")]}]}
    report = run(tmp_path, frames, [t, t2], per_annotator=True)
    assert report.readers == {"unknown": 1}                           # predictions never become a reader
    assert report.skipped == {"not annotated": ["task 2 (vidD_0005.png): no annotation"]}
    bad = tmp_path / "bad.yml"
    bad.write_text("- a\n- b\n")
    export = tmp_path / "export.json"
    assert main(["import-labelstudio", str(export), "--images", str(frames), "--out", str(tmp_path / "o"),
                 "--per-annotator", "--annotator-groups", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.yml: expected a mapping" in err
    with pytest.raises(ConfigError, match="needs --per-annotator"):
        import_export(export, frames, tmp_path / "o", progress=False, annotator_groups=bad)
