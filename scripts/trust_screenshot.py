"""Screenshot of the viewer with low-confidence fading on and the explain panel open.

    QT_QPA_PLATFORM=offscreen python scripts/trust_screenshot.py docs/trust_viewer.png [--model M] [--class bone]

Plays the sample clip, turns `fade` on, waits, presses E (Seg-Grad-CAM of --class on the frame on
screen), waits for the heatmap while the video keeps running, then grabs the window.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from surgical_seg.config import load_app_config, replace_section
from surgical_seg.engine import load_segmenter
from surgical_seg.viewer.app import MainWindow, sample_source
from surgical_seg.viewer.settings import ENV_VAR


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--model", default="fastscnn_spine")
    ap.add_argument("--class", dest="class_name", default="bone")
    ap.add_argument("--source")
    a = ap.parse_args()
    os.environ[ENV_VAR] = os.path.join(tempfile.mkdtemp(), "viewer.ini")   # keep off the user's settings
    cfg = replace_section(load_app_config(), "overlay", confidence="fade")
    app = QApplication.instance() or QApplication([])
    win = MainWindow(cfg, load_segmenter(a.model, threads=1), a.source or sample_source())
    win.resize(1600, 800)
    win.show()
    win.explain_panel.class_box.setCurrentText(a.class_name)
    state = {"asked": None}

    def tick() -> None:
        now = time.monotonic()
        if state["asked"] is None and win.current is not None and win.current.segmentation is not None:
            if win.explain_current():
                state["asked"] = now
        elif state["asked"] is not None and not win.explain_panel.busy and now - state["asked"] > 2.0:
            win.grab().save(a.out)
            print(f"wrote {a.out}: {win.explain_panel.title.text()} | HUD: {win.hud.text()}")
            win.close()
            app.quit()

    QTimer.singleShot(4000, lambda: (timer.start(200)))
    timer = QTimer()
    timer.timeout.connect(tick)
    QTimer.singleShot(120_000, app.quit)
    app.exec()


if __name__ == "__main__":
    main()
