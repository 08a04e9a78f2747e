"""The main window around the grid: model setup, folders, actions, shortcuts."""

from __future__ import annotations

import os

import onnxruntime as ort
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QGuiApplication

from lookalike.core.clip import cuda_problem
from lookalike.core.library import Library
from lookalike.core.search import TermKind


def test_without_a_model_the_window_asks_for_one(qtbot, open_window, places, toy_model, tmp_path):
    window = open_window(places, ready=False)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.model_page)
    assert window.model_page.download.isEnabled()
    assert "ViT-B-32__openai" in window.model_page.download.toolTip()

    assert not window.model_page.offer(tmp_path)
    assert "config.json" in window.model_page.problem.text()

    assert window.model_page.offer(toy_model)
    qtbot.waitUntil(lambda: window.model is not None, timeout=10_000)
    assert window.library.active_model == toy_model.resolve()
    assert window.pages.currentWidget() is window.empty_page  # no folders yet
    assert window.provider_label.text().startswith("Runs on CPU")
    if "CUDAExecutionProvider" in ort.get_available_providers() and cuda_problem():
        # onnxruntime-gpu on a machine without CUDA: said in the status bar, detailed on hover
        assert window.provider_label.text() == "Runs on CPU (CUDA unavailable)"
        assert "cannot open shared object file" in window.provider_label.toolTip()


def test_a_model_that_fails_to_load_is_reported_once(qtbot, open_window, places, tmp_path,
                                                     toy_model):  # fmt: skip
    broken = tmp_path / "broken-model"
    for name in ("config.json", "visual/preprocess_cfg.json", "textual/tokenizer.json",
                 "textual/tokenizer_config.json"):  # fmt: skip
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_bytes((toy_model / name).read_bytes())
    for part in ("visual", "textual"):
        (broken / part / "model.onnx").write_bytes(b"not a model")
    window = open_window(places, broken, ready=False)
    qtbot.waitUntil(lambda: window.message_area.isVisible(), timeout=10_000)

    window.load_model(broken)
    qtbot.waitUntil(lambda: window._model_task is None, timeout=10_000)

    text = window.message_area.label.text()
    assert text.count("could not be loaded") == 1
    assert "Choose a working model folder" in text
    assert window.pages.currentWidget() is window.model_page


def test_dropping_a_folder_adds_it_and_indexes_it(qtbot, open_window, places, toy_model,
                                                  photo_folder, drop_on):  # fmt: skip
    window = open_window(places, toy_model)
    assert window.pages.currentWidget() is window.empty_page

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo_folder))])
    drop_on(window, mime)

    assert [f.path for f in window.library.folders()] == [str(photo_folder.resolve())]
    count = len(os.listdir(photo_folder))
    qtbot.waitUntil(lambda: window.results.rowCount() == count, timeout=10_000)
    qtbot.waitUntil(lambda: not window.indexing.running, timeout=10_000)
    assert window.pages.currentWidget() is window.grid
    assert window.count_label.text() == f"{count} photos"


def test_removing_a_folder_forgets_its_photos(qtbot, open_window, indexed, photo_folder):
    window = open_window(indexed)
    assert window.results.rowCount() > 0

    window.remove_folder(str(photo_folder.resolve()))

    qtbot.waitUntil(lambda: window.results.rowCount() == 0, timeout=5000)
    assert window.library.folders() == []
    assert window.pages.currentWidget() is window.empty_page


def test_find_similar_queries_by_a_library_photo(qtbot, open_window, indexed):
    window = open_window(indexed)
    rows = [r for r in range(window.results.rowCount())
            if os.path.basename(window.results.path(r)).startswith("purple-")]  # fmt: skip

    window.find_similar(rows[:1])

    [chip] = window.query_bar.chips
    assert chip.kind is TermKind.PHOTO
    qtbot.waitUntil(lambda: window.results.has_scores, timeout=5000)
    top = [os.path.basename(window.results.path(r)) for r in range(2)]
    assert all(name.startswith("purple-") for name in top)


def test_shortcuts_return_to_the_search_and_zoom_the_grid(qtbot, open_window, indexed):
    window = open_window(indexed)
    window.focus_grid()
    assert window.grid.hasFocus()

    qtbot.keyClick(window.grid, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.query_bar.edit.hasFocus()
    window.focus_grid()
    qtbot.keyClick(window.grid, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.query_bar.edit.hasFocus()

    side = window.grid.side
    qtbot.keyClick(window.grid, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert window.grid.side == side + 32
    qtbot.keyClick(window.grid, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert window.grid.side == side


def test_space_shows_a_preview_with_name_date_and_size(qtbot, open_window, indexed):
    window = open_window(indexed)
    window.focus_grid()

    qtbot.keyClick(window.grid, Qt.Key.Key_Space)

    preview = window._preview
    assert preview is not None and preview.isVisible()
    name = os.path.basename(window.results.path(0))
    caption = preview.caption.text()
    assert name in caption and ("KB" in caption or "bytes" in caption)
    assert "96 × 72" in caption
    qtbot.keyClick(preview, Qt.Key.Key_Space)
    assert not preview.isVisible()


def test_copy_path_puts_every_selected_path_on_the_clipboard(qtbot, open_window, indexed):
    window = open_window(indexed)
    window.copy_paths([0, 1])
    assert QGuiApplication.clipboard().text().splitlines() == [
        window.results.path(0), window.results.path(1)
    ]  # fmt: skip


def test_settings_live_in_the_data_folder_and_survive(qtbot, open_window, indexed):
    window = open_window(indexed)
    window.size_slider.setValue(224)
    window.close()

    assert window.settings.path == indexed.data / "settings.ini"
    assert "thumbnail_size=224" in window.settings.path.read_text()
    again = open_window(indexed)
    assert again.grid.side == 224
    assert again.size_slider.value() == 224


def test_the_active_model_is_kept_in_the_library(qtbot, open_window, places, toy_model):
    window = open_window(places, toy_model)
    window.close()
    with Library(places) as library:
        assert library.active_model == toy_model.resolve()


def test_the_preview_says_when_the_photo_was_taken(qtbot, open_window, places, tmp_path, toy_model):
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2019:07:14 18:30:05"
    folder = tmp_path / "dated"
    folder.mkdir()
    Image.new("RGB", (96, 72), (200, 30, 30)).save(folder / "dated.jpg", exif=exif)
    with Library(places) as library:
        library.add_folders([folder])
        library.index(library.load_model(toy_model), workers=1)

    window = open_window(places)
    window.focus_grid()
    qtbot.keyClick(window.grid, Qt.Key.Key_Space)
    assert "taken 2019-07-14 18:30" in window._preview.caption.text()
