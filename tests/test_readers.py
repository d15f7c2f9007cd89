"""Reader study (`readers`, `synth --readers`): figures checked against scikit-learn and scipy on the
same data, the real tiny exported model, real synthetic frames and readers."""
import json

import cv2
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, f1_score, jaccard_score, precision_score, recall_score

from surgical_seg.apps.cli import main
from surgical_seg.errors import ConfigError, DataError
from surgical_seg.evaluation.reader_stats import FleissAccumulator, fleiss_kappa, non_inferiority
from surgical_seg.evaluation.readers import score_readers
from surgical_seg.data.synth_readers import PROFILES, perturb, write_readers

FG = [1, 2, 3]
FAST = 999          # resamples: enough for the checks, quick on two cores


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """16 synthetic frames (160x96), their truth, and three synthetic readers of graded skill."""
    root = tmp_path_factory.mktemp("readers")
    data = root / "ds"
    assert main(["synth", "--out", str(data), "--images", "16", "--seed", "9", "--size", "160x96"]) == 0
    assert main(["synth", "--readers", str(data), "--out", str(root / "readers"), "--seed", "3"]) == 0
    return data, root / "readers"


def load(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def stems(data):
    return sorted(p.stem for p in (data / "labels").glob("*.png"))


def sk_frame_iou(truth, pred):
    """Per-frame mean IoU by scikit-learn over the classes present in truth or prediction."""
    keep = truth != 255
    t, p = truth[keep], np.where(pred[keep] == 255, 0, pred[keep])
    present = [k for k in FG if (t == k).any() or (p == k).any()]
    return float(np.mean(jaccard_score(t, p, labels=present, average=None))) if present else np.nan


def test_figures_match_sklearn_and_scipy(study):
    data, readers = study
    res = score_readers(data, [f"junior={readers / 'junior'}"], model_labels=readers / "senior",
                        n_resamples=FAST, progress=False)
    assert res["frames"] == 16 and res["readers"] == ["junior"] and res["unit"] == "frame"
    truth = [load(data / "labels" / f"{s}.png") for s in stems(data)]
    for name, folder in (("junior", readers / "junior"), ("model", readers / "senior")):
        preds = [load(folder / "labels" / f"{s}.png") for s in stems(data)]
        t = np.concatenate([a[a != 255] for a in truth])
        p = np.concatenate([np.where(b == 255, 0, b)[a != 255] for a, b in zip(truth, preds)])
        got = res["raters"][name]
        for fn, key in ((jaccard_score, "iou"), (f1_score, "dice"), (precision_score, "precision"),
                        (recall_score, "recall")):
            want = fn(t, p, labels=FG, average=None)          # every class occurs: no 0/0
            assert [got["per_class"][c][key] for c in ("bone", "ligament", "disc")] == pytest.approx(want, abs=1e-12)
            assert got["mean"][key] == pytest.approx(np.nanmean(want), abs=1e-12)
            low, high = got["ci95"][key]["mean"]
            assert low < got["mean"][key] < high
        per_frame = [sk_frame_iou(a, b) for a, b in zip(truth, preds)]
        assert res["per_frame_iou"][name] == pytest.approx(per_frame, abs=1e-12)
        assert got["per_frame_iou"]["mean"] == pytest.approx(np.nanmean(per_frame), abs=1e-12)
    m, r = np.array(res["per_frame_iou"]["model"]), np.array(res["per_frame_iou"]["junior"])
    c = res["comparisons"]["junior"]
    assert c["wilcoxon_p"] == pytest.approx(stats.wilcoxon(m, r, zero_method="zsplit").pvalue, rel=1e-12)
    assert c["mean_difference"] == pytest.approx((m - r).mean(), abs=1e-12)
    # a senior-like "model" against a junior: clearly better, by both tests, and non-inferior
    assert c["mean_difference"] > 0.05 and c["wilcoxon_p"] < 0.01 and c["permutation_p"] < 0.01
    assert c["difference_ci95"][0] > 0 and c["non_inferiority"] == "non-inferior"

    # agreement: pairwise IoU is scikit-learn's Jaccard of one rater against the other; with two raters
    # Fleiss' kappa is Scott's pi (chance agreement from the pooled marginals)
    a = np.concatenate([np.where(b == 255, 0, b)[t != 255] for t, b in
                        zip(truth, [load(readers / "junior" / "labels" / f"{s}.png") for s in stems(data)])])
    b = np.concatenate([np.where(b == 255, 0, b)[t != 255] for t, b in
                        zip(truth, [load(readers / "senior" / "labels" / f"{s}.png") for s in stems(data)])])
    ag = res["agreement"]
    assert ag["raters"] == ["junior", "model"]
    assert ag["mean_iou"][0][1] == pytest.approx(np.mean(jaccard_score(a, b, labels=FG, average=None)), abs=1e-12)
    pooled = np.bincount(np.r_[a, b], minlength=4) / (2 * len(a))
    po, pe = (a == b).mean(), (pooled ** 2).sum()
    assert ag["fleiss_kappa_with_model"] == pytest.approx((po - pe) / (1 - pe), abs=1e-12)
    assert ag["fleiss_kappa_readers"] is None                          # one reader: no agreement among readers


def test_fleiss_kappa_worked_example_and_cohen_when_marginals_match():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa 0.210
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=5e-5)
    # two raters whose class totals agree: Fleiss' kappa equals Cohen's kappa (scikit-learn)
    rng = np.random.default_rng(4)
    a = rng.integers(0, 4, 5000)
    b = a.copy()
    swap1, swap2 = np.flatnonzero(a == 1)[:300], np.flatnonzero(a == 2)[:300]
    b[swap1], b[swap2] = 2, 1                                           # same marginals, 600 disagreements
    acc = FleissAccumulator(4)
    acc.add(np.stack([a[:2000], b[:2000]]))                               # fed in two chunks, as frames
    acc.add(np.stack([a[2000:], b[2000:]]))
    assert acc.kappa() == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert non_inferiority(-0.01, -0.03, 0.01, 0.05) == "non-inferior"
    assert non_inferiority(-0.09, -0.12, -0.06, 0.05) == "inferior"
    assert non_inferiority(-0.04, -0.07, -0.01, 0.05) == "inconclusive"


