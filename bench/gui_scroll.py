"""Scrolling through 100,000 photos in the grid: the time each frame takes.

Opens the real main window (offscreen by default) on a library of 100,000
photos with cached thumbnails, waits for the grid to list them, then scrolls
programmatically: each step moves the view, paints it synchronously and lets
queued thumbnails arrive. Reports the frame times of a fast fling (thumbnails
mostly not ready: placeholders), of a slow scroll (thumbnails arriving), and of
scrolling back over what was seen (cache hits); also the cost of handing the
grid 100,000 rows (until its first paint, and until the batched layout has
placed them all). Prints one JSON report, with the load average: the numbers
only mean something on an otherwise idle machine.

    .venv/bin/python bench/gui_scroll.py [--photos 100000] [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "app"))


def frame_stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "frames": len(times),
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def scroll(app, grid, start: int, step: int, count: int, settle_s: float = 0.0) -> list[float]:  # type: ignore[no-untyped-def]
    bar = grid.verticalScrollBar()
    times = []
    value = start
    for _ in range(count):
        value = min(bar.maximum(), value + step)
        began = time.perf_counter()
        bar.setValue(value)
        grid.viewport().repaint()
        app.processEvents()
        times.append(time.perf_counter() - began)
        if settle_s:
            time.sleep(settle_s)  # the loader threads work meanwhile, as between real frames
            app.processEvents()
    return times


def wait_for_layout(app, grid) -> float:  # type: ignore[no-untyped-def]
    """When the batched layout has placed every row: the scroll range stops growing."""
    bar = grid.verticalScrollBar()
    last, stable_since = -1, time.perf_counter()
    while time.perf_counter() - stable_since < 0.3:
        app.processEvents()
        if bar.maximum() != last:
            last, stable_since = bar.maximum(), time.perf_counter()
    return stable_since


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

    from PySide6 import __version__ as pyside_version

    from gui_library import big_library
    from lookalike.gui.app import make_application
    from lookalike.gui.window import MainWindow

    places, model = big_library(args.photos)
    app = make_application()
    window = MainWindow(places, model)
    window.resize(1280, 800)
    window.show()
    deadline = time.monotonic() + 120
    while window.results.rowCount() < args.photos and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    grid = window.grid
    listing = window.search._listing or []

    began = time.perf_counter()
    window.results.set_photos(listing)
    app.processEvents()
    grid.viewport().repaint()
    reset_s = time.perf_counter() - began
    layout_s = wait_for_layout(app, grid) - began

    cell = grid.gridSize().height()
    fling = scroll(app, grid, 0, cell * 6, args.steps)
    slow = scroll(app, grid, 0, cell // 4, args.steps, settle_s=0.016)
    back = scroll(app, grid, grid.verticalScrollBar().value(), -(cell // 4), args.steps)
    report = {
        "benchmark": "gui_scroll",
        "photos": window.results.rowCount(),
        "platform": os.environ["QT_QPA_PLATFORM"],
        "viewport": [grid.viewport().width(), grid.viewport().height()],
        "cell_px": cell,
        "reset_to_first_paint_ms": round(reset_s * 1000, 2),
        "layout_done_ms": round(layout_s * 1000, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "fling_6_rows_per_frame": frame_stats(fling),
        "slow_quarter_row_per_frame": frame_stats(slow),
        "back_over_cached": frame_stats(back),
        "thumbnails_cached": window.thumbnails.cached,
        "python": platform.python_version(),
        "pyside": pyside_version,
        "cpus": os.cpu_count(),
    }
    window.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
