"""`predict` over a video library: dataset + Label Studio pre-annotations checked with label-studio-sdk's
own RLE encoder/decoder, the exact round trip through import-labelstudio, uncertainty selection,
failed videos, and identical outputs in one process, a process pool and a local Ray."""
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from label_studio_sdk.converter import brush

from fixtures_media import make_clip, truncate
from surgical_seg.apps.cli import main
from surgical_seg.data.library import expand_sources
from surgical_seg.apps.predict import Sampler, run_predict, select_uncertain
from surgical_seg.data.ls_tasks import encode_rle, mask_to_rle


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Three short H.264 clips of different lengths in one folder."""
    d = tmp_path_factory.mktemp("library")
    for name, n in (("caseA", 12), ("caseB", 9), ("caseC", 15)):
        make_clip(d / f"{name}.mp4", n=n, size=(160, 120))
    return d


def read_png(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def sdk_labels(task: dict, class_names: list[str]) -> np.ndarray:
    """A task's prediction rendered to class ids with label-studio-sdk's decoder."""
    pred = task["predictions"][0]["result"]
    h, w = pred[0]["original_height"], pred[0]["original_width"]
    out = np.zeros((h, w), np.uint8)
    for r in pred:
        alpha = brush.decode_rle(r["value"]["rle"]).reshape(h, w, 4)[:, :, 3]
        out[alpha >= 128] = class_names.index(r["value"]["brushlabels"][0])
    return out


def test_rle_is_byte_identical_to_the_sdk_encoder():
    rng = np.random.default_rng(0)
    masks = [rng.random((37, 53)) < 0.5, np.zeros((60, 80), bool), np.ones((300, 300), bool),
             np.pad(np.ones((100, 200), bool), 40)]
    for m in masks:
        assert mask_to_rle(m) == brush.mask2rle(m.astype(np.uint8) * 255)
        back = brush.decode_rle(mask_to_rle(m)).reshape(*m.shape, 4)
        assert (back == (m * 255)[..., None]).all()
    runs = np.repeat(np.array([3, 3, 9, 200, 7], np.uint8), [70000, 1, 131072, 300, 1])   # runs past 2**16
    assert encode_rle(runs) == brush.encode_rle(runs)


def test_sources_expand_from_folder_glob_and_manifest(library, tmp_path):
    jobs = expand_sources([str(library)])
    assert [j.name for j in jobs] == ["caseA", "caseB", "caseC"]
    assert [j.name for j in expand_sources([str(library / "case[AB].mp4"), str(library / "caseA.mp4")])] == \
        ["caseA", "caseB", "caseA-2"]
    man = tmp_path / "lib.csv"
    man.write_text(f"source,name,truth\n{library / 'caseB.mp4'},bee,\nsub/x.mp4,,t/x\n")
    jobs = expand_sources([str(man)])
    assert (jobs[0].name, jobs[1].source, jobs[1].truth) == ("bee", str(tmp_path / "sub/x.mp4"), str(tmp_path / "t/x"))


def test_sampler_every_and_fps():
    every = Sampler(4, None, 30.0)
    assert [i for i in range(10) if every(i, None)] == [0, 4, 8]
    fps = Sampler(None, 2.0, 30.0)
    assert [i for i in range(61) if fps(i, i / 30.0)] == [0, 15, 30, 45, 60]


def test_predict_labelstudio_tasks_equal_the_pngs_and_round_trip_exactly(library, tiny_model_dir, tmp_path):
    out = tmp_path / "pred"
    tasks_path = out / "tasks.json"
    assert main(["predict", "--no-privacy-gate", str(library), "--model", str(tiny_model_dir), "--every", "3", "--out", str(out),
                 "--labelstudio", str(tasks_path), "--workers", "1"]) == 0
    names = sorted(p.stem for p in (out / "labels").glob("*.png"))
    assert names[:4] == ["caseA_000000", "caseA_000003", "caseA_000006", "caseA_000009"] and len(names) == 4 + 3 + 5
    classes = (out / "classes.yml").read_text()
    assert "name: disc" in classes and "ignore: 255" in classes
    tasks = json.loads(tasks_path.read_text())
    assert len(tasks) == len(names)
    card_names = ["background", "bone", "ligament", "disc"]
    for task in tasks:
        stem = Path(task["data"]["image"].split("?d=")[1]).stem
        assert task["data"]["image"] == f"/data/local-files/?d=pred/images/{stem}.png"   # under OUT's parent
        assert (tmp_path / "pred" / "images" / f"{stem}.png").is_file()
        pred = task["predictions"][0]
        assert pred["model_version"].startswith("tiny_fastscnn-") and len(pred["model_version"]) == len("tiny_fastscnn-") + 10
        assert 0.25 < pred["score"] <= 1.0
        np.testing.assert_array_equal(sdk_labels(task, card_names), read_png(out / "labels" / f"{stem}.png"))
    assert sum(len(t["predictions"][0]["result"]) for t in tasks) > len(tasks)   # several classes per frame
    assert "<BrushLabels" in (out / "labeling_config.xml").read_text()

    # Label Studio exports the tasks unchanged: the import gives back exactly the predicted PNGs
    back = tmp_path / "back"
    assert main(["import-labelstudio", str(tasks_path), "--images", str(out / "images"), "--out", str(back)]) == 0
    for stem in names:
        np.testing.assert_array_equal(read_png(back / "labels" / f"{stem}.png"), read_png(out / "labels" / f"{stem}.png"))
    assert (back / "classes.yml").read_text() == classes
    with (out / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["name"], r["status"], r["frames_decoded"], r["frames_sampled"]) for r in rows] == \
        [("caseA", "ok", "12", "4"), ("caseB", "ok", "9", "3"), ("caseC", "ok", "15", "5")]
    assert (out / "summary.png").stat().st_size > 1000 and "frames/s" in (out / "summary.md").read_text()


def test_select_uncertain_takes_the_least_sure_frames_spread_over_videos(library, tiny_model_dir, tmp_path):
    recs = [{"name": f"{v}_{i}", "video": v, "margin": m} for v, ms in
            (("a", [0.1, 0.2, 0.3]), ("b", [0.5, 0.6]), ("c", [0.05])) for i, m in enumerate(ms)]
    assert [r["name"] for r in select_uncertain(recs, 4)] == ["c_0", "a_0", "b_0", "a_1"]

    out = tmp_path / "sel"
    totals = run_predict([str(library)], str(tiny_model_dir), out, every=1, select=5, workers=1, progress=False, privacy=False)
    assert totals["written"] == 5 and not (out / ".pool").exists()
    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 + 9 + 15
    chosen = [r for r in rows if r["selected"] == "1"]
    assert {r["video"] for r in chosen} == {"caseA", "caseB", "caseC"}
    for v in ("caseA", "caseB", "caseC"):                    # each video's least sure frame is among them
        least = min((r for r in rows if r["video"] == v), key=lambda r: float(r["margin"]))
        assert least["selected"] == "1"
    assert sorted(p.stem for p in (out / "images").glob("*.png")) == sorted(r["name"] for r in chosen)


def test_a_failed_video_is_reported_and_the_rest_go_on(library, tiny_model_dir, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    truncate(library / "caseC.mp4", bad / "cut.mp4", 0.02)
    rc = main(["predict", "--no-privacy-gate", str(library / "caseA.mp4"), str(bad / "empty.mp4"), str(bad / "cut.mp4"),
               "--model", str(tiny_model_dir), "--every", "4", "--out", str(tmp_path / "o"), "--workers", "2"])
    assert rc == 1
    with (tmp_path / "o" / "summary.csv").open() as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert rows["caseA"]["status"] == "ok" and rows["caseA"]["frames_sampled"] == "3"
    assert rows["empty"]["status"] == "failed" and "empty" in rows["empty"]["error"]
    assert rows["cut"]["status"] == "failed"
    assert len(list((tmp_path / "o" / "labels").glob("*.png"))) == 3
    assert "Traceback" not in capsys.readouterr().err


def _outputs(out: Path) -> tuple[dict, list]:
    labels = {p.name: read_png(p) for p in sorted((out / "labels").glob("*.png"))}
    with (out / "predictions.csv").open() as f:
        return labels, list(csv.DictReader(f))


def test_pool_and_local_ray_give_the_same_outputs_as_one_process(library, tiny_model_dir, tmp_path):
    ray = pytest.importorskip("ray")
    one = run_predict([str(library)], str(tiny_model_dir), tmp_path / "one", every=2, workers=1, progress=False, privacy=False)
    pool = run_predict([str(library)], str(tiny_model_dir), tmp_path / "pool", every=2, workers=2, progress=False, privacy=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)       # a small local Ray for CI's 2 cores
    try:
        on_ray = run_predict([str(library)], str(tiny_model_dir), tmp_path / "ray", every=2, ray="auto",
                             progress=False, privacy=False)
    finally:
        ray.shutdown()
    assert not ray.is_initialized()
    ref_labels, ref_rows = _outputs(tmp_path / "one")
    assert len(ref_labels) == 6 + 5 + 8
    for other in ("pool", "ray"):
        labels, rows = _outputs(tmp_path / other)
        assert list(labels) == list(ref_labels) and rows == ref_rows
        for name in labels:
            np.testing.assert_array_equal(labels[name], ref_labels[name])
    assert one["frames_decoded"] == pool["frames_decoded"] == on_ray["frames_decoded"] == 36


def test_bench_replays_a_library_in_parallel_with_one_merged_summary(library, tiny_model_dir, tmp_path):
    out = tmp_path / "bench"
    rc = main(["bench", str(library / "case*.mp4"), str(tmp_path / "missing.mp4"), "--model", str(tiny_model_dir),
               "--backend", "onnxruntime", "--workers", "2", "--out", str(out)])
    assert rc == 1                                              # one video failed, the others ran
    with (out / "library.csv").open() as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    assert [rows[n]["frames_out"] for n in ("caseA", "caseB", "caseC")] == ["12", "9", "15"]
    assert all(float(rows[n]["fps"]) > 0 and float(rows[n]["overlay_age_p95_ms"]) > 0 for n in ("caseA", "caseB", "caseC"))
    assert rows["missing"]["status"] == "failed" and "no such file" in rows["missing"]["error"]
    for n in ("caseA", "caseB", "caseC"):
        assert json.loads((out / n / "summary.json").read_text())["frames_out"] == int(rows[n]["frames_out"])
    md = (out / "compare.md").read_text()
    assert "| caseB |" in md and "3 of 4 runs ok; 36 frames" in md and (out / "compare.png").is_file()
