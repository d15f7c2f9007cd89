"""`surgical-seg` command line: each subcommand parses, calls one library function, prints.

User errors (SurgicalSegError) are printed on one line and exit with status 2; nothing here
prints a traceback for a wrong file or setting.
"""
from __future__ import annotations

import argparse
import sys

from .errors import ConfigError, SurgicalSegError


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
        return w, h
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x360, not {text!r}") from None


def cmd_synth(a: argparse.Namespace) -> int:
    from .training import synth
    if a.video:
        n = synth.write_video(a.video, seconds=a.seconds, fps=a.fps, size=a.size or (1280, 720),
                              seed=a.seed, labels_dir=a.labels_dir, motion=a.motion)
        print(f"wrote {a.video} ({n} frames)")
    else:
        if not a.out:
            raise ConfigError("synth: give --out DIR (images) or --video FILE.mp4")
        summary = synth.write_dataset(a.out, n_images=a.images, seed=a.seed, size=a.size or (640, 360),
                                      contact_sheet=a.contact_sheet)
        print(summary)
    return 0


def cmd_import_labelstudio(a: argparse.Namespace) -> int:
    from .training import labelstudio
    report = labelstudio.import_export(a.export, a.images, a.out, labels=[s.strip() for s in a.labels.split(",")],
                                       on_overlap=a.on_overlap)
    print(report.summary())
    return 0 if report.written else 1


def cmd_split(a: argparse.Namespace) -> int:
    from .training import datasets
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
    from .config import load_train_config
    from .training import train
    cfg = load_train_config(a.config)
    result = train.train(cfg, out_dir=a.out, resume=a.resume, config_path=a.config, overrides=a.set)
    print(result)
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from .training import export
    from .modelcard import ModelCard
    out = export.export_model(a.checkpoint, a.out, check_frames=a.check_data)
    card = ModelCard.load(out)
    print(f"exported {out} ({card.architecture} {card.input_width}x{card.input_height}; Paddle/ONNX label "
          f"agreement {card.training['export_parity'] * 100:.3f} %)")
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    from .evaluation import evaluate
    result = evaluate.run_eval(a.data, split=a.split, model=a.model, backend=a.backend, json_out=a.json,
                               predictions_dir=a.predictions, report_dir=a.report, upsample=a.upsample)
    print(evaluate.format_table(result))
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from . import bench
    return bench.main(a)


