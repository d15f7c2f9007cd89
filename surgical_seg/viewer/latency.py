"""Latency panel: fps in/out, drops, per-stage, video latency and overlay age p50/p95/p99, a scrolling plot.

Refreshed by the window on a slow timer (4 Hz) from the rolling stats, never per frame: a table
and a plot redrawn at 30 Hz would cost the UI thread more than the video itself.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QGroupBox, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

COLUMNS = ("stage (ms)", "p50", "p95", "p99")
STAGE_ROWS = 8        # 6 stages + video latency + overlay age: the table is sized to show them all


class LatencyPanel(QGroupBox):
    def __init__(self, budget_ms: float | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Latency", parent)
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
        self.plot.setLabel("bottom", "s")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMinimumHeight(140)
        self.plot.addLegend(offset=(5, 5))
        self.e2e_curve = self.plot.plot(pen=pg.mkPen("#ffd23f", width=2), name="video latency",
                                        connect="finite")
        self.age_curve = self.plot.plot(pen=pg.mkPen("#ff7ad9", width=2), name="overlay age",
                                        connect="finite")
        self.infer_curve = self.plot.plot(pen=pg.mkPen("#3fa7ff", width=1), name="infer",
                                          connect="finite")
        if budget_ms:
            self.plot.addItem(pg.InfiniteLine(pos=budget_ms, angle=0,
                                              pen=pg.mkPen("#ff5050", style=Qt.PenStyle.DashLine)))
        lay.addWidget(self.plot, 1)

    def set_model(self, model: str, backend: str) -> None:
        self.model_label.setText(f"model: <b>{model}</b> · backend: <b>{backend}</b>")

    def refresh(self, fps_in: float, fps_out: float, dropped: int,
                rows: Iterable[tuple[str, float | None, float | None, float | None]],
                t_s: np.ndarray, e2e_ms: np.ndarray, infer_ms: np.ndarray | None = None,
                overlay_ms: np.ndarray | None = None) -> None:
        """rows: (stage, p50, p95, p99) in ms; t_s/e2e_ms: the plot's points (seconds, ms)."""
        self.rate_label.setText(f"fps in <b>{fps_in:.1f}</b> · out <b>{fps_out:.1f}</b> · dropped <b>{dropped}</b>")
        rows = list(rows)
        self.table.setRowCount(len(rows))
        for r, (name, *values) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(name))
            for c, v in enumerate(values, start=1):
                item = QTableWidgetItem("–" if v is None else f"{v:7.1f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.e2e_curve.setData(t_s, e2e_ms)
        if overlay_ms is not None:
            self.age_curve.setData(t_s, overlay_ms)
        if infer_ms is not None:                 # NaN where the model skipped a frame: join the runs
            ran = np.isfinite(infer_ms)
            self.infer_curve.setData(t_s[ran], infer_ms[ran])


__all__ = ["LatencyPanel"]
