"""Background indexing: progress, pause, and closing the window in the middle."""

from __future__ import annotations

import os

import numpy as np

from lookalike.core.catalogue import Catalogue
from lookalike.core.clip import ClipModel
from lookalike.core.library import Library
from lookalike.core.vectors import VectorIndex
from lookalike.gui.indexing import Indexing, State


def test_the_worker_reports_progress_and_finishes(qtbot, places, photo_folder, toy_model):
    with Library(places) as library:
        library.add_folders([photo_folder])
    model = ClipModel(toy_model)
    indexing = Indexing(places)
    seen = []
    indexing.progressed.connect(seen.append)

    with qtbot.waitSignal(indexing.finished, timeout=10_000) as finished:
        indexing.start(model, workers=1)
        assert indexing.state is State.RUNNING

    report = finished.args[0]
    total = len(os.listdir(photo_folder))
    assert report.encoded == total and not report.cancelled
    qtbot.waitUntil(lambda: indexing.state is State.IDLE)
    assert seen and seen[-1].done == seen[-1].total == total


def test_pausing_holds_the_worker_until_resumed(qtbot, places, photo_folder, toy_model):
    with Library(places) as library:
        library.add_folders([photo_folder])
    indexing = Indexing(places)
    indexing.progressed.connect(lambda progress: indexing.pause())

    with qtbot.waitSignal(indexing.progressed, timeout=10_000):
        indexing.start(ClipModel(toy_model), workers=1)
    assert indexing.state is State.PAUSED
    qtbot.wait(300)
    assert indexing.running and indexing.worker is not None and indexing.worker.isRunning()

    indexing.progressed.disconnect()
    with qtbot.waitSignal(indexing.finished, timeout=10_000) as finished:
        indexing.resume()
    assert finished.args[0].encoded == len(os.listdir(photo_folder))
    qtbot.waitUntil(lambda: not indexing.running)


def test_new_photos_are_found_once_indexing_ends(qtbot, open_window, places, photo_folder,
                                                 toy_model):  # fmt: skip
    with Library(places) as library:
        library.add_folders([photo_folder])

    window = open_window(places, toy_model)  # waits for the first indexing run
    qtbot.keyClicks(window.query_bar.edit, "green")

    def green_first() -> bool:
        rows = min(2, window.results.rowCount())
        return rows == 2 and all(
            os.path.basename(window.results.path(r)).startswith("green-") for r in range(rows)
        )

    qtbot.waitUntil(green_first, timeout=5000)
    assert window.library.active_model == toy_model.resolve()


def test_closing_mid_indexing_stops_cleanly(qtbot, open_window, places, tmp_path, toy_model,
                                            photo_maker):  # fmt: skip
    folder = tmp_path / "many"
    total = 300
    for i in range(total):
        photo_maker(folder / f"p{i:03}.jpg", "blue" if i % 2 else "green", i, size=(320, 240))
    with Library(places) as library:
        library.add_folders([folder])

    window = open_window(places, toy_model, ready=False)
    done = [0]
    qtbot.waitUntil(lambda: window.model is not None, timeout=10_000)
    window.indexing.progressed.connect(lambda progress: done.__setitem__(0, progress.done))
    qtbot.waitUntil(lambda: done[0] >= 40, timeout=10_000)  # past a few committed batches
    window.close()

    assert window.indexing.worker is None or window.indexing.worker.isFinished()
    model = ClipModel(toy_model)
    with Catalogue(places.catalogue) as catalogue:
        model_id = catalogue.model_id(model.key, model.dim)
        stored = catalogue.embedding_ids(model_id)
    assert 0 < len(stored) < total  # it really was stopped in the middle
    index = VectorIndex(places.indexes / f"{model.key}.usearch", model.dim)
    assert np.array_equal(np.sort(index.keys()), stored)  # saved whole, matching the catalogue
