"""`surgical-seg` command line: each subcommand parses, calls one library function, prints.

User errors (SurgicalSegError) are printed on one line, "surgical-seg CMD: error: ...", the same
form argparse uses for a wrong option, and exit with status 2; nothing here prints a traceback for
a wrong file or setting. Every option's help ends with its default (see _HelpFormatter).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__
from ..errors import ConfigError, SurgicalSegError

BACKEND_CHOICES = ("auto", "openvino", "onnxruntime", "paddle")
DEVICE_CHOICES = ("auto", "cpu", "gpu", "cuda", "tensorrt")
PRECISION_CHOICES = ("auto", "f32", "bf16", "f16", "int8")
DEVICE_HELP = ("inference device, read back from the runtime after loading; cuda = gpu; tensorrt via ONNX Runtime "
               "(default: engine.device in the config: auto = a GPU only if one really runs, else the CPU)")


class _HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless it has no default or already names it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.option_strings and action.nargs == 0 and action.default is False and "default" not in text:
            return text + " (default: off)"                      # a store_true flag
        if "default" in text or action.default is None or action.default is False or action.default == [] \
                or action.default == argparse.SUPPRESS:
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Every (sub)parser formats help with _HelpFormatter and reports errors in one line; subparsers
    inherit the parser class, so subcommands added later get both."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        """A wrong option is a user error like any other: one line, exit 2 (no usage block)."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
        return w, h
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x360, not {text!r}") from None


def _zoom(text: str | None) -> tuple[float, float] | None:
    """--zoom Z or LO,HI -> (lo, hi); None when not given."""
    if text is None:
        return None
    try:
        v = [float(x) for x in text.split(",")]
        if len(v) not in (1, 2) or min(v) <= 0:
            raise ValueError
    except ValueError:
        raise ConfigError(f"synth: --zoom must be a positive number or LO,HI, not {text!r}") from None
    return (v[0], v[-1])


def cmd_synth(a: argparse.Namespace) -> int:
    from ..data import synth
    if a.readers:
        from ..data import synth_readers
        if not a.out:
            raise ConfigError("synth: --readers DATA needs --out DIR for the reader folders")
        print(synth_readers.write_readers(a.readers, a.out, profiles=a.reader_profiles, seed=a.seed))
        return 0
    if a.video:
        zoom = _zoom(a.zoom)
        if zoom is not None and zoom[0] != zoom[1]:
            raise ConfigError(f"synth: --video takes one --zoom value, not {a.zoom}")
        from ..data import synth_clips
        n = synth_clips.write_video(a.video, seconds=a.seconds, fps=a.fps, size=a.size or (1280, 720),
                              seed=a.seed, labels_dir=a.labels_dir, motion=a.motion,
                              zoom=None if zoom is None else zoom[0], instruments_dir=a.instruments_dir,
                              out_of_body=a.out_of_body)
        print(f"wrote {a.video} ({n} frames)")
    else:
        if not a.out:
            raise ConfigError("synth: give --out DIR (images) or --video FILE.mp4")
        if a.clip_stills:
            from ..data import synth_clips
            print(synth_clips.write_clip_dataset(a.out, n_images=a.images, seed=a.seed, zoom=_zoom(a.zoom) or (0.7, 1.6),
                                                 sizes=(a.size or (640, 360), (1920, 1080)),
                                                 instrument_masks=a.instrument_masks,
                                                 classes=tuple(a.classes.split(","))))
            if a.contact_sheet:
                synth.write_contact_sheet(a.out, a.contact_sheet)
            return 0
        summary = synth.write_dataset(a.out, n_images=a.images, seed=a.seed, size=a.size or (640, 360),
                                      contact_sheet=a.contact_sheet, instrument_masks=a.instrument_masks,
                                      classes=tuple(a.classes.split(",")))
        print(summary)
    return 0


def cmd_import_labelstudio(a: argparse.Namespace) -> int:
    from ..data import labelstudio
    report = labelstudio.import_export(a.export, a.images, a.out, labels=[s.strip() for s in a.labels.split(",")],
                                       on_overlap=a.on_overlap, per_annotator=a.per_annotator,
                                       annotator_groups=a.annotator_groups)
    print(report.summary())
    return 0 if report.written or report.gate else 1


