"""The window keeps the library up to date by itself: watched folders, drives
that come and go, and another Lookalike writing to the same library."""

from __future__ import annotations

import os
import threading

import pytest
from PySide6.QtCore import Qt

from lookalike.core.library import Library
from lookalike.gui import watching
from lookalike.gui import window as window_module
from lookalike.gui.results import OfflineRole


@pytest.fixture(autouse=True)
def quick_watching(monkeypatch):
    monkeypatch.setattr(watching, "DEBOUNCE_S", 0.1)
    monkeypatch.setattr(watching, "POLL_S", 0.4)  # where live watching is impossible
    monkeypatch.setattr(watching, "OFFLINE_POLL_S", 0.2)


def names(window) -> list[str]:
    return [os.path.basename(window.results.path(r)) for r in range(window.results.rowCount())]


def test_a_photo_added_to_a_watched_folder_appears(qtbot, open_window, indexed, photo_folder,
                                                   photo_maker):  # fmt: skip
    window = open_window(indexed)
    assert window.watch.running
    assert "new-red.jpg" not in names(window)

    photo_maker(photo_folder / "new-red.jpg", "red", 99)

    qtbot.waitUntil(lambda: "new-red.jpg" in names(window), timeout=5000)
    qtbot.waitUntil(lambda: not window.indexing.running, timeout=5000)
    with Library(indexed) as library:
        assert library.status(None).counts.photos == len(os.listdir(photo_folder))

    window.close()
    assert not window.watch.running
    assert not [t.name for t in threading.enumerate() if t.name == "library-poll"]


def test_a_folder_added_later_is_watched_too(qtbot, open_window, indexed, tmp_path,
                                             photo_maker):  # fmt: skip
    window = open_window(indexed)
    later = tmp_path / "later"
    later.mkdir()
    window.add_folders([later])
    qtbot.waitUntil(lambda: not window.indexing.running, timeout=5000)

    photo_maker(later / "blue-later.jpg", "blue", 7)

    qtbot.waitUntil(lambda: "blue-later.jpg" in names(window), timeout=5000)


def test_another_writer_is_reported_once_and_indexing_retries(qtbot, open_window, indexed,
                                                              photo_folder, photo_maker,
                                                              monkeypatch):  # fmt: skip
    monkeypatch.setattr(window_module, "BUSY_RETRY_MS", 200)
    other = Library(indexed)  # the command line, say, indexing the same library
    other.writer.acquire()
    try:
        window = open_window(indexed, ready=False)
        qtbot.waitUntil(lambda: window.messages.showing("busy"), timeout=10_000)
        qtbot.wait(600)  # a few retries, still busy
        assert window.message_area.label.text().count("Another Lookalike") == 1

        qtbot.keyClicks(window.query_bar.edit, "red")  # searching still works
        qtbot.waitUntil(lambda: sorted(names(window)[:2]) == ["red-0.jpg", "red-1.jpg"],
                        timeout=5000)  # fmt: skip

        photo_maker(photo_folder / "red-new.jpg", "red", 42)
    finally:
        other.close()

    qtbot.waitUntil(lambda: "red-new.jpg" in names(window)[:3], timeout=5000)
    assert not window.messages.showing("busy")
    assert "Another Lookalike" not in window.message_area.label.text()


def offline_rows(window) -> list[bool]:
    results = window.results
    return [bool(results.data(results.index(r, 0), OfflineRole)) for r in range(results.rowCount())]


def test_photos_of_an_unplugged_folder_are_offline_until_it_returns(
    qtbot, open_window, indexed, photo_folder
):
    window = open_window(indexed)
    count = window.results.rowCount()
    assert count and not any(offline_rows(window))

    away = photo_folder.with_name("photos-unplugged")
    photo_folder.rename(away)
    qtbot.waitUntil(lambda: window.messages.showing(f"missing:{photo_folder}"), timeout=5000)
    qtbot.waitUntil(lambda: offline_rows(window) == [True] * count, timeout=5000)
    tooltip = window.results.data(window.results.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert "(offline)" in tooltip.splitlines()[0]
    window.grid.viewport().grab()  # paints the offline badges

    qtbot.keyClicks(window.query_bar.edit, "red")
    qtbot.waitUntil(lambda: sorted(names(window)[:2]) == ["red-0.jpg", "red-1.jpg"],
                    timeout=5000)  # fmt: skip
    assert offline_rows(window)[0]
    window.open_photos([0, 1])
    window.grid.setCurrentIndex(window.results.index(0, 0))
    window.preview_current()
    assert window._preview is None
    text = window.message_area.label.text()
    assert text.count("cannot be found") == 1 and text.count("seems to be unplugged") == 1

    away.rename(photo_folder)
    qtbot.waitUntil(lambda: not window.messages.showing(f"missing:{photo_folder}"), timeout=5000)
    qtbot.waitUntil(lambda: not any(offline_rows(window)), timeout=5000)
    assert not window.message_area.isVisible()
