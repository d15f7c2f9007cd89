"""Latency panel: fixed axes (cached axis pictures: the viewer's longest UI stall was axis regeneration)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PyQt6")
from PyQt6.QtWidgets import QApplication  # noqa: E402

from surgical_seg.viewer.latency import LatencyPanel, y_ceiling  # noqa: E402


@pytest.fixture(scope="module")
def app():
    return QApplication.instance() or QApplication([])


def test_y_ceiling_steps_above_the_99th_percentile_and_the_budget():
    assert y_ceiling(np.array([10.0, 20.0, 30.0])) == 50
    assert y_ceiling(np.array([10.0] * 299 + [900.0])) == 50        # one spike in 300 frames: off the chart
    assert y_ceiling(np.array([10.0] * 95 + [900.0] * 5)) == 1000    # 5 %: the ceiling rises to show them
    assert y_ceiling(np.array([10.0, np.nan, 20.0]), floor_ms=150) == 200
    assert y_ceiling(np.zeros(0), floor_ms=150) == 200
    assert y_ceiling(np.array([1e6])) == 10000


def test_plot_axes_stay_fixed_while_data_scrolls(app):
    panel = LatencyPanel(budget_ms=150, window_s=10)
    view = panel.plot.getViewBox()
    rows = [("infer", 10.0, 12.0, 13.0)]
    for start in (0.0, 5.0, 20.0):
        t = np.arange(start, start + 10, 1 / 30)
        panel.refresh(30, 30, 0, rows, t, np.full(t.size, 40.0), np.full(t.size, 10.0), np.full(t.size, 30.0))
        (x0, x1), (y0, y1) = view.viewRange()
        assert (x0, x1) == pytest.approx((-10, 0)) and (y0, y1) == pytest.approx((0, 200))
    x, y = panel.e2e_curve.getData()
    assert x[-1] == 0 and x[0] == pytest.approx(-10 + 1 / 30)        # seconds before the newest frame
    t = np.arange(0, 10, 1 / 30)
    panel.refresh(30, 30, 0, rows, t, np.full(t.size, 700.0), None, None)
    assert view.viewRange()[1] == pytest.approx([0, 1000])             # the ceiling moves when data leaves it
    panel.refresh(30, 30, 0, rows, t, np.full(t.size, 40.0), np.full(t.size, 10.0), np.full(t.size, 1500.0))
    assert view.viewRange()[1] == pytest.approx([0, 2000])             # an old overlay stays on the chart
    assert panel.table.item(0, 2).text().strip() == "12.0"


def test_overlay_age_heads_the_table_and_the_legend_is_outside_the_plot(app):
    panel = LatencyPanel(budget_ms=150, window_s=10)
    rows = [("capture", 1.0, 2.0, 3.0), ("infer", 10.0, 12.0, 13.0), ("video latency", 20.0, 30.0, 40.0),
            ("overlay age", 33.0, 38.0, 45.0)]
    t = np.arange(0, 10, 1 / 30)
    panel.refresh(30, 30, 0, rows, t, np.full(t.size, 40.0), np.full(t.size, 10.0), np.full(t.size, 30.0))
    names = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    assert names == ["overlay age", "video latency", "capture", "infer"]
    assert panel.table.item(0, 2).text().strip() == "38.0"
    assert panel.plot.getPlotItem().legend is None                      # nothing drawn over the curves
    assert "overlay age" in panel.legend.text() and "infer" in panel.legend.text()