def test_model_identical_to_a_reader_and_a_perfect_reader(tmp_path, study, tiny_model_dir, capsys):
    """The real tiny model: a reader who drew exactly its output gives p = 1 and agreement 1.0; a reader
    who drew the truth is found significantly better than the (random-weight) model."""
    data, readers = study
    twin = tmp_path / "twin"
    assert main(["eval", "--data", str(data), "--split", "all", "--model", str(tiny_model_dir),
                 "--predictions", str(twin)]) == 0
    out_json, report = tmp_path / "r.json", tmp_path / "rep"
    assert main(["readers", "--truth", str(data), "--reader", f"twin={twin}", "--reader", f"perfect={data}",
                 "--reader", f"junior={readers / 'junior'}", "--model", str(tiny_model_dir), "--resamples",
                 str(FAST), "--json", str(out_json), "--report", str(report)]) == 0
    res = json.loads(out_json.read_text())
    same, best = res["comparisons"]["twin"], res["comparisons"]["perfect"]
    assert same["mean_difference"] == 0.0 and same["wilcoxon_p"] == pytest.approx(1.0)
    assert same["permutation_p"] == pytest.approx(1.0) and same["difference_ci95"] == [0.0, 0.0]
    assert same["non_inferiority"] == "non-inferior"
    ag = res["agreement"]
    i, j = ag["raters"].index("twin"), ag["raters"].index("model")
    assert ag["mean_iou"][i][j] == 1.0 and ag["pixel_agreement"][i][j] == 1.0
    assert res["raters"]["twin"]["mean"] == res["raters"]["model"]["mean"]
    assert res["raters"]["perfect"]["mean"]["iou"] == 1.0
    assert res["raters"]["perfect"]["spurious_classes"] == res["raters"]["perfect"]["missed_classes"] == 0
    spurious = sum(int((cv2.imread(str(twin / f"{s}.png"), cv2.IMREAD_UNCHANGED)[t != 255] == k).any()
                       and not (t == k).any()) for s in stems(data) for t in [load(data / "labels" / f"{s}.png")]
                   for k in FG)
    assert res["raters"]["model"]["spurious_classes"] == spurious
    assert best["mean_difference"] < -0.3 and best["wilcoxon_p"] < 0.001 and best["permutation_p"] < 0.01
    assert best["non_inferiority"] == "inferior"
    assert res["model"] == "tiny_fastscnn" and res["backend"] == "openvino"

    text = (report / "report.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "IoU" not in line]
    assert rows[0].startswith("| perfect | 100.0 | 100.0 | 100.0 | **100.0**")     # best first, like the study
    assert any(r.startswith("| **model (tiny_fastscnn)** |") for r in rows)
    assert "model − twin: per-frame mean IoU +0.0 points" in text and "Fleiss' kappa over pixels" in text
    for png in ("per_frame_iou.png", "agreement.png"):
        img = cv2.imread(str(report / png))
        assert img is not None and img.shape[0] > 300 and img.std() > 5
    printed = capsys.readouterr().out
    assert "model − perfect:" in printed and "significant difference at 0.05" in printed


def test_bootstrap_over_videos_when_frames_are_grouped(study):
    data, readers = study
    # frames s9p000X_000N: group by the frame digit N -> 10 "videos" of 1-2 frames
    res = score_readers(data, [f"mid={readers / 'mid'}"], model_labels=readers / "senior", n_resamples=FAST,
                        group_pattern=r"^.+_\d{3}(\d)$", progress=False)
    assert res["unit"] == "video" and res["units"] == 10
    assert res["comparisons"]["mid"]["permutation_unit"] == "video"
    assert res["comparisons"]["mid"]["permutation_units"] == 10
    # synth's own split_groups.json names 2 patients: too few to resample, so frames, and it says why
    res = score_readers(data, [f"mid={readers / 'mid'}"], n_resamples=FAST, progress=False)
    assert res["unit"] == "frame" and "only 2 videos" in res["unit_note"] and not res["comparisons"]


def test_synthetic_readers_are_graded_seeded_and_keep_ignored_pixels(study, tmp_path):
    data, readers = study
    res = score_readers(data, [f"{n}={readers / n}" for n in ("senior", "mid", "junior")], n_resamples=FAST,
                        progress=False)
    miou = {n: res["raters"][n]["mean"]["iou"] for n in ("senior", "mid", "junior")}
    assert 1.0 > miou["senior"] > miou["mid"] > miou["junior"] > 0.3
    for s in stems(data):
        truth = load(data / "labels" / f"{s}.png")
        for n in ("senior", "junior"):
            drawn = load(readers / n / "labels" / f"{s}.png")
            assert np.array_equal(drawn == 255, truth == 255) and set(np.unique(drawn)) <= {0, 1, 2, 3, 255}
    assert json.loads((readers / "junior" / "profile.json").read_text())["boundary_px"] == [3, 7]
    again = tmp_path / "again"
    write_readers(data, again, profiles="junior", seed=3, progress=False)
    assert all(np.array_equal(load(again / "junior" / "labels" / f"{s}.png"),
                              load(readers / "junior" / "labels" / f"{s}.png")) for s in stems(data))
    # each kind of disagreement on its own: a missed small region, a confused pair, a shifted boundary
    truth = np.zeros((60, 80), np.uint8)
    truth[5:25, 5:40], truth[40:44, 60:64], truth[30:55, 5:30] = 2, 1, 3
    truth[:, :3] = 255                                                  # ignored pixels (e.g. outside the scope)
    miss = PROFILES["senior"].__class__("t", boundary_px=(0, 0), small_px=20, miss_prob=1.0)
    assert np.array_equal(perturb(truth, miss, np.random.default_rng(0)), np.where(truth == 1, 0, truth))
    swap = PROFILES["senior"].__class__("t", boundary_px=(0, 0), small_px=0, miss_prob=0, confuse_prob=1.0)
    swapped = perturb(truth, swap, np.random.default_rng(0))
    assert (swapped[truth == 2] == 3).all() and (swapped[truth == 3] == 2).all()
    shift = PROFILES["senior"].__class__("t", boundary_px=(2, 2), small_px=0, miss_prob=0)
    moved = perturb(truth, shift, np.random.default_rng(1))
    assert 0 < (moved != truth).sum() < 0.25 * truth.size and np.array_equal(moved == 255, truth == 255)


def test_user_errors_are_one_line(tmp_path, study, capsys):
    data, readers = study

    def fails(args, words):
        assert main(["readers", "--truth", str(data), *args]) == 2
        err = capsys.readouterr().err.strip()
        errors = [line for line in err.splitlines() if "surgical-seg readers: error:" in line]   # beside tqdm's bar
        assert len(errors) == 1 and words in errors[0] and "Traceback" not in err, err

    fails(["--reader", "senior"], "NAME=DIR")
    fails(["--reader", f"model={readers / 'mid'}"], "kept for the model")
    fails(["--reader", f"x={tmp_path / 'gone'}"], "gone: reader 'x' folder not found")
    fails([], "at least one --reader")
    fails(["--reader", f"mid={readers / 'mid'}", "--margin", "5"], "--margin is a fraction")
    other = tmp_path / "other" / "labels"
    other.mkdir(parents=True)
    cv2.imwrite(str(other / "elsewhere_0001.png"), np.zeros((96, 160), np.uint8))
    fails(["--reader", f"o={other.parent}"], "is labelled by every reader")
    cv2.imwrite(str(other / f"{stems(data)[0]}.png"), np.zeros((48, 80), np.uint8))
    fails(["--reader", f"o={other.parent}"], "label is 80x48, the truth is 160x96")
    cv2.imwrite(str(other / f"{stems(data)[0]}.png"), np.full((96, 160), 9, np.uint8))
    fails(["--reader", f"o={other.parent}"], "holds class id 9")
    assert main(["synth", "--readers", str(data), "--out", str(tmp_path / "x"), "--reader-profiles", "expert"]) == 2
    assert "--reader-profiles takes names from senior, mid, junior" in capsys.readouterr().err
    with pytest.raises(DataError, match="no label PNGs"):
        write_readers(tmp_path, tmp_path / "y", progress=False)
    with pytest.raises(ConfigError, match="not both"):
        score_readers(data, [f"mid={readers / 'mid'}"], model="m", model_labels=readers / "senior", progress=False)


def test_a_group_of_readers_pools_into_one_row(tmp_path, study):
    """Two seniors (a folder per reader, as import-labelstudio --annotator-groups writes) are one row:
    pooled over both readers' pixels, per frame too; agreement stays per reader."""
    import shutil
    data, readers = study
    group = tmp_path / "senior"
    shutil.copytree(readers / "senior" / "labels", group / "dr.a@h.org" / "labels")
    shutil.copytree(readers / "mid" / "labels", group / "dr.b@h.org" / "labels")
    res = score_readers(data, [f"senior={group}", f"junior={readers / 'junior'}"], n_resamples=FAST,
                        report_dir=tmp_path / "rep", progress=False)
    assert res["members"] == {"senior": ["senior/dr.a@h.org", "senior/dr.b@h.org"], "junior": ["junior"]}
    truth = [load(data / "labels" / f"{s}.png") for s in stems(data)]
    a = [load(readers / "senior" / "labels" / f"{s}.png") for s in stems(data)]
    b = [load(readers / "mid" / "labels" / f"{s}.png") for s in stems(data)]
    t2 = np.concatenate([x[x != 255] for x in truth] * 2)
    p2 = np.concatenate([y[x != 255] for x, y in zip(truth, a)] + [y[x != 255] for x, y in zip(truth, b)])
    want = jaccard_score(t2, p2, labels=FG, average=None)
    assert [res["raters"]["senior"]["per_class"][c]["iou"] for c in ("bone", "ligament", "disc")] == \
        pytest.approx(want, abs=1e-12)
    per_frame = [sk_frame_iou(np.r_[x.ravel(), x.ravel()], np.r_[y.ravel(), z.ravel()]) for x, y, z in zip(truth, a, b)]
    assert res["per_frame_iou"]["senior"] == pytest.approx(per_frame, abs=1e-12)
    ag = res["agreement"]
    assert ag["raters"] == ["senior/dr.a@h.org", "senior/dr.b@h.org", "junior"]
    fa = np.concatenate([y[x != 255] for x, y in zip(truth, a)])
    fb = np.concatenate([y[x != 255] for x, y in zip(truth, b)])
    assert ag["mean_iou"][0][1] == pytest.approx(np.mean(jaccard_score(fa, fb, labels=FG, average=None)), abs=1e-12)
    assert 0 < ag["fleiss_kappa_readers"] < 1
    assert "| senior (2 readers) |" in (tmp_path / "rep" / "report.md").read_text()
    # the same group given as two --reader senior=... options
    again = score_readers(data, [f"senior={group / 'dr.a@h.org'}", f"senior={group / 'dr.b@h.org'}",
                                 f"junior={readers / 'junior'}"], n_resamples=FAST, progress=False)
    assert again["raters"]["senior"]["mean"] == res["raters"]["senior"]["mean"]
    assert again["members"]["senior"] == ["senior/dr.a@h.org", "senior/dr.b@h.org"]