def cmd_view(a: argparse.Namespace) -> int:
    from .viewer import app
    return app.main(a)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="surgical-seg", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate synthetic endoscopic spine frames or a clip")
    s.add_argument("--out", help="dataset folder (images/, labels/, split files)")
    s.add_argument("--images", type=int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", type=_size, help="WxH (default 640x360 images, 1280x720 video)")
    s.add_argument("--contact-sheet", help="also write a PNG of samples with labels overlaid")
    s.add_argument("--video", help="write an H.264 clip instead")
    s.add_argument("--seconds", type=float, default=5.0)
    s.add_argument("--fps", type=float, default=30.0)
    s.add_argument("--labels-dir", help="with --video: also write per-frame label PNGs")
    s.add_argument("--motion", choices=("slow", "medium", "fast"),
                   help="with --video: camera pan whose peak speed is 60 / 200 / 500 px/s on a 1280-wide frame "
                        "(scaled with the width); default: the sample clip's gentle path (~90 px/s)")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("import-labelstudio", help="convert a Label Studio JSON export to label PNGs")
    s.add_argument("export")
    s.add_argument("--images", required=True, help="folder holding the annotated frames")
    s.add_argument("--out", required=True)
    s.add_argument("--labels", default="bone,ligament,disc", help="label names in class-id order")
    s.add_argument("--on-overlap", choices=("later-wins", "error"), default="later-wins")
    s.set_defaults(func=cmd_import_labelstudio)

    s = sub.add_parser("split", help="write train/val/test split files, grouped by video")
    s.add_argument("data")
    s.add_argument("--ratios", default="0.8,0.1,0.1")
    s.add_argument("--group-pattern", default=r"^(.+?)_\d+$",
                   help="regex on the file stem whose first group names the video/patient")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_split)

    s = sub.add_parser("train", help="train a PaddleSeg model with our own loop")
    s.add_argument("--config", required=True)
    s.add_argument("--out", help="run folder (default runs/<name>)")
    s.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("export", help="export a checkpoint to Paddle inference + ONNX + model.yml")
    s.add_argument("checkpoint", help="run folder or .pdparams file")
    s.add_argument("--out", required=True)
    s.add_argument("--check-data", help="dataset folder whose frames are used for the Paddle/ONNX parity check")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("eval", help="the clinical study's metrics table on a dataset split")
    s.add_argument("--data", required=True)
    s.add_argument("--split", choices=("test", "val", "train", "all"), default="test")
    s.add_argument("--model", default="fastscnn_spine")
    s.add_argument("--backend", default="auto")
    s.add_argument("--json", help="write the metrics JSON here")
    s.add_argument("--predictions", help="write predicted label PNGs here")
    s.add_argument("--report", help="write Markdown + confusion matrix + ROC plots here")
    s.add_argument("--upsample", choices=("nearest", "bilinear"), default="nearest",
                   help="how class scores reach the image size (engine.upsample; bilinear = smooth edges)")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("bench", help="replay or live benchmark: per-frame timings, summary, plots")
    s.add_argument("sources", nargs="+", help="file, folder, URL, device index or synthetic:WxH")
    s.add_argument("--model", action="append", help="model name or folder (repeat to compare)")
    s.add_argument("--backend", action="append", help="backend (repeat to compare)")
    s.add_argument("--mode", choices=("replay", "live"), default="replay")
    s.add_argument("--realtime", action="store_true", help="pace files at their native fps")
    s.add_argument("--frames", type=int)
    s.add_argument("--seconds", type=float)
    s.add_argument("--out", default="out/bench")
    s.add_argument("--baseline", action="store_true", help="also time the naive cv2 + Paddle loop")
    s.add_argument("--precision", choices=("f32", "bf16", "f16"),
                   help="inference precision (default engine.precision in the config: f32; bf16/f16 OpenVINO only)")
    s.add_argument("--config", help="app config YAML (default configs/app.yml)")
    s.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key, e.g. pipeline.warp=false, pipeline.align_ms=25, engine.smoothing=0.5")
    s.add_argument("--truth", metavar="LABELS_DIR",
                   help="per-frame label PNGs (000000.png, ...; synth --video --labels-dir): score the overlay "
                        "actually displayed on each frame and each frame's own mask (accuracy.csv/.png)")
    s.add_argument("--infer-delay-ms", type=float, default=0.0, metavar="MS",
                   help="add MS to every inference: a slower model or machine (recorded in summary.json)")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("view", help="the theatre viewer")
    s.add_argument("source", nargs="?", help="file, URL or device index (default: the sample clip)")
    s.add_argument("--model")
    s.add_argument("--backend")
    s.add_argument("--precision", choices=("f32", "bf16", "f16"),
                   help="inference precision (default engine.precision in the config: f32; bf16/f16 OpenVINO only)")
    s.add_argument("--fullscreen", action="store_true")
    s.add_argument("--record", help="record raw + overlaid video and per-frame CSV to this folder")
    s.add_argument("--screenshot", help="save a PNG of the window (with --quit-after)")
    s.add_argument("--quit-after", type=float, help="quit after this many seconds")
    s.add_argument("--stats", help="on quit, write frames.csv + summary.json (capture → painted) here")
    s.add_argument("--config", help="app config YAML (default configs/app.yml)")
    s.set_defaults(func=cmd_view)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)     # recorded by bench in summary.json
    try:
        return int(args.func(args) or 0)
    except SurgicalSegError as e:
        print(f"surgical-seg {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"surgical-seg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
