"""A dataset's class list: `classes.yml` beside images/ and labels/ (ids, names, colours; 255 = ignore).

Written by `synth`, `import-labelstudio` and `predict`; read by `split`, `train`, `eval`, the report
and (through the model card that `train` and `export` carry it into) the viewer. A dataset folder
without classes.yml is the study's four classes (background, bone, ligament, disc), so older
datasets keep working. Ids run 0..n-1 with 0 = background (the loss and the confusion matrix index
by id), so the manifest refuses gaps instead of guessing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..modelcard import CLASS_COLORS_RGB, CLASS_NAMES, IGNORE_INDEX
from ..errors import DataError

MANIFEST = "classes.yml"
# Colours for classes beyond the study's three (RGB): nerve/dura magenta first (the structure a
# surgeon must not injure), then other hues distinct from the study's yellow, green and blue.
KNOWN_COLORS_RGB = {"background": (0, 0, 0), "bone": CLASS_COLORS_RGB[1], "ligament": CLASS_COLORS_RGB[2],
                    "disc": CLASS_COLORS_RGB[3], "nerve": (235, 60, 220), "dura": (255, 120, 200)}
EXTRA_COLORS_RGB = ((235, 60, 220), (255, 140, 0), (0, 220, 220), (200, 40, 40), (150, 100, 255),
                    (255, 255, 255), (120, 200, 120), (255, 180, 180))


@dataclass(frozen=True)
class ClassList:
    """Class names in id order (0 = background) and their RGB colours; `ignore` marks unlabelled pixels."""
    names: tuple[str, ...]
    colors_rgb: tuple[tuple[int, int, int], ...]
    ignore: int = IGNORE_INDEX
    source: str = "default classes"          # where it came from, for error messages

    @property
    def foreground(self) -> tuple[str, ...]:
        return self.names[1:]

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def default(cls) -> "ClassList":
        return cls(CLASS_NAMES, CLASS_COLORS_RGB)

    @classmethod
    def from_foreground(cls, names: list[str] | tuple[str, ...], source: str = "--labels") -> "ClassList":
        """background + `names` as ids 1..n, colours from the known table or the extra palette."""
        names = [str(n).strip() for n in names]
        if not names or any(not n for n in names) or len({n.lower() for n in names}) != len(names):
            raise DataError(f"{source}: class names must be distinct and non-empty, got {names}")
        if "background" in (n.lower() for n in names):
            raise DataError(f"{source}: 'background' is class 0 already; list the foreground classes only")
        if len(names) > 254:
            raise DataError(f"{source}: at most 254 classes (255 is the ignore id)")
        extra = iter(EXTRA_COLORS_RGB * 32)
        colors = [(0, 0, 0)] + [KNOWN_COLORS_RGB.get(n.lower()) or next(extra) for n in names]
        return cls(("background", *names), tuple(tuple(c) for c in colors), source=source)

    # ------------------------------------------------------------------ file
    def to_dict(self) -> dict:
        return {"ignore": self.ignore,
                "classes": [{"id": i, "name": n, "color": list(c)} for i, (n, c) in
                            enumerate(zip(self.names, self.colors_rgb))]}

    def save(self, data_dir: str | Path) -> Path:
        path = Path(data_dir) / MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# class ids of the label PNGs (0 = background); pixels labelled `ignore` are left out\n"
                        + yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ClassList":
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise DataError(f"{path}: cannot read class manifest ({str(e).splitlines()[0]})") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("classes"), list):
            raise DataError(f"{path}: expected 'classes:' with a list of {{id, name, color}}")
        try:
            items = sorted(((int(c["id"]), str(c["name"]).strip(), tuple(int(v) for v in c["color"]))
                            for c in raw["classes"]), key=lambda t: t[0])
            ignore = int(raw.get("ignore", IGNORE_INDEX))
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{path}: every class needs id, name and color [r, g, b] ({e})") from None
        ids = [i for i, _, _ in items]
        if ids != list(range(len(ids))) or len(ids) < 2:
            raise DataError(f"{path}: class ids must run 0, 1, ..., n-1 (0 = background, n >= 2), got {ids}")
        names = [n for _, n, _ in items]
        if len({n.lower() for n in names}) != len(names) or not all(names):
            raise DataError(f"{path}: class names must be distinct and non-empty, got {names}")
        if any(len(c) != 3 or min(c) < 0 or max(c) > 255 for _, _, c in items):
            raise DataError(f"{path}: colours must be [r, g, b] in 0..255")
        if not len(ids) <= ignore <= 255:
            raise DataError(f"{path}: ignore id {ignore} must be above the class ids and at most 255")
        return cls(tuple(names), tuple(c for _, _, c in items), ignore, source=str(path))

    @classmethod
    def for_dataset(cls, data_dir: str | Path) -> "ClassList":
        """The dataset's classes.yml, or the default four classes when it has none."""
        path = Path(data_dir) / MANIFEST
        if path.is_file():
            return cls.load(path)
        return cls(CLASS_NAMES, CLASS_COLORS_RGB, source=f"the default classes (no {MANIFEST} in {data_dir})")

    # ------------------------------------------------------------------ checks
    def check_labels(self, labels: np.ndarray, label_path: str | Path) -> None:
        """DataError naming the label file and the manifest when a pixel holds an id outside the list."""
        present = np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
        bad = [int(v) for v in present if v >= len(self.names) and v != self.ignore]
        if bad:
            raise DataError(f"{label_path}: label id {', '.join(map(str, bad[:5]))} not in {self.source} "
                            f"(ids 0-{len(self.names) - 1}: {', '.join(self.names)}; {self.ignore} = ignore)")

    def same_as(self, names: tuple[str, ...] | list[str]) -> bool:
        return [n.lower() for n in names] == [n.lower() for n in self.names]


__all__ = ["ClassList", "MANIFEST", "KNOWN_COLORS_RGB", "EXTRA_COLORS_RGB"]
