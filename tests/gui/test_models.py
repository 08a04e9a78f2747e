"""The Qt models and the thumbnail loader behind the grid."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap

from lookalike.core.imaging import ThumbnailCache, content_hash, read_photo_file
from lookalike.core.library import Library
from lookalike.gui.results import OfflineRole, PathRole, PhotoIdRole, PhotoResults, ScoreRole
from lookalike.gui.thumbnails import Request, RequestStack, Thumbnails


def test_results_model_passes_the_model_tester(qtmodeltester):
    results = PhotoResults(None)
    results.set_photos([(1, "/photos/a.jpg"), (2, "/photos/b.jpg")], [0.9, 0.4])
    qtmodeltester.check(results, force_py=True)

    results.set_photos([(3, "/photos/c.jpg")])
    qtmodeltester.check(results, force_py=True)
    index = results.index(0, 0)
    assert index.data(PhotoIdRole) == 3
    assert index.data(PathRole) == "/photos/c.jpg"
    assert index.data(ScoreRole) is None


def test_the_windows_grid_model_passes_the_model_tester(qtmodeltester, open_window, indexed):
    window = open_window(indexed)
    assert window.results.rowCount() > 0
    qtmodeltester.check(window.results, force_py=True)


def test_a_missing_thumbnail_is_made_off_the_gui_thread(qtbot, places, photo_folder):
    with Library(places) as library:
        library.add_folders([photo_folder])
    photo = sorted(photo_folder.iterdir())[0]
    thumbnails = Thumbnails(places)
    try:
        results = PhotoResults(thumbnails)
        results.set_photos([(1, str(photo))])
        index = results.index(0, 0)
        assert index.data(Qt.ItemDataRole.DecorationRole) is None  # a placeholder at first

        with qtbot.waitSignal(results.dataChanged, timeout=5000):
            pass
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
    finally:
        thumbnails.close()

    assert isinstance(pixmap, QPixmap) and not pixmap.isNull()
    assert content_hash(read_photo_file(photo)) in ThumbnailCache(places.thumbnails)


def test_an_unreadable_photo_gets_a_broken_thumbnail_not_an_endless_wait(qtbot, places, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    Library(places).close()  # the window always opens the catalogue before any thread does
    thumbnails = Thumbnails(places)
    try:
        results = PhotoResults(thumbnails)
        results.set_photos([(1, str(broken))])
        results.index(0, 0).data(Qt.ItemDataRole.DecorationRole)
        with qtbot.waitSignal(results.dataChanged, timeout=5000):
            pass
        pixmap = results.index(0, 0).data(Qt.ItemDataRole.DecorationRole)
    finally:
        thumbnails.close()
    assert isinstance(pixmap, QPixmap) and pixmap.isNull()


def test_requests_are_served_newest_first_and_old_ones_dropped():
    stack = RequestStack(limit=3)
    for i in range(5):
        stack.push(Request(i, i, f"/p/{i}.jpg", 160))
    stack.push(Request(2, 2, "/p/2.jpg", 160))  # asked again: now the newest

    taken = [stack.take() for _ in range(3)]

    assert [r.photo_id for r in taken if r] == [2, 4, 3]
    assert len(stack) == 0
    stack.close()
    assert stack.take() is None


def test_results_can_grow_without_disturbing_the_rows_shown(qtmodeltester, qtbot):
    results = PhotoResults(None)
    results.set_photos([(1, "/photos/a.jpg"), (2, "/photos/b.jpg")], [0.9, 0.8], [True, True])
    qtmodeltester.check(results, force_py=True)
    with qtbot.waitSignal(results.rowsInserted) as inserted:
        results.add_photos([(3, "/photos/c.jpg")], [0.7], [False])
    assert inserted.args[1:] == [2, 2]
    assert [results.photo_id(row) for row in range(results.rowCount())] == [1, 2, 3]
    assert results.index(2, 0).data(ScoreRole) == 0.7
    assert results.index(2, 0).data(OfflineRole) is True
    with pytest.raises(ValueError, match="come with what the shown ones came with"):
        results.add_photos([(4, "/photos/d.jpg")])
