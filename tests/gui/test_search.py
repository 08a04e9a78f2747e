"""Searching from the window: typed words, dropped images, pasted images."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QColor, QGuiApplication, QImage

from lookalike.core.search import Query, Term, TermKind
from toy_clip import COLOURS


def top_names(window, count: int) -> list[str]:
    results = window.results
    rows = min(count, results.rowCount())
    return [os.path.basename(results.path(row)) for row in range(rows)]


def all_red(names: list[str]) -> bool:
    return len(names) == 2 and all(name.startswith("red-") for name in names)


def test_typing_a_query_puts_the_matching_photos_first(qtbot, open_window, indexed):
    window = open_window(indexed)
    assert window.query_bar.edit.hasFocus()

    qtbot.keyClicks(window.query_bar.edit, "red")

    qtbot.waitUntil(lambda: all_red(top_names(window, 2)), timeout=5000)
    assert window.results.has_scores
    assert window.results.rowCount() == 2 * len(COLOURS)
    tooltip = window.results.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "Score" in tooltip


def test_the_first_matches_come_at_once_and_the_rest_follow(
    qtbot, open_window, indexed, monkeypatch
):
    from lookalike.gui import searching

    monkeypatch.setattr(searching, "FIRST_RESULTS", 3)
    threads = []
    search_apart = searching._search_apart

    def spy(*args):
        threads.append(threading.current_thread())
        return search_apart(*args)

    monkeypatch.setattr(searching, "_search_apart", spy)
    window = open_window(indexed)
    results = window.results
    seen = []
    results.modelReset.connect(lambda: seen.append(("shown", results.rowCount())))
    results.rowsInserted.connect(lambda *_: seen.append(("added", results.rowCount())))

    qtbot.keyClicks(window.query_bar.edit, "red")

    everything = 2 * len(COLOURS)
    qtbot.waitUntil(lambda: results.has_scores and results.rowCount() == everything, timeout=5000)
    assert seen[-2:] == [("shown", 3), ("added", everything)]
    assert threads and threading.main_thread() not in threads  # the rest was searched apart
    assert all_red(top_names(window, 2))
    ids = [results.photo_id(row) for row in range(everything)]
    assert len(set(ids)) == everything
    scores = [results.score(row) for row in range(3)]
    assert scores == sorted(scores, reverse=True)
    assert window.statusBar().currentMessage() == f"{everything} best matches"


def test_the_index_opens_off_the_gui_thread_and_a_waiting_query_then_runs(
    qtbot, open_window, indexed
):
    window = open_window(indexed)
    said = []
    window.search.shown.connect(said.append)

    window.search.set_model(window.model)  # as after a switch of model: the index loads anew
    window.search.set_query(Query([Term(TermKind.TEXT, "red")]))

    # Nothing has been delivered to this thread yet, so the index cannot be open.
    assert said == ["Opening the search index…"]
    assert window.search._index_task is not None
    qtbot.waitUntil(lambda: all_red(top_names(window, 2)), timeout=5000)


def test_empty_query_shows_the_library_newest_first(qtbot, open_window, indexed):
    window = open_window(indexed)

    names = top_names(window, 100)

    assert len(names) == 2 * len(COLOURS)
    assert names[0] == f"{list(COLOURS)[-1]}-1.jpg"  # the last one made is the newest
    assert not window.results.has_scores
    assert window.count_label.text() == f"{len(names)} photos"


def test_dropping_an_image_file_searches_for_lookalikes(
    qtbot, open_window, indexed, tmp_path, photo_maker, drop_on
):
    window = open_window(indexed)
    outside = photo_maker(tmp_path / "elsewhere" / "query.png", "red", variant=7)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(outside))])

    drop_on(window, mime)

    assert [chip.kind for chip in window.query_bar.chips] == [TermKind.IMAGE]
    qtbot.waitUntil(lambda: all_red(top_names(window, 2)), timeout=5000)


def test_a_minus_chip_leaves_photos_out(qtbot, open_window, indexed):
    window = open_window(indexed)
    qtbot.keyClicks(window.query_bar.edit, "red")
    qtbot.keyClick(window.query_bar.edit, Qt.Key.Key_Return)
    chip = window.query_bar.chips[0]
    qtbot.waitUntil(lambda: all_red(top_names(window, 2)), timeout=5000)

    chip.not_button.click()

    assert chip.term.weight == -1.0
    qtbot.waitUntil(lambda: not top_names(window, 1)[0].startswith("red-"), timeout=5000)
    assert all(name.startswith("red-") for name in top_names(window, 100)[-2:])


def test_pasting_an_image_saves_it_in_the_cache_and_searches(qtbot, open_window, indexed):
    window = open_window(indexed)
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(QColor(*COLOURS["red"]))
    QGuiApplication.clipboard().setImage(image)
    window.query_bar.edit.setFocus()

    qtbot.keyClick(window.query_bar.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)

    [chip] = window.query_bar.chips
    saved = Path(chip.value)
    assert saved.parent == indexed.cache / "queries" and saved.is_file()
    qtbot.waitUntil(lambda: all_red(top_names(window, 2)), timeout=5000)


def test_image_data_dragged_from_a_browser_is_saved_and_searched(
    qtbot, open_window, indexed, drop_on
):
    window = open_window(indexed)
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(QColor(*COLOURS["green"]))
    mime = QMimeData()
    mime.setImageData(image)
    mime.setUrls([QUrl("https://example.org/green.png")])  # not local: the data is used

    drop_on(window, mime)

    [chip] = window.query_bar.chips
    assert Path(chip.value).parent == indexed.cache / "queries"
    qtbot.waitUntil(lambda: all(n.startswith("green-") for n in top_names(window, 2)), timeout=5000)
