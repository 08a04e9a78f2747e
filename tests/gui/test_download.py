"""The first-run screen downloads the default model (from a Hub on the loopback
interface), and the Model menu switches between installed models."""

from __future__ import annotations

import os
import socket
import threading

import pytest
from PySide6.QtCore import Qt

import toy_clip
from lookalike.core.library import Library
from lookalike.core.model_store import ModelStore
from lookalike.gui import window as window_module
from lookalike.gui.downloading import default_entry
from test_hub import fake_hub_server  # noqa: F401  (the `fake_hub` fixture)


class Gate:
    """Stands in for the fake Hub's pause event: the server calls `set()` half
    way through a file, and it holds the server there until released."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def set(self) -> None:
        self.reached.set()
        self.release.wait(10)


def first_names(window, count: int) -> list[str]:
    rows = min(count, window.results.rowCount())
    return [os.path.basename(window.results.path(r)) for r in range(rows)]


@pytest.fixture
def library_without_model(places, photo_folder):
    with Library(places) as library:
        library.add_folders([photo_folder])
    return places


def test_the_default_model_downloads_and_then_searches(qtbot, open_window, library_without_model,
                                                       toy_model, fake_hub):  # fmt: skip
    entry = default_entry()
    fake_hub.add_model(entry.repo, toy_model)
    window = open_window(library_without_model, ready=False)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.model_page)
    assert window.model_page.download.isEnabled()

    qtbot.mouseClick(window.model_page.download, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)

    installed = library_without_model.models / entry.name
    assert window.library.active_model == installed
    assert [m.name for m in window.model_store.installed()] == [entry.name]
    assert window.pages.currentWidget() is window.grid
    qtbot.keyClicks(window.query_bar.edit, "red")
    qtbot.waitUntil(lambda: sorted(first_names(window, 2)) == ["red-0.jpg", "red-1.jpg"],
                    timeout=10_000)  # fmt: skip


def test_a_cancelled_download_leaves_no_model(qtbot, open_window, library_without_model,
                                              toy_model, fake_hub):  # fmt: skip
    entry = default_entry()
    files = fake_hub.add_model(entry.repo, toy_model)
    gate = Gate()
    fake_hub.pause["textual/model.onnx"] = (len(files["textual/model.onnx"]) // 2, gate)
    window = open_window(library_without_model, ready=False)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.model_page)

    qtbot.mouseClick(window.model_page.download, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(gate.reached.is_set, timeout=10_000)
    assert window.model_page.cancel.isVisible() and window.model_page.progress.isVisible()
    qtbot.mouseClick(window.model_page.cancel, Qt.MouseButton.LeftButton)
    gate.release.set()
    qtbot.waitUntil(lambda: not window.downloads.running, timeout=10_000)

    assert "cancelled" in window.statusBar().currentMessage()
    store = ModelStore(library_without_model.models)
    assert store.installed() == [] and not store.is_installed(entry.name)
    assert window.model is None and window.library.active_model is None
    assert window.pages.currentWidget() is window.model_page
    assert window.model_page.download.isEnabled() and not window.model_page.cancel.isVisible()


def test_an_unreachable_hub_is_explained(qtbot, open_window, places, monkeypatch):
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    window = open_window(places, ready=False)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.model_page)

    qtbot.mouseClick(window.model_page.download, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.downloads.running, timeout=20_000)

    text = window.model_page.problem.text()
    assert "could not be downloaded" in text and "network connection" in text
    assert window.model_page.problem.isVisible()
    assert text in window.message_area.label.text()
    assert window.model is None and window.model_page.download.isEnabled()


def test_the_model_menu_switches_between_installed_models(qtbot, open_window, indexed, toy_model):
    store = ModelStore(indexed.models)
    first = store.import_folder(toy_model, name="toy-a")
    second = store.import_folder(toy_model, name="toy-b")
    window = open_window(indexed, first)

    window._fill_installed_menu()
    actions = {a.text(): a for a in window.installed_menu.actions()}
    assert sorted(actions) == ["toy-a", "toy-b"]
    assert actions["toy-a"].isChecked() and not actions["toy-b"].isChecked()

    actions["toy-b"].trigger()
    qtbot.waitUntil(lambda: window.model is not None and window.model.folder == second,
                    timeout=10_000)  # fmt: skip
    assert window.library.active_model == second
    qtbot.waitUntil(lambda: not window.indexing.running, timeout=10_000)
    window._fill_installed_menu()
    assert [a.text() for a in window.installed_menu.actions() if a.isChecked()] == ["toy-b"]


def test_searches_use_the_old_model_until_the_new_one_has_indexed(qtbot, open_window, indexed,
                                                                  toy_model, tmp_path,
                                                                  monkeypatch):  # fmt: skip
    monkeypatch.setattr(window_module, "BUSY_RETRY_MS", 200)
    wide = toy_clip.build(tmp_path / "toy-wide", dim=32)
    window = open_window(indexed, toy_model)
    old = window.model
    other = Library(indexed)  # holds the new model's run back until released
    other.writer.acquire()
    try:
        window.use_model(wide)
        qtbot.waitUntil(lambda: window.messages.showing("busy"), timeout=10_000)
        assert window.model is old and window._incoming is not None
        assert window.library.active_model == wide.resolve()
        assert "Switching" in window.provider_label.text()
        qtbot.keyClicks(window.query_bar.edit, "green")
        qtbot.waitUntil(lambda: sorted(first_names(window, 2)) == ["green-0.jpg", "green-1.jpg"],
                        timeout=5000)  # fmt: skip
    finally:
        other.close()

    qtbot.waitUntil(lambda: window.model is not old, timeout=10_000)
    assert window.model.folder == wide.resolve() and window._incoming is None
    assert window.provider_label.text().startswith("Runs on CPU")
    qtbot.waitUntil(lambda: sorted(first_names(window, 2)) == ["green-0.jpg", "green-1.jpg"],
                    timeout=5000)  # fmt: skip


def test_fast_indexing_makes_an_int8_model_and_indexes_with_it(qtbot, open_window, indexed,
                                                               toy_model):  # fmt: skip
    store = ModelStore(indexed.models)
    folder = store.import_folder(toy_model, name="toy-fast")
    window = open_window(indexed, folder)
    assert window.fast_action.isEnabled() and not window.fast_action.isChecked()
    assert not (folder / "visual" / "model.int8.onnx").exists()

    window.fast_action.trigger()

    qtbot.waitUntil(lambda: window.model.visual_variant == "int8", timeout=20_000)
    assert (folder / "visual" / "model.int8.onnx").is_file()
    assert window.library.active_model == folder and window.library.active_variant == "int8"
    assert window.fast_action.isChecked()
    qtbot.waitUntil(lambda: not window.indexing.running, timeout=10_000)
    qtbot.keyClicks(window.query_bar.edit, "green")
    qtbot.waitUntil(lambda: sorted(first_names(window, 2)) == ["green-0.jpg", "green-1.jpg"],
                    timeout=5000)  # fmt: skip

    window.fast_action.trigger()  # and back
    qtbot.waitUntil(lambda: window.model.visual_variant == "float", timeout=20_000)
    assert window.library.active_variant == "float" and not window.fast_action.isChecked()
