"""Label Studio "Export → JSON" to our dataset layout: OUT/images/<frame> + OUT/labels/<stem>.png.

The export is a list of tasks; each task points at its frame (`data.image`) and holds
annotations (and maybe predictions) whose `result` lists regions: brush strokes
(`brushlabels`, value.rle in Label Studio's RLE) or polygons (`polygonlabels`, points in percent
of the original size). One task becomes one label PNG of class ids (position in `labels` + 1).
Every problem is counted in the ImportReport with a message naming the task and frame, and such
a task is skipped, never written with a guessed mask. Regions of different classes that overlap
are counted in pixels; the later region wins, or with on_overlap="error" the import stops with a
DataError naming the task.

The frame's in/out-of-body choice (`<Choices name="body">`: in_body | out_of_body, in the labeling
config predict writes) copies the frame to OUT/gate/<choice>/, the privacy gate's own training data
(`gate-train --data OUT`); an out-of-body frame is never written to images/ or labels/. Any other value
stops the import with a DataError naming the export and the task. Choices in predictions are not taken
as training data.

With per_annotator=True (a reader study: several surgeons labelled the same frames) every
annotator's newest annotation of a task is written to OUT/readers/<annotator>/labels/<stem>.png,
the annotator named by e-mail (else user<id>); with a mapping file to groups (senior, mid, junior)
to OUT/readers/<group>/<annotator>/labels, so `readers --reader senior=OUT/readers/senior` scores
the group. Predictions are never used in that mode. OUT/readers/readers.json lists who is where.

Brush RLE is decoded here (no Label Studio package needed at run time). It is thi.ng's rle-pack
format, which Label Studio's editor writes from the canvas: header (32-bit count, 5-bit word size,
four 4-bit run-length sizes), then runs. It decodes to width*height*4 RGBA values; the editor puts
the stroke's coverage in the alpha channel (and copies it into R, G, B), anti-aliased at the edges,
so a pixel belongs to the region when alpha >= 128 (half covered).
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Sequence
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

from ..errors import ConfigError, DataError
from .datasets import IMAGE_EXTS
from .ls_tasks import BODY_CHOICES, BODY_NAME, GATE_DIR

ALPHA_THRESHOLD = 128
OVERLAP_MODES = ("later-wins", "error")
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-", re.IGNORECASE)
_NOT_REGIONS = {"choices", "textarea", "rating", "taxonomy", "relation", "number", "datetime", "pairwise"}

# reasons a task is skipped (keys of ImportReport.skipped), in the order summary() lists them
MISSING_IMAGE = "image not found"
UNREADABLE_IMAGE = "unreadable image"
NO_ANNOTATION = "not annotated"
CANCELLED = "all annotations cancelled"
EMPTY = "empty annotation"
UNKNOWN_LABEL = "unknown label"
UNSUPPORTED = "unsupported region"
BAD_REGION = "bad region"
SIZE_MISMATCH = "size mismatch"
DUPLICATE = "duplicate frame"
READERS_DIR = "readers"


class _Bits:
    """Big-endian bit reader over bytes, as rle-pack's BitInputStream."""

    def __init__(self, data: bytes):
        self.data, self.pos, self.nbits = data, 0, len(data) * 8

    def read(self, n: int) -> int:
        end = self.pos + n
        if end > self.nbits:
            raise ValueError("RLE data ends early (truncated export?)")
        first, last = self.pos >> 3, (end + 7) >> 3
        chunk = int.from_bytes(self.data[first:last], "big")
        self.pos = end
        return (chunk >> ((last << 3) - end)) & ((1 << n) - 1)


