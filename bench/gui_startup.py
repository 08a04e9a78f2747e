"""Time to first window: from process start to the main window on screen, on a
library of 100,000 photos; also until the grid is filled (the whole library,
newest first) and the model is loaded with its 100,000-vector index.

Each round starts a fresh Python process that imports the app, builds the
window on the library and shows it, the way `lookalike` does, and reports the
moments it reached. Prints one JSON report.

    .venv/bin/python bench/gui_startup.py [--photos 100000] [--rounds 5]
        [--platform offscreen|xcb]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def child(data: Path, model: Path, started: float) -> None:
    """Runs in the measured process: open the window, note the moments, quit."""
    sys.path.insert(0, str(BENCH.parent / "app"))
    from lookalike.core.places import Places
    from lookalike.gui.app import make_application
    from lookalike.gui.window import MainWindow

    moments: dict[str, float] = {"imported": time.time() - started}
    app = make_application()
    window = MainWindow(Places.under(data), model)
    window.show()
    app.processEvents()
    handle = window.windowHandle()
    while handle is None or not handle.isExposed():
        app.processEvents()
        handle = window.windowHandle()
    moments["first_window"] = time.time() - started

    def ready(name: str, done: bool) -> None:
        if done and name not in moments:
            moments[name] = time.time() - started

    deadline = time.monotonic() + 120
    while len(moments) < 4 and time.monotonic() < deadline:
        app.processEvents()
        ready("grid_filled", window.results.rowCount() > 0)
        ready("model_ready", window.model is not None)
        time.sleep(0.002)
    moments["rows"] = window.results.rowCount()
    window.close()
    print(json.dumps(moments))


def measure(data: Path, model: Path, platform_name: str) -> dict[str, float]:
    env = dict(os.environ, QT_QPA_PLATFORM=platform_name)
    started = time.time()
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(data), str(model), repr(started)],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--platform", default="offscreen")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), float(args.child[2]))
        return

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    from gui_library import big_library

    places, model = big_library(args.photos)
    root = places.data.parent
    rounds = [measure(root, model, args.platform) for _ in range(args.rounds)]
    keys = ["imported", "first_window", "grid_filled", "model_ready"]
    report = {
        "benchmark": "gui_startup",
        "photos": args.photos,
        "platform": args.platform,
        "rounds": args.rounds,
        # A moment missing from a round (say, a model that failed to load) counts
        # as never reached: that key becomes null rather than the report failing.
        "median_s": {k: _summary(statistics.median, rounds, k) for k in keys},
        "max_s": {k: _summary(max, rounds, k) for k in keys},
        "rows_shown": rounds[-1]["rows"],
        "python": platform.python_version(),
        "pyside": _pyside_version(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))


def _summary(
    how: Callable[[list[float]], float], rounds: list[dict[str, float]], key: str
) -> float | None:
    if any(key not in r for r in rounds):
        return None
    return round(how([r[key] for r in rounds]), 3)


def _pyside_version() -> str:
    import PySide6

    return str(PySide6.__version__)


if __name__ == "__main__":
    main()
