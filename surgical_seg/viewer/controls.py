"""Overlay controls: overlay on/off, per-class toggles in the model card's colours, opacity, fill/contour,
and how low-confidence pixels look (fade / hatch / off).

The widget only holds the choice and emits `changed`; the window hands the choice to the compositor.
Class 0 (background) is never drawn, so it gets no toggle.
"""
from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QGroupBox, QHBoxLayout, QLabel, QRadioButton,
                             QSlider, QVBoxLayout, QWidget)

from ..engine.confidence import MODES as CONFIDENCE_MODES


@dataclass(frozen=True)
class OverlayChoice:
    enabled: bool
    opacity: float
    style: str                         # fill | contour
    hidden_classes: tuple[str, ...]
    confidence: str = "off"            # fade | hatch | off (surgical_seg.engine.confidence)


class OverlayControls(QGroupBox):
    changed = pyqtSignal(object)       # OverlayChoice

    def __init__(self, class_names: tuple[str, ...], colors_rgb: tuple[tuple[int, int, int], ...],
                 opacity: float = 0.45, style: str = "fill", hidden: tuple[str, ...] = (),
                 parent: QWidget | None = None, confidence: str = "off") -> None:
        super().__init__("Overlay", parent)
        lay = QVBoxLayout(self)
        self.enabled_box = QCheckBox("Overlay on  [O]")
        self.enabled_box.setChecked(True)
        lay.addWidget(self.enabled_box)

        self.class_boxes: dict[str, QCheckBox] = {}
        for i, (name, rgb) in enumerate(zip(class_names, colors_rgb)):
            if i == 0:
                continue
            box = QCheckBox(f"{name}  [{i}]")
            box.setChecked(name not in hidden)
            r, g, b = rgb
            text = "black" if (0.299 * r + 0.587 * g + 0.114 * b) > 140 else "white"
            box.setStyleSheet(f"QCheckBox {{ background: rgb({r},{g},{b}); color: {text};"
                              " padding: 3px; border-radius: 3px; font-weight: bold; }")
            self.class_boxes[name] = box
            lay.addWidget(box)

        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(opacity * 100))
        self.opacity_label = QLabel(f"{round(opacity * 100)}%")
        self.opacity_label.setMinimumWidth(36)
        row.addWidget(self.opacity_slider, 1)
        row.addWidget(self.opacity_label)
        lay.addLayout(row)

        row = QHBoxLayout()
        self.fill_radio, self.contour_radio = QRadioButton("Fill"), QRadioButton("Contour")
        (self.contour_radio if style == "contour" else self.fill_radio).setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.fill_radio)
        group.addButton(self.contour_radio)
        row.addWidget(self.fill_radio)
        row.addWidget(self.contour_radio)
        lay.addLayout(row)

        row = QHBoxLayout()
        row.addWidget(QLabel("Low confidence  [C]"))
        self.confidence_box = QComboBox()
        self.confidence_box.addItems(list(CONFIDENCE_MODES))
        self.confidence_box.setCurrentText(confidence if confidence in CONFIDENCE_MODES else "off")
        row.addWidget(self.confidence_box, 1)
        lay.addLayout(row)

        for w in (self.enabled_box, *self.class_boxes.values(), self.fill_radio):
            w.toggled.connect(self._emit)
        self.confidence_box.currentTextChanged.connect(self._emit)
        self.opacity_slider.valueChanged.connect(self._emit)

    def choice(self) -> OverlayChoice:
        hidden = tuple(n for n, b in self.class_boxes.items() if not b.isChecked())
        return OverlayChoice(self.enabled_box.isChecked(), self.opacity_slider.value() / 100.0,
                             "contour" if self.contour_radio.isChecked() else "fill", hidden,
                             self.confidence_box.currentText())

    def cycle_confidence(self) -> None:
        """Keyboard C: fade -> hatch -> off -> fade."""
        i = CONFIDENCE_MODES.index(self.confidence_box.currentText())
        self.confidence_box.setCurrentText(CONFIDENCE_MODES[(i + 1) % len(CONFIDENCE_MODES)])

    def toggle_class(self, number: int) -> None:
        """Keyboard 1-9: toggle the n-th foreground class."""
        boxes = list(self.class_boxes.values())
        if 1 <= number <= len(boxes):
            boxes[number - 1].toggle()

    def _emit(self, *_: object) -> None:
        self.opacity_label.setText(f"{self.opacity_slider.value()}%")
        self.changed.emit(self.choice())


__all__ = ["OverlayControls", "OverlayChoice"]