def cmd_split(a: argparse.Namespace) -> int:
    from ..data import datasets
    try:
        ratios = tuple(float(v) for v in a.ratios.split(","))
    except ValueError:
        raise ConfigError(f"split: --ratios must look like 0.8,0.1,0.1, not {a.ratios!r}") from None
    counts = datasets.make_split(a.data, ratios=ratios, group_pattern=a.group_pattern, seed=a.seed)
    empty = [k for k, r in zip(counts, ratios) if r > 0 and not counts[k]]
    print(", ".join(f"{k}: {v}" for k, v in counts.items())
          + (f" ({', '.join(empty)} empty: too few groups)" if empty else ""))
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from ..config import load_train_config
    from ..training import train
    cfg = load_train_config(a.config)
    result = train.train(cfg, out_dir=a.out, resume=a.resume, config_path=a.config, overrides=a.set)
    print(result)
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from ..training import export
    from ..modelcard import ModelCard
    out = export.export_model(a.checkpoint, a.out, check_frames=a.check_data, calibrate=a.calibrate,
                              validate=a.validate_precision, input_size=a.input_size)
    card = ModelCard.load(out)
    print(f"exported {out} ({card.architecture} {card.input_width}x{card.input_height}, output {card.output} at "
          f"stride {card.output_stride}; Paddle/ONNX label agreement {card.training['export_parity'] * 100:.3f} %)")
    _print_precisions(card)
    cal = card.training.get("calibration")
    if a.calibrate and cal:
        print(f"calibrated on {cal['images']} images of {cal['data']} ({cal['split']}): temperature "
              f"{cal['temperature']:g}, top-label ECE {cal['ece_before'] * 100:.2f} % -> {cal['ece_after'] * 100:.2f} %")
    return 0


def _print_precisions(card) -> None:
    for name, rec in card.precisions.items():
        if name != "f32":
            print(f"precision {name}: {'allowed' if rec.get('allowed') else 'not allowed'}: {rec.get('why', '')}")


def cmd_quantize(a: argparse.Namespace) -> int:
    from ..modelcard import INT8_ONNX_FILE, resolve_model_dir
    from ..training.quantize import add_int8
    model_dir = resolve_model_dir(a.model)
    card = add_int8(model_dir, a.data, validate=a.validate_precision)
    rec = card.precisions["int8"]
    print(f"wrote {model_dir / INT8_ONNX_FILE} (calibrated on {rec['calibration']['frames']} frames of "
          f"{a.data}; kept f32: {', '.join(rec['kept_f32']) or 'nothing'})")
    _print_precisions(card)
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    if a.video:
        from ..evaluation import video_eval
        if a.data or a.predictions or a.degrade is not None:
            raise ConfigError("eval: --video scores clips; --data, --predictions and --degrade are for still datasets")
        result = video_eval.run_video_eval(a.video, model=a.model, labels=a.labels, backend=a.backend,
                                           smoothing=a.smoothing, upsample=a.upsample, json_out=a.json,
                                           report_dir=a.report, worst=a.worst, min_region=a.min_region,
                                           precision=a.precision)
        print(video_eval.format_text(result))
        return 0
    if not a.data:
        raise ConfigError("eval: give --data DIR (a still dataset) or --video CLIP|FOLDER (labelled clips)")
    if a.labels or a.smoothing is not None:
        raise ConfigError("eval: --labels and --smoothing go with --video")
    from ..evaluation import evaluate
    result = evaluate.run_eval(a.data, split=a.split, model=a.model, backend=a.backend, json_out=a.json,
                               predictions_dir=a.predictions, report_dir=a.report, degrade_seed=a.degrade,
                               upsample=a.upsample or "nearest", min_region=a.min_region, precision=a.precision)
    print(evaluate.format_table(result))
    return 0