def decode_rle(rle: Sequence[int]) -> np.ndarray:
    """Label Studio brush RLE -> flat uint8 array (RGBA, 4 values per pixel). ValueError if corrupt."""
    try:
        bits = _Bits(bytes(rle))
    except (TypeError, ValueError):
        raise ValueError("RLE must be a list of byte values 0..255") from None
    num, word = bits.read(32), bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    if word > 8:
        raise ValueError(f"RLE word size {word} bits, expected 8-bit RGBA values")
    out = np.zeros(num, np.uint8)
    i = 0
    while i < num:
        repeat = bits.read(1)
        j = i + 1 + bits.read(sizes[bits.read(2)])
        if j > num:
            raise ValueError(f"RLE run goes past its declared length {num}")
        if repeat:
            out[i:j] = bits.read(word)
        else:
            out[i:j] = [bits.read(word) for _ in range(j - i)]
        i = j
    return out


def rle_to_mask(rle: Sequence[int], width: int, height: int) -> np.ndarray:
    """Brush RLE -> HxW alpha channel (uint8, 0..255). ValueError if it is not width x height."""
    flat = decode_rle(rle)
    if flat.size != width * height * 4:
        raise ValueError(f"RLE holds {flat.size // 4} pixels, the image has {width}x{height} = {width * height}")
    return flat.reshape(height, width, 4)[:, :, 3]


def polygon_to_mask(points_pct: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """Polygon in percent of the image size -> HxW bool mask (cv2.fillPoly at full size, subpixel)."""
    try:
        pts = np.asarray(points_pct, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"polygon points must be [x, y] number pairs, got {str(points_pct)[:60]}") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.isfinite(pts).all():
        raise ValueError(f"polygon needs 3+ [x, y] points, got shape {pts.shape}")
    if pts.min() < -5 or pts.max() > 105:
        raise ValueError(f"polygon points reach {pts.min():g}..{pts.max():g} percent, far outside the image (0..100)")
    px = (pts * [width / 100.0, height / 100.0] - 0.5) * 256      # pixel centres, 8 fractional bits
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(px).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=8)
    return mask.astype(bool)


def frame_name_candidates(ref: str) -> tuple[list[str], str]:
    """File names to look for, and the reference's decoded path, for any Label Studio image ref.

    Uploads: /data/upload/<project>/<8-hex>-<name> (the hash prefix is dropped if no file has it);
    local storage: /data/local-files/?d=<path>; URLs (query string ignored) and cloud URIs.
    """
    try:
        u = urlsplit(ref.strip())
    except ValueError:                      # e.g. "http://[broken": take it as a plain path
        u = urlsplit("")._replace(path=ref.strip())
    paths = []
    if u.path.rstrip("/").endswith("/data/local-files"):
        raw = [v for k, v in (part.partition("=")[::2] for part in u.query.split("&")) if k == "d"]
        if raw:    # Label Studio writes quote(path); a hand-made ref may hold a literal "+" (query style: space)
            paths = list(dict.fromkeys([unquote(raw[-1]), unquote(raw[-1].replace("+", " "))]))
    else:
        paths = [unquote(u.path)]
    paths = [p.replace("\\", "/") for p in paths] or [""]
    names = []
    for path in paths:
        name = PurePosixPath(path).name
        if name:
            names.append(name)
        if "/data/upload/" in f"/{u.path.lstrip('/')}" and _UPLOAD_PREFIX.match(name):
            names.append(_UPLOAD_PREFIX.sub("", name))
    return list(dict.fromkeys(names)), paths[0]


