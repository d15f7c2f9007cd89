"""Latency panel: fps in/out, drops, per-stage, video latency and overlay age p50/p95/p99, a scrolling plot.

Refreshed by the window on a slow timer (4 Hz) from the rolling stats, never per frame: a table
and a plot redrawn at 30 Hz would cost the UI thread more than the video itself. The plot's axes
are fixed (x: seconds before now, y: a step ceiling that moves only when the data leaves it), so
pyqtgraph keeps their cached pictures instead of regenerating ticks on every refresh (on a loaded
machine `surgical-seg soak`'s stall sampler found the UI thread in this plot's paint in most long stalls).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (QGraphicsItem, QGroupBox, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout,
                             QWidget)

COLUMNS = ("stage (ms)", "p50", "p95", "p99")
HEADLINE = ("overlay age", "video latency")     # shown first: what the surgeon sees, then the stages
CURVES = (("overlay age", "#ff7ad9", 2), ("video latency", "#ffd23f", 2), ("infer", "#3fa7ff", 1))
STAGE_ROWS = 8        # 6 stages + video latency + overlay age: the table is sized to show them all
Y_CEILINGS_MS = (50, 100, 200, 500, 1000, 2000, 5000, 10000)


def y_ceiling(values_ms: np.ndarray, floor_ms: float = 0.0) -> float:
    """The smallest step ceiling above the data's 99th percentile (and the budget line)."""
    finite = values_ms[np.isfinite(values_ms)]
    top = max(float(np.percentile(finite, 99)) if finite.size else 0.0, floor_ms) * 1.1
    return next((c for c in Y_CEILINGS_MS if c >= top), Y_CEILINGS_MS[-1])


class LatencyPanel(QGroupBox):
    def __init__(self, budget_ms: float | None = None, window_s: float = 10.0, parent: QWidget | None = None) -> None:
        super().__init__("Latency", parent)
        self.budget_ms, self._y_top = budget_ms or 0.0, 0.0
        lay = QVBoxLayout(self)
        self.model_label = QLabel("model: –")
        self.model_label.setWordWrap(True)
        self.rate_label = QLabel("fps in – · out – · dropped 0")
        lay.addWidget(self.model_label)
        lay.addWidget(self.rate_label)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.table.setFont(mono)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(19)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + 19 * STAGE_ROWS + 4)
        lay.addWidget(self.table)

        pg.setConfigOptions(antialias=False)
        self.plot = pg.PlotWidget(background="#111")
        self.plot.setLabel("left", "ms")
        self.plot.setLabel("bottom", "s before now")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        for name in ("left", "bottom"):          # axes and grid drawn once into a pixmap, blitted after:
            self.plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            # replaying their text and grid was most of a plot paint (offscreen: 6.3 ms, 1.0 ms cached)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.disableAutoRange()
        self.plot.setXRange(-window_s, 0.0, padding=0)
        self._set_y_top(y_ceiling(np.zeros(0), self.budget_ms))
        self.plot.setMinimumHeight(140)
        # the legend is a line of text above the plot, not a box inside it: inside, it covered the curves
        self.legend = QLabel(" · ".join(f'<span style="color:{c}">━ {n}</span>' for n, c, _ in CURVES))
        curves = {n: self.plot.plot(pen=pg.mkPen(c, width=w), connect="finite") for n, c, w in CURVES}
        self.age_curve, self.e2e_curve, self.infer_curve = (curves[n] for n, _, _ in CURVES)
        if budget_ms:
            self.plot.addItem(pg.InfiniteLine(pos=budget_ms, angle=0,
                                              pen=pg.mkPen("#ff5050", style=Qt.PenStyle.DashLine)))
        lay.addWidget(self.legend)
        lay.addWidget(self.plot, 1)

    def set_model(self, model: str, backend: str) -> None:
        self.model_label.setText(f"model: <b>{model}</b> · backend: <b>{backend}</b>")

    def refresh(self, fps_in: float, fps_out: float, dropped: int,
                rows: Iterable[tuple[str, float | None, float | None, float | None]],
                t_s: np.ndarray, e2e_ms: np.ndarray, infer_ms: np.ndarray | None = None,
                overlay_ms: np.ndarray | None = None) -> None:
        """rows: (stage, p50, p95, p99) in ms; t_s/e2e_ms: the plot's points (seconds, ms)."""
        self.rate_label.setText(f"fps in <b>{fps_in:.1f}</b> · out <b>{fps_out:.1f}</b> · dropped <b>{dropped}</b>")
        rows = headline_first(rows)
        new_rows = self.table.rowCount() != len(rows)
        if new_rows:
            self.table.setRowCount(len(rows))
            for r in range(len(rows)):
                for c in range(len(COLUMNS)):
                    item = QTableWidgetItem("")
                    if c:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.table.setItem(r, c, item)
        for r, (name, *values) in enumerate(rows):      # texts only: no new items, no column re-layout
            self.table.item(r, 0).setText(name)
            for c, v in enumerate(values, start=1):
                self.table.item(r, c).setText("–" if v is None else f"{v:7.1f}")
        if new_rows:
            self.table.resizeColumnsToContents()
        ago = t_s - t_s[-1] if len(t_s) else t_s          # x: seconds before the newest frame
        self.e2e_curve.setData(ago, e2e_ms)
        if overlay_ms is not None:
            self.age_curve.setData(ago, overlay_ms)
        if infer_ms is not None:                 # NaN where the model skipped a frame: join the runs
            ran = np.isfinite(infer_ms)
            self.infer_curve.setData(ago[ran], infer_ms[ran])
        shown = [a for a in (e2e_ms, overlay_ms, infer_ms) if a is not None]
        self._set_y_top(y_ceiling(np.concatenate(shown), self.budget_ms))

    def _set_y_top(self, top: float) -> None:
        if top != self._y_top:                   # the y axis is redrawn only when its ceiling moves
            self._y_top = top
            self.plot.setYRange(0.0, top, padding=0)


def headline_first(rows: Iterable[tuple]) -> list[tuple]:
    """The table's rows with overlay age, then video latency, on top; the stages after, in their order."""
    rows = list(rows)
    top = [r for name in HEADLINE for r in rows if r[0] == name]
    return top + [r for r in rows if r[0] not in HEADLINE]


__all__ = ["LatencyPanel", "y_ceiling", "headline_first", "HEADLINE"]