def cmd_explain(a: argparse.Namespace) -> int:
    from ..training.explain import CAPTION, explain_to_file
    r = explain_to_file(a.frame, a.class_name, a.out, model=a.model)
    where = ("the model draws no such region in this frame: the map is empty" if not r["region_pixels"] else
             f"{r['mass_inside'] * 100:.0f} % of the heat inside the region it draws")
    print(f"wrote {r['out']}: Seg-Grad-CAM for {r['class']} on {r['frame']} in {r['ms']:.0f} ms; {where} ({CAPTION})")
    return 0


def cmd_readers(a: argparse.Namespace) -> int:
    from ..evaluation import reader_report, readers
    result = readers.score_readers(a.truth, a.reader or [], model=a.model, model_labels=a.model_labels,
                                   backend=a.backend, split=a.split, margin=a.margin, n_resamples=a.resamples,
                                   seed=a.seed, group_pattern=a.group_pattern, json_out=a.json, report_dir=a.report)
    print(reader_report.format_table(result))
    for name in result["comparisons"]:
        print(reader_report.comparison_line(result, name))
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    if a.workers != 1 or a.ray:                  # a library: one job per video, in parallel
        from . import bench_library
        return bench_library.main(a)
    from . import bench
    return bench.main(a)


def cmd_gate_train(a: argparse.Namespace) -> int:
    from ..training.oob_gate import train_gate
    print(train_gate(a.out, n_in=a.images, n_out=a.images, epochs=a.epochs, seed=a.seed, data=a.data or ()))
    return 0


def cmd_gate_eval(a: argparse.Namespace) -> int:
    from ..data import theatre
    from .gate_eval import run_gate_eval
    videos = list(a.videos)
    if a.heldout_from:
        photos = theatre.held_out_photos()
        made = theatre.write_heldout_clip(a.heldout_from, a.heldout_out, a.out_of_body, photos)
        print(f"held-out clip {made} over {len(photos)} photographs: {', '.join(p.name for p in photos)}")
        videos.append(str(made))
    if not videos:
        raise ConfigError("gate-eval: give clips with VIDEO.oob.csv truth, dataset folders, or --heldout-from CLIP")
    s = run_gate_eval(videos, a.model, a.json, fill=a.fill_frame)
    for c in s["clips"]:
        if c.get("kind") == "frames":
            print(f"{c['video']}: AUC {c['auc']:.4f} over {c['frames']} frames, {c['out_frames_passed']} of "
                  f"{c['out_frames']} out-of-body frames passed, in-body blanked "
                  f"{100 * (c['in_body_blanked'] or 0):.2f} % of {c['in_body_frames_counted']} (each frame alone)")
            continue
        name = c["video"] + (" (filling the frame)" if c.get("fill_frame") else "")
        print(f"{name}: AUC {c['auc']:.4f}, out-of-body recall after hysteresis "
              f"{c['out_recall_after_hysteresis']:.4f} ({c['out_frames_passed']} of {c['out_frames']} passed), "
              f"in-body blanked {100 * (c['in_body_blanked_away_from_transitions'] or 0):.2f} % of "
              f"{c['in_body_frames_counted']} away from transitions, {c['score_cpu_ms_per_frame']} ms CPU/frame")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    from . import predict
    k = None
    if a.select:
        if a.select[0] != "uncertain":
            raise ConfigError(f"predict: --select {a.select[0]!r} unknown (use: --select uncertain K)")
        try:
            k = int(a.select[1])
        except ValueError:
            raise ConfigError(f"predict: --select uncertain K needs a number, not {a.select[1]!r}") from None
    totals = predict.run_predict(a.sources, a.model, a.out, every=a.every, fps=a.fps, labelstudio=a.labelstudio,
                                 select=k, workers=a.workers, ray=a.ray, backend=a.backend, threads=a.threads,
                                 max_frames=a.frames, ls_document_root=a.ls_document_root,
                                 ls_url_prefix=a.ls_url_prefix, privacy=False if a.no_privacy_gate else None)
    print((Path(a.out) / "summary.md").read_text())
    print(f"wrote {totals['written']} frames to {a.out} (+ classes.yml, predictions.csv, summary.md/csv/png)"
          + (f"; Label Studio tasks {totals['labelstudio']} (model_version {totals['model_version']})"
             if a.labelstudio else ""))
    return 1 if totals["failed"] else 0