@dataclass
class ImportReport:
    """What an import did: frames written, tasks skipped by reason (with messages), overlaps."""
    out_dir: Path
    tasks: int = 0
    written: list[str] = field(default_factory=list)           # frame stems
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> one message per task
    overlap_pixels: int = 0                                      # pixels claimed by two classes
    overlap_frames: int = 0
    overlap_examples: list[str] = field(default_factory=list)   # one line per frame with overlaps
    from_predictions: int = 0                                    # tasks taken from predictions
    stale_labels: list[str] = field(default_factory=list)        # label PNGs in OUT not from this run
    readers: dict[str, int] = field(default_factory=dict)        # per-annotator mode: folder -> frames
    gate: dict[str, int] = field(default_factory=dict)           # in/out-of-body choice -> frames in OUT/gate/
    unmapped: list[str] = field(default_factory=list)            # annotators the mapping file did not name

    def skip(self, reason: str, message: str) -> None:
        self.skipped.setdefault(reason, []).append(message)

    @property
    def num_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def summary(self, examples: int = 3) -> str:
        lines = [f"Label Studio import: {len(self.written)} of {self.tasks} tasks written to {self.out_dir}"
                 + (f" ({self.from_predictions} from predictions, no annotation)" if self.from_predictions else "")]
        if self.readers:
            lines.append(f"readers under {self.out_dir / READERS_DIR}: "
                         + ", ".join(f"{name} {n}" for name, n in self.readers.items()))
        if self.gate:
            lines.append(f"privacy gate frames under {self.out_dir / GATE_DIR} (gate-train --data): "
                         + ", ".join(f"{c} {self.gate.get(c, 0)}" for c in BODY_CHOICES)
                         + "; out-of-body frames are not segmentation images")
        if self.unmapped:
            lines.append(f"not in the mapping file (kept under their own name): {', '.join(self.unmapped)}")
        if self.skipped:
            lines.append(f"skipped {self.num_skipped}: " + ", ".join(f"{r} {len(m)}" for r, m in self.skipped.items()))
            for reason, msgs in self.skipped.items():
                lines.append(f"  {reason}:")
                lines += [f"    {m}" for m in msgs[:examples]]
                if len(msgs) > examples:
                    lines.append(f"    ... and {len(msgs) - examples} more")
        if self.overlap_pixels:
            lines.append(f"overlaps: {self.overlap_pixels} pixels in {self.overlap_frames} frames claimed by "
                         "two classes (later region wins; --on-overlap error to stop instead)")
            lines += [f"    {m}" for m in self.overlap_examples[:examples]]
            if len(self.overlap_examples) > examples:
                lines.append(f"    ... and {len(self.overlap_examples) - examples} more")
        if self.stale_labels:
            where = self.out_dir / (f"{READERS_DIR}/.../labels" if self.readers else "labels")
            lines.append(f"note: {len(self.stale_labels)} label PNGs in {where} were not written "
                         f"by this import (earlier runs?), e.g. {', '.join(self.stale_labels[:examples])}")
        return "\n".join(lines)