def cmd_view(a: argparse.Namespace) -> int:
    from ..viewer.qtcheck import require_qt
    require_qt()                        # one line instead of Qt aborting the process (exit 134)
    from ..viewer import app
    return app.main(a)


def cmd_compose(a: argparse.Namespace) -> int:
    from ..viewer.compose import compose
    out, n = compose(a.recording, a.out, progress=not a.quiet)
    print(f"wrote {out} ({n} frames)")
    return 0


def cmd_soak(a: argparse.Namespace) -> int:
    from ..viewer.qtcheck import require_qt
    require_qt()
    from . import soak
    return soak.main(a)


def cmd_doctor(a: argparse.Namespace) -> int:
    from . import doctor
    return doctor.main(a)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="surgical-seg", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"surgical-seg {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("synth", help="generate synthetic endoscopic spine frames or a clip")
    s.add_argument("--out", help="dataset folder (images/, labels/, split files)")
    s.add_argument("--images", type=int, default=100, help="number of frames to write")
    s.add_argument("--seed", type=int, default=0, help="random seed (same seed, same frames)")
    s.add_argument("--size", type=_size, help="WxH (default 640x360 images, 1280x720 video; with --clip-stills the smallest "
                        "random size, up to 1920x1080)")
    s.add_argument("--contact-sheet", help="also write a PNG of samples with labels overlaid")
    s.add_argument("--instrument-masks", action="store_true",
                   help="also write instruments/<name>.png (255 = instrument) for eval's instrument check")
    s.add_argument("--classes", default="bone,ligament,disc",
                   help="foreground classes in id order; bone,ligament,disc,nerve labels the nerve root / dura as 4")
    s.add_argument("--video", help="write an H.264 clip instead")
    s.add_argument("--seconds", type=float, default=5.0, help="with --video: clip length in seconds")
    s.add_argument("--fps", type=float, default=30.0, help="with --video: frames per second")
    s.add_argument("--labels-dir", help="with --video: also write per-frame label PNGs")
    s.add_argument("--out-of-body", metavar="SPEC",
                   help="with --video: withdraw the scope at START:SECONDS,... (e.g. 2:1.5,6:2): cannula going dark, "
                        "then a theatre stand-in; per-frame in/out truth in VIDEO.oob.csv")
    s.add_argument("--readers", metavar="DATA",
                   help="instead: synthetic readers of DATA's labels to OUT/<profile>/labels (a reader study "
                        "without surgeons: boundaries a few px off, small regions missed, ligament/disc confused)")
    s.add_argument("--reader-profiles", default="senior,mid,junior",
                   help="with --readers: comma-separated skill profiles, best first (senior, mid, junior)")
    s.add_argument("--motion", choices=("slow", "medium", "fast"),
                   help="with --video: camera pan whose peak speed is 60 / 200 / 500 px/s on a 1280-wide frame "
                        "(scaled with the width); default: the sample clip's gentle path (~90 px/s)")
    s.add_argument("--zoom", help="tissue size relative to the scope field, 1 = a 640x360 still's; with --video "
                   "one value (default: the historical 1.35), with --clip-stills LO,HI drawn log-uniformly "
                   "(default 0.7,1.6)")
    s.add_argument("--clip-stills", action="store_true",
                   help="with --out: frames of short random clips, each at a random 16:9 size from 640x360 to "
                        "1920x1080 and a random --zoom (one scene world with --video)")
    s.add_argument("--instruments-dir", help="with --video: also write per-frame instrument masks (255 = instrument)")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("import-labelstudio", help="convert a Label Studio JSON export to label PNGs")
    s.add_argument("export", help="the JSON file Label Studio exported")
    s.add_argument("--images", required=True, help="folder holding the annotated frames")
    s.add_argument("--out", required=True, help="dataset folder to write (images/, labels/)")
    s.add_argument("--labels", default="bone,ligament,disc", help="label names in class-id order")
    s.add_argument("--on-overlap", choices=("later-wins", "error"), default="later-wins",
                   help="what to do where two annotated regions overlap")
    s.add_argument("--per-annotator", action="store_true",
                   help="reader study: each annotator's labels to OUT/readers/<e-mail or id>/labels")
    s.add_argument("--annotator-groups", metavar="FILE",
                   help="with --per-annotator: YAML/JSON mapping annotator e-mail or id -> group (senior, mid...)")
    s.set_defaults(func=cmd_import_labelstudio)

    s = sub.add_parser("split", help="write train/val/test split files, grouped by video")
    s.add_argument("data", help="dataset folder (images/, labels/)")
    s.add_argument("--ratios", default="0.8,0.1,0.1", help="train,val,test fractions")
    s.add_argument("--group-pattern", default=r"^(.+?)_\d+$",
                   help="regex on the file stem whose first group names the video/patient")
    s.add_argument("--seed", type=int, default=0, help="random seed for assigning groups to splits")
    s.set_defaults(func=cmd_split)

    s = sub.add_parser("train", help="train a PaddleSeg model with our own loop")
    s.add_argument("--config", required=True, help="training YAML, e.g. configs/train_fastscnn.yml")
    s.add_argument("--out", help="run folder (default runs/<name>)")
    s.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("export", help="export a checkpoint to Paddle inference + ONNX + model.yml")
    s.add_argument("checkpoint", help="run folder or .pdparams file")
    s.add_argument("--out", required=True, help="model folder to write, e.g. weights/NAME")
    s.add_argument("--check-data", help="dataset folder whose frames are used for the Paddle/ONNX parity check")
    s.add_argument("--calibrate", metavar="VAL_DIR",
                   help="dataset folder: fit a softmax temperature on its val split and store it in model.yml, and "
                        "quantize model_int8.onnx with its train split")
    s.add_argument("--validate-precision", metavar="VAL_DIR",
                   help="dataset folder whose val split bf16/f16/int8 are measured on against f32 (default: --calibrate's); "
                        "engine.precision auto runs only what passed")
    s.add_argument("--input-size", type=_size, metavar="WxH",
                   help="export at this input size instead of the one trained at (multiples of 32), e.g. to "
                        "measure what more pixels give and cost")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("quantize", help="add an INT8 graph (model_int8.onnx) to an exported model and validate it "
                                        "against f32 like bf16/f16")
    s.add_argument("model", help="model folder or name under weights/")
    s.add_argument("--data", required=True, help="dataset folder whose train split calibrates the activation ranges")
    s.add_argument("--validate-precision", metavar="VAL_DIR",
                   help="dataset folder whose val split the precisions are measured on against f32 (default: --data's)")
    s.set_defaults(func=cmd_quantize)

    s = sub.add_parser("eval", help="the clinical study's metrics table on a dataset split, or labelled clips scored "
                                    "per clip and per frame (--video)")
    s.add_argument("--data", help="dataset folder (images/, labels/, split files)")
    s.add_argument("--video", nargs="+", metavar="CLIP|FOLDER",
                   help="instead: labelled clips (a clip + its per-frame truth, <stem>_labels/ or <stem>/ beside it, as "
                        "synth --video --labels-dir writes), or folders of them: per clip pooled IoU per class, mIoU "
                        "over the classes in its truth, mean per-frame mIoU, spurious share, worst frames "
                        "(--report: report.md + a contact sheet per clip)")
    s.add_argument("--labels", help="with one --video clip: its truth folder")
    s.add_argument("--smoothing", type=float,
                   help="with --video: temporal smoothing of class scores (default: engine.smoothing of configs/app.yml)")
    s.add_argument("--worst", type=int, default=6, help="with --video: worst frames per clip in the report")
    s.add_argument("--min-region", type=float, metavar="FRAC",
                   help="predicted regions smaller than this share of the frame go to the label around them "
                        "(0 = off; default: engine.min_region of configs/app.yml, as the app)")
    s.add_argument("--split", choices=("test", "val", "train", "all"), default="test", help="which frames to score")
    s.add_argument("--precision", choices=PRECISION_CHOICES,
                   help="inference precision (default engine.precision in the config: what the app runs)")
    s.add_argument("--model", default="fastscnn_spine", help="model name under weights/ or model folder")
    s.add_argument("--backend", choices=BACKEND_CHOICES, default="auto", help="inference backend")
    s.add_argument("--json", help="write the metrics JSON here")
    s.add_argument("--predictions", help="write predicted label PNGs here")
    s.add_argument("--report", help="write Markdown + confusion matrix + ROC plots here")
    s.add_argument("--degrade", type=int, nargs="?", const=0, metavar="SEED",
                   help="degrade every frame as theatre video is (16:9 crop, gamma, white balance, blur, "
                        "noise, JPEG), seeded per frame (default seed 0 when given without a value)")
    s.add_argument("--upsample", choices=("nearest", "bilinear"),
                   help="how class scores reach the image size (bilinear = smooth edges; default: nearest for "
                        "--data, engine.upsample of configs/app.yml for --video)")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("explain", help="Seg-Grad-CAM heatmap of one class on one frame (for understanding, not guidance)")
    s.add_argument("frame", help="IMAGE, VIDEO or VIDEO@FRAME (0-based frame number)")
    s.add_argument("--class", dest="class_name", required=True, help="class name from the model card, e.g. bone")
    s.add_argument("--out", required=True, help="PNG to write")
    s.add_argument("--model", default="fastscnn_spine", help="model name or folder (needs model.pdparams or model.json)")
    s.set_defaults(func=cmd_explain)
    s = sub.add_parser("readers", help="reader study: the model against human readers on the same frames")
    s.add_argument("--truth", required=True, help="dataset folder holding the reference labels (and images)")
    s.add_argument("--reader", action="append", metavar="NAME=DIR", help="a reader's labels (repeat)")
    s.add_argument("--model", help="model name or folder, run on the truth's images")
    s.add_argument("--model-labels", metavar="DIR", help="or: the model's label PNGs made elsewhere")
    s.add_argument("--backend", default="auto", choices=BACKEND_CHOICES, help="inference backend for --model")
    s.add_argument("--split", choices=("all", "test", "val", "train"), default="all", help="which frames of DATA")
    s.add_argument("--margin", type=float, default=0.05, help="non-inferiority margin in IoU (0.05 = 5 points)")
    s.add_argument("--resamples", type=int, default=9999, help="bootstrap and permutation resamples")
    s.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and permutation resampling")
    s.add_argument("--group-pattern", help="regex whose group 1 names a frame's video (default: from split_groups.json)")
    s.add_argument("--json", help="write every figure as JSON here")
    s.add_argument("--report", help="write report.md + per_frame_iou.png + agreement.png here")
    s.set_defaults(func=cmd_readers)

    s = sub.add_parser("bench", help="replay or live benchmark: per-frame timings, summary, plots")
    s.add_argument("sources", nargs="+", help="file, folder, URL, device index or synthetic:WxH")
    s.add_argument("--model", action="append",
                   help="model name or folder, repeat to compare (default: engine.model in the config)")
    s.add_argument("--backend", action="append", choices=BACKEND_CHOICES,
                   help="inference backend, repeat to compare (default: engine.backend in the config: auto)")
    s.add_argument("--device", choices=DEVICE_CHOICES, help=DEVICE_HELP)
    s.add_argument("--mode", choices=("replay", "live"), default="replay",
                   help="replay: every frame in order; live: newest frame wins, others dropped")
    s.add_argument("--realtime", action="store_true", help="pace files at their native fps")
    s.add_argument("--frames", type=int, help="stop after this many frames (default: the whole file; "
                   "300 for cameras, streams and synthetic sources)")
    s.add_argument("--seconds", type=float, help="stop after this many seconds (default: no limit)")
    s.add_argument("--out", help="results folder (default: a new out/bench/YYYYmmdd-HHMMSS)")
    s.add_argument("--baseline", action="store_true", help="also time the naive cv2 + Paddle loop and the naive sequential OpenVINO loop")
    s.add_argument("--workers", type=int, default=1,
                   help="replay a video library (folders, globs, manifest CSV) with N parallel jobs (0 = CPU count)")
    s.add_argument("--ray", help="replay a video library as Ray tasks: ADDRESS, auto, or local")
    s.add_argument("--precision", choices=PRECISION_CHOICES,
                   help="inference precision (default engine.precision in the config: auto = the fastest one export validated; bf16/f16/int8 OpenVINO only)")
    s.add_argument("--config", help="app config YAML (default configs/app.yml)")
    s.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key, e.g. pipeline.warp=false, pipeline.align_ms=25, engine.smoothing=0.5")
    s.add_argument("--truth", metavar="LABELS_DIR",
                   help="per-frame label PNGs (000000.png, ...; synth --video --labels-dir): score the overlay "
                        "actually displayed on each frame and each frame's own mask (accuracy.csv/.png)")
    s.add_argument("--infer-delay-ms", type=float, default=0.0, metavar="MS",
                   help="add MS to every inference: a slower model or machine (recorded in summary.json)")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("predict", help="run a model over recorded videos: a dataset + Label Studio pre-annotations")
    s.add_argument("sources", nargs="+", help="videos, folders of videos, globs, or a manifest CSV (source[,name,truth])")
    s.add_argument("--model", default="fastscnn_spine", help="model name or folder")
    s.add_argument("--out", required=True, help="dataset folder to write (images/, labels/, classes.yml)")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--every", type=int, help="keep every N-th frame")
    g.add_argument("--fps", type=float, help="keep F frames per second of video")
    s.add_argument("--labelstudio", help="also write Label Studio tasks with brush-RLE predictions here")
    s.add_argument("--select", nargs=2, metavar=("uncertain", "K"), help="keep only the K least certain frames")
    s.add_argument("--workers", type=int, default=0, help="parallel videos (default: CPU count; 1 = this process)")
    s.add_argument("--ray", help="run each video as a task on Ray: ADDRESS, auto, or local (start one here)")
    s.add_argument("--backend", default="auto", choices=BACKEND_CHOICES, help="inference backend")
    s.add_argument("--threads", type=int, default=1, help="inference threads per video job")
    s.add_argument("--frames", type=int, help="read at most this many frames per video")
    s.add_argument("--ls-document-root", help="Label Studio local-files document root (default: OUT's parent)")
    s.add_argument("--ls-url-prefix", help="instead: frames served at this URL prefix (e.g. http://host:8081/images)")
    s.add_argument("--no-privacy-gate", action="store_true",
                   help="write out-of-body frames too (default: the privacy gate keeps frames outside the body out "
                        "of images/, labels/ and the tasks; configs/app.yml privacy:)")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("gate-train", help="train the privacy gate's in/out-of-body classifier (Paddle -> ONNX)")
    s.add_argument("--out", default="weights/oob_gate", help="gate folder to write (gate.yml + model.onnx)")
    s.add_argument("--images", type=int, default=1500, help="generated frames per class (0: only --data)")
    s.add_argument("--data", action="append", metavar="DATASET",
                   help="also your own frames: DATASET/gate/in_body, out_of_body (import-labelstudio's body "
                        "choice); repeatable")
    s.add_argument("--epochs", type=int, default=15, help="passes over the generated frames")
    s.add_argument("--seed", type=int, default=0, help="random seed (same seed, same frames and weights)")
    s.set_defaults(func=cmd_gate_train)

    s = sub.add_parser("gate-eval", help="privacy gate: AUC, out-of-body recall, in-body frames blanked")
    s.add_argument("videos", nargs="*", help="clips with VIDEO.oob.csv truth (synth --out-of-body), or dataset "
                   "folders with gate/in_body, gate/out_of_body (import-labelstudio)")
    s.add_argument("--model", help="gate folder or name (default: configs/app.yml privacy.model)")
    s.add_argument("--heldout-from", metavar="CLIP", help="also make a held-out clip from this in-body clip, "
                   "withdrawals filmed over real photographs found on this machine")
    s.add_argument("--heldout-out", default="heldout_oob.mp4", help="where to write that clip")
    s.add_argument("--out-of-body", default="2:2,6:2.5", help="withdrawal schedule of the held-out clip")
    s.add_argument("--fill-frame", action="store_true", help="also score each clip as a tower whose scope "
                   "image fills the frame (no dark ring): the centre 45 %% of each side, scaled back")
    s.add_argument("--json", help="write the figures here")
    s.set_defaults(func=cmd_gate_eval)

    s = sub.add_parser("view", help="the theatre viewer")
    s.add_argument("source", nargs="?", help="file, URL or device index (default: the sample clip)")
    s.add_argument("--model", help="model name or folder (default: the last one used, else engine.model in the config)")
    s.add_argument("--backend", choices=BACKEND_CHOICES,
                   help="inference backend (default: engine.backend in the config: auto)")
    s.add_argument("--device", choices=DEVICE_CHOICES, help=DEVICE_HELP)
    s.add_argument("--precision", choices=PRECISION_CHOICES,
                   help="inference precision (default engine.precision in the config: auto = the fastest one export validated; bf16/f16/int8 OpenVINO only)")
    s.add_argument("--fullscreen", action="store_true", help="start in theatre mode (F11 toggles)")
    s.add_argument("--record", help="record raw video, label maps, per-frame CSV and (recorder.overlay) the overlaid "
                                    "video to this folder")
    s.add_argument("--screenshot", help="save a PNG of the window (with --quit-after)")
    s.add_argument("--quit-after", type=float, help="quit after this many seconds")
    s.add_argument("--stats", help="on quit, write frames.csv + summary.json (capture → painted) here")
    s.add_argument("--config", help="app config YAML (default configs/app.yml)")
    s.set_defaults(func=cmd_view)

    s = sub.add_parser("compose", help="a recording's overlaid video, from its raw.mp4 and labels.bin "
                                       "(recorder.overlay: later, or to redo it)")
    s.add_argument("recording", help="the recording's folder (raw.mp4, labels.bin, overlay.json)")
    s.add_argument("--out", help="the video to write (default RECORDING/overlay.mp4; never overwritten)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_compose)

    s = sub.add_parser("soak", help="the viewer on a local UDP stream with faults injected on a schedule")
    s.add_argument("--minutes", type=float, default=30.0, help="how long to run")
    s.add_argument("--faults", default="drop=5s@60s/60s,raise@330s/300s,hang=10s@450s",
                   help="comma-separated KIND[=VALUE]@START[/EVERY][+LENGTH] items; kinds: drop (the stream "
                        "stops), raise, hang, slow (inference), e.g. slow=100ms@200s+10s; the default keeps "
                        "model faults off the drops so each is timed on its own")
    s.add_argument("--out", default="out/soak", help="folder for soak.json")
    s.add_argument("--port", type=int, default=5600, help="local UDP port of the MPEG-TS stream")
    s.add_argument("--size", default="1280x720", help="stream frame size WxH")
    s.add_argument("--fps", type=float, default=30.0, help="stream frame rate")
    s.add_argument("--model", help="model name or folder (default: engine.model in the config)")
    s.add_argument("--backend", choices=BACKEND_CHOICES,
                   help="inference backend (default: engine.backend in the config: auto)")
    s.add_argument("--config", help="app config YAML (default configs/app.yml)")
    s.set_defaults(func=cmd_soak)

    s = sub.add_parser("doctor", help="what this machine can run: runtimes, GPUs, devices, Qt, models")
    s.add_argument("--json", action="store_true", help="print one JSON object (for bug reports and scripts)")
    s.add_argument("--backends", action="store_true", help="only the inference backends (what setup.sh prints)")
    s.add_argument("--model", default="fastscnn_spine", help="model used for the one-frame inference check")
    s.set_defaults(func=cmd_doctor)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)     # recorded by bench in summary.json
    try:
        return int(args.func(args) or 0)
    except SurgicalSegError as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        text = text.removeprefix(f"{args.command}: ")       # library messages may name the command too
        print(f"surgical-seg {args.command}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"surgical-seg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