def _load_tasks(export_json: Path) -> list[dict]:
    if not export_json.is_file():
        raise DataError(f"{export_json}: export file not found")
    try:
        tasks = json.loads(export_json.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{export_json}: not valid JSON ({e})") from None
    if isinstance(tasks, dict):          # a single task (the API returns one object)
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise DataError(f"{export_json}: expected Label Studio's JSON export (a list of tasks)")
    if tasks and not any("data" in t for t in tasks):
        raise DataError(f"{export_json}: tasks have no 'data' key; export with 'JSON', not 'JSON-MIN' or CSV")
    return tasks


def _timestamp(item: dict) -> float:
    """updated_at (else created_at) as POSIX seconds; -inf when absent or unparsable."""
    for key in ("updated_at", "created_at"):
        text = item.get(key)
        if isinstance(text, str) and text:
            try:
                t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                continue
            return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
    return float("-inf")


def _newest(items: list[dict]) -> dict:
    """The latest annotation: by updated_at (else created_at), then id, then position in the export."""
    def key(p: tuple[int, dict]) -> tuple[float, int, int]:
        i, item = p
        ident = item.get("id")
        return _timestamp(item), ident if isinstance(ident, int) else -1, i
    return max(enumerate(items), key=key)[1]


def _image_ref(task: dict) -> str | None:
    data = task.get("data")
    if not isinstance(data, dict):
        return None
    ref = data.get("image")
    if ref is None:
        strings = [v for v in data.values() if isinstance(v, str)]
        ref = strings[0] if len(strings) == 1 else None
    return ref if isinstance(ref, str) and ref else None


class _ImageIndex:
    """Every image under the --images folder by file name (recursive)."""

    def __init__(self, root: Path):
        self.root = root
        self.by_name: dict[str, list[Path]] = {}
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() in IMAGE_EXTS and p.is_file():
                self.by_name.setdefault(p.name, []).append(p)

    def find(self, ref: str) -> tuple[Path | None, str]:
        """(path, "") or (None, why not)."""
        names, ref_path = frame_name_candidates(ref)
        for name in names:
            hits = self.by_name.get(name, [])
            if len(hits) > 1:     # same name in several subfolders: the one whose path ends like the ref
                hits = [h for h in hits if ref_path.endswith(h.relative_to(self.root).as_posix())]
            if len(hits) == 1:
                return hits[0], ""
            if hits:
                return None, f"{name} is ambiguous ({len(hits)} files of that name under {self.root})"
        return None, f"no file named {' or '.join(names) or '(empty name)'} under {self.root}"


def _region(r: dict) -> tuple[str, Any, list[str]] | None:
    """(kind "brush"/"polygon"/other type, payload, label names) of a result item; None if not a region."""
    rtype = str(r.get("type", "")).lower()
    value = r.get("value") or {}
    if rtype in _NOT_REGIONS or not isinstance(value, dict):
        return None
    names = next((value[k] for k in ("brushlabels", "polygonlabels", "labels") if k in value), None)
    if "rle" in value or rtype in ("brushlabels", "brush"):
        return "brush", value.get("rle"), names or []
    if rtype in ("polygonlabels", "polygon") or ("points" in value and rtype == "labels"):
        return "polygon", value.get("points"), names or []
    if names is None and not rtype.endswith("labels"):
        return None                                      # e.g. a free-form field: not ours to draw
    return rtype or "untyped", None, names or []


def _rasterise(task_desc: str, regions: list[dict], class_ids: dict[str, int], width: int, height: int,
               labels: list[str]) -> tuple[np.ndarray | None, dict[tuple[int, int], int], tuple[str, str] | None]:
    """(mask, {(earlier class, later class): overlapping pixels}, None) or (None, {}, (reason, message))."""
    mask = np.zeros((height, width), np.uint8)
    overlap: dict[tuple[int, int], int] = {}
    for n, r in enumerate(regions, 1):
        kind, payload, names = _region(r)
        where = f"{task_desc} region {n}"
        if kind not in ("brush", "polygon"):
            return None, {}, (UNSUPPORTED, f"{where}: {kind} regions cannot be imported (use brush or polygon)")
        if len(names) != 1:
            return None, {}, (BAD_REGION, f"{where}: expected one label, got {names}")
        cid = class_ids.get(str(names[0]).strip().lower())
        if cid is None:
            return None, {}, (UNKNOWN_LABEL, f"{where}: label {names[0]!r} is not in --labels {','.join(labels)}")
        if r.get("image_rotation"):
            return None, {}, (UNSUPPORTED, f"{where} ({names[0]}): image rotated by {r['image_rotation']} degrees "
                                          "in the editor; undo the rotation in Label Studio and export again")
        ow, oh = r.get("original_width"), r.get("original_height")
        if ow is not None and oh is not None:
            try:
                annotated = (int(ow), int(oh))
            except (TypeError, ValueError):
                return None, {}, (BAD_REGION, f"{where}: original size {ow!r}x{oh!r} is not a number")
            if annotated != (width, height):
                return None, {}, (SIZE_MISMATCH, f"{where}: annotated at {ow}x{oh}, image file is {width}x{height}")
        try:
            if kind == "brush":
                if not isinstance(payload, list):
                    raise ValueError("brush region without an 'rle' list (format must be rle)")
                flat = decode_rle(payload)
                if flat.size != width * height * 4:
                    return None, {}, (SIZE_MISMATCH, f"{where} ({names[0]}): RLE holds {flat.size // 4} pixels, "
                                                    f"image file is {width}x{height} = {width * height}")
                alpha = flat.reshape(height, width, 4)[:, :, 3]
                region = alpha >= ALPHA_THRESHOLD
                if not region.any() and alpha.any():
                    raise ValueError(f"only faint pixels (alpha <= {int(alpha.max())}, needs {ALPHA_THRESHOLD}): "
                                     "encoded from a 0/1 mask instead of 0/255?")
            else:
                region = polygon_to_mask(payload, width, height)
        except ValueError as e:
            return None, {}, (BAD_REGION, f"{where} ({names[0]}): {e}")
        clash = region & (mask != 0) & (mask != cid)
        if clash.any():
            for old, count in zip(*np.unique(mask[clash], return_counts=True)):
                overlap[(int(old), cid)] = overlap.get((int(old), cid), 0) + int(count)
        mask[region] = cid
    return mask, overlap, None


def annotator_of(annotation: dict) -> tuple[str, str]:
    """(e-mail, user id) of whoever made an annotation; "" where the export does not say.

    Exports carry `completed_by` as a user id, or as a user object with "Annotator details" on;
    `created_username` reads " e-mail, id".
    """
    who, email, ident = annotation.get("completed_by"), "", ""
    if isinstance(who, dict):
        email, ident = str(who.get("email") or ""), str(who.get("id") or "")
    elif isinstance(who, (int, str)) and not isinstance(who, bool):
        ident = str(who)
    name = annotation.get("created_username")
    if isinstance(name, str) and name.strip():
        mail, _, num = name.strip().rpartition(",")
        email = email or (mail.strip() if "@" in mail else "")
        ident = ident or num.strip()
    return email.strip(), ident.strip()


def _folder_name(text: str) -> str:
    """A reader folder name: letters, digits, @ . _ - kept, anything else _."""
    name = re.sub(r"[^A-Za-z0-9@._-]", "_", text.strip())
    return "" if name.strip(".") == "" else name


def load_annotator_groups(path: str | Path) -> dict[str, str]:
    """Mapping file (YAML or JSON: annotator e-mail or user id -> reader/group name) as lower-case keys."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: annotator mapping file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML/JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: expected a mapping 'annotator e-mail or id: group name', e.g. a@b.org: senior")
    out = {}
    for key, group in raw.items():
        if not isinstance(group, (str, int)) or not _folder_name(str(group)):
            raise ConfigError(f"{path}: {key}: group name {group!r} is not a usable folder name")
        out[str(key).strip().lower()] = _folder_name(str(group))
    return out


def _reader_name(annotation: dict, groups: dict[str, str] | None, report: ImportReport) -> str:
    """The annotator's folder: e-mail, else user<id>; under its group's folder when the mapping names one."""
    email, ident = annotator_of(annotation)
    own = _folder_name(email) or (f"user{_folder_name(ident)}" if ident else "unknown")
    if groups:
        for key in (email.lower(), ident.lower()):
            if key and key in groups:
                return f"{groups[key]}/{own}"
    if groups and own not in report.unmapped:
        report.unmapped.append(own)
    return own


def body_choice(annotation: dict, where: str) -> str | None:
    """The annotation's in/out-of-body choice (`<Choices name="body">`), None when it has none;
    DataError for any other value."""
    for r in annotation.get("result") or []:
        if isinstance(r, dict) and str(r.get("type", "")).lower() == "choices" and r.get("from_name") == BODY_NAME:
            got = (r.get("value") or {}).get("choices") if isinstance(r.get("value"), dict) else None
            if not (isinstance(got, list) and len(got) == 1 and got[0] in BODY_CHOICES):
                raise DataError(f"{where}: body choice {got!r} is not one of {', '.join(BODY_CHOICES)}")
            return got[0]
    return None


def _choose(task: dict, desc: str, per_annotator: bool, groups: dict[str, str] | None,
            report: ImportReport) -> tuple[list[tuple[str | None, dict]], bool]:
    """([(reader folder or None, annotation)], from_predictions); skips are recorded in the report."""
    annotations = [a for a in (task.get("annotations") or task.get("completions") or []) if isinstance(a, dict)]
    live = [a for a in annotations if not (a.get("was_cancelled") or a.get("skipped"))]
    predictions = [p for p in (task.get("predictions") or []) if isinstance(p, dict)]
    if live and per_annotator:
        by_reader: dict[str, list[dict]] = {}
        for a in live:
            by_reader.setdefault(_reader_name(a, groups, report), []).append(a)
        return [(name, _newest(items)) for name, items in sorted(by_reader.items())], False
    if live:
        return [(None, _newest(live))], False
    if annotations:
        report.skip(CANCELLED, f"{desc}: every annotation was cancelled/skipped")
    elif predictions and not per_annotator:
        return [(None, _newest(predictions))], True
    else:
        report.skip(NO_ANNOTATION, f"{desc}: no annotation" + ("" if per_annotator else " and no prediction"))
    return [], False


def import_export(export_json: str | Path, images_dir: str | Path, out_dir: str | Path,
                  labels: Sequence[str] = ("bone", "ligament", "disc"), on_overlap: str = "later-wins",
                  progress: bool = True, per_annotator: bool = False,
                  annotator_groups: str | Path | dict[str, str] | None = None) -> ImportReport:
    """Convert a Label Studio JSON export into OUT/images + OUT/labels; returns what happened.

    Per task the newest non-cancelled annotation is used; predictions only when the task has no
    annotation at all. With per_annotator=True, the newest annotation of *each* annotator goes to
    OUT/readers/<annotator>/labels, or OUT/readers/<group>/<annotator>/labels (annotator_groups: a
    mapping file or dict, e-mail or user id -> group name). `labels` gives class ids 1..n in order (matched case-insensitively).
    Pixels claimed by two classes go to the later region (counted in the report), or with
    on_overlap="error" raise DataError at the first such task (frames before it stay written).
    A progress bar is shown on a terminal only.
    """
    from tqdm import tqdm

    export_json, images_dir, out_dir = Path(export_json), Path(images_dir), Path(out_dir)
    labels = [str(s).strip() for s in labels]
    if not labels or any(not s for s in labels) or len({s.lower() for s in labels}) != len(labels):
        raise ConfigError(f"import-labelstudio: --labels must be distinct non-empty names, got {labels}")
    if len(labels) > 254:
        raise ConfigError("import-labelstudio: at most 254 labels (255 is the ignore id)")
    if on_overlap not in OVERLAP_MODES:
        raise ConfigError(f"import-labelstudio: --on-overlap must be one of {', '.join(OVERLAP_MODES)}")
    if annotator_groups is not None and not per_annotator:
        raise ConfigError("import-labelstudio: an annotator mapping file needs --per-annotator")
    groups = (None if annotator_groups is None else
              {str(k).lower(): _folder_name(str(v)) for k, v in annotator_groups.items()}
              if isinstance(annotator_groups, dict) else load_annotator_groups(annotator_groups))
    tasks = _load_tasks(export_json)
    if not images_dir.is_dir():
        raise DataError(f"{images_dir}: images folder not found")
    index = _ImageIndex(images_dir)
    class_ids = {name.lower(): k + 1 for k, name in enumerate(labels)}
    from .classlist import MANIFEST, ClassList
    class_list = ClassList.from_foreground(labels, "import-labelstudio --labels")
    if (out_dir / MANIFEST).is_file() and not ClassList.load(out_dir / MANIFEST).same_as(class_list.names):
        raise DataError(f"{out_dir / MANIFEST}: lists {', '.join(ClassList.load(out_dir / MANIFEST).names)}, but "
                        f"--labels gives {', '.join(class_list.names)}; import into a new folder or fix --labels")
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    if not per_annotator:
        (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    class_list.save(out_dir)
    report = ImportReport(out_dir=out_dir, tasks=len(tasks))
    seen: dict[tuple[str | None, str], str] = {}
    annotators: dict[str, set[str]] = {}

    for pos, task in enumerate(tqdm(tasks, desc="import", unit="task", disable=None if progress else True)):
        ref = _image_ref(task)
        desc = f"task {task.get('id', f'#{pos}')}"
        if ref:
            desc += f" ({(frame_name_candidates(ref)[0] or [ref])[-1]})"
        if ref is None:
            report.skip(MISSING_IMAGE, f"{desc}: no data.image reference")
            continue
        chosen, from_predictions = _choose(task, desc, per_annotator, groups, report)
        for reader, annotation in chosen:
            where = desc if reader is None else f"{desc} by {reader}"
            regions = [r for r in (annotation.get("result") or []) if isinstance(r, dict) and _region(r) is not None]
            body = body_choice(annotation, f"{export_json}: {where}")
            if not regions and body is None:
                report.skip(EMPTY, f"{where}: the annotation has no brush or polygon region")
                continue
            image_path, why = index.find(ref)
            if image_path is None:
                report.skip(MISSING_IMAGE, f"{where}: {why}")
                continue
            if (reader, image_path.stem) in seen:
                report.skip(DUPLICATE, f"{where}: frame {image_path.name} already imported from "
                                       f"{seen[reader, image_path.stem]}")
                continue
            if body is not None and reader is None and not from_predictions:    # people's choices train the gate
                gate_dir = out_dir / GATE_DIR / body
                gate_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy2(image_path, gate_dir / image_path.name)
                report.gate[body] = report.gate.get(body, 0) + 1
                seen[reader, image_path.stem] = desc
            if body == "out_of_body" or not regions:        # never a segmentation training image
                continue
            image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
            if image is None:
                report.skip(UNREADABLE_IMAGE, f"{where}: cannot read {image_path}")
                continue
            height, width = image.shape[:2]
            mask, overlaps, problem = _rasterise(where, regions, class_ids, width, height, labels)
            if problem:
                report.skip(*problem)
                continue
            if not mask.any():
                report.skip(EMPTY, f"{where}: its {len(regions)} region(s) cover no pixel; not written as all background")
                continue
            if overlaps:
                pixels = sum(overlaps.values())
                pairs = ", ".join(f"{labels[a - 1]} vs {labels[b - 1]} {n}" for (a, b), n in sorted(overlaps.items()))
                if on_overlap == "error":
                    raise DataError(f"{export_json}: {where}: {pixels} pixels claimed by two classes ({pairs}); "
                                    f"--on-overlap error stops here, {len(report.written)} frames written before it")
                report.overlap_pixels += pixels
                report.overlap_frames += 1
                report.overlap_examples.append(f"{where}: {pixels} pixels ({pairs})")
            if from_predictions:
                report.from_predictions += 1
            seen[reader, image_path.stem] = desc
            label_dir = out_dir / "labels" if reader is None else out_dir / READERS_DIR / reader / "labels"
            label_dir.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(label_dir / f"{image_path.stem}.png"), mask):
                raise DataError(f"{label_dir}: cannot write label PNG")
            target = out_dir / "images" / image_path.name
            if not (target.exists() and target.samefile(image_path)):
                shutil.copy2(image_path, target)
            if reader is None:
                report.written.append(image_path.stem)
            else:
                report.written.append(f"{reader}/{image_path.stem}")
                report.readers[reader] = report.readers.get(reader, 0) + 1
                annotators.setdefault(reader, set()).add(" ".join(filter(None, annotator_of(annotation))))
    done = set(report.written)
    if per_annotator:
        report.readers = dict(sorted(report.readers.items()))
        root = out_dir / READERS_DIR
        found = [f"{p.parent.parent.relative_to(root).as_posix()}/{p.stem}"
                 for p in sorted(root.rglob("labels/*.png"))] if root.is_dir() else []
        report.stale_labels = [name for name in found if name not in done]
        if report.readers:
            (out_dir / READERS_DIR / "readers.json").write_text(json.dumps(
                {name: {"frames": n, "annotators": sorted(annotators[name])} for name, n in report.readers.items()},
                indent=1))
    else:
        report.stale_labels = sorted(p.stem for p in (out_dir / "labels").glob("*.png") if p.stem not in done)
    return report


__all__ = ["import_export", "ImportReport", "body_choice", "annotator_of", "load_annotator_groups", "READERS_DIR",
           "decode_rle", "rle_to_mask", "polygon_to_mask",
           "frame_name_candidates", "ALPHA_THRESHOLD", "OVERLAP_MODES"]
