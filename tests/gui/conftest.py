"""Shared fixtures for the window's tests: a toy model, libraries of coloured
photos, and windows that are closed and checked for leftover threads."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PIL import Image, ImageDraw

from lookalike.core.library import Library
from lookalike.core.places import Places
from lookalike.gui.workers import running_threads

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "models"))
import toy_clip  # noqa: E402

COLOURS = toy_clip.COLOURS


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return toy_clip.build(tmp_path_factory.mktemp("model") / "toy-clip")


def make_photo(path: Path, colour: str, variant: int = 0, size: tuple[int, int] = (96, 72)) -> Path:
    """A photo of mostly one palette colour, with a small mark so no two are equal."""
    image = Image.new("RGB", size, COLOURS[colour])
    draw = ImageDraw.Draw(image)
    x = 6 + (variant * 11) % (size[0] - 18)
    shade = tuple(max(0, c - 40) for c in COLOURS[colour])
    draw.ellipse((x, 8, x + 12, 20), fill=shade)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)
    return path


def make_photos(folder: Path, per_colour: int = 2, colours: list[str] | None = None) -> list[Path]:
    """`per_colour` photos of each colour, named like red-0.jpg, with mtimes
    one minute apart so that newest-first order is known."""
    paths = []
    for c, colour in enumerate(colours or list(COLOURS)):
        for i in range(per_colour):
            path = make_photo(folder / f"{colour}-{i}.jpg", colour, c * per_colour + i)
            stamp = 1_600_000_000 + 60 * len(paths)
            os.utime(path, (stamp, stamp))
            paths.append(path)
    return paths


@pytest.fixture
def photo_maker() -> Callable[..., Path]:
    return make_photo


def drop(window: object, mime: object) -> None:
    """Send a real drag-enter and drop of `mime` to the middle of `window`."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication, QWidget

    assert isinstance(window, QWidget)
    position = QPointF(window.rect().center())
    action, buttons = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton
    modifiers = Qt.KeyboardModifier.NoModifier
    try:  # Qt 6.12 takes the position as QPointF; earlier versions as QPoint
        enter = QDragEnterEvent(position, action, mime, buttons, modifiers)
    except TypeError:
        enter = QDragEnterEvent(position.toPoint(), action, mime, buttons, modifiers)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, QDropEvent(position, action, mime, buttons, modifiers))


@pytest.fixture
def drop_on() -> Callable[[object, object], None]:
    return drop


@pytest.fixture
def places(tmp_path: Path) -> Places:
    return Places.under(tmp_path / "library")


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    make_photos(folder)
    return folder


@pytest.fixture
def indexed(places: Places, photo_folder: Path, toy_model: Path) -> Places:
    """A library of the photo folder, indexed with the toy model."""
    with Library(places) as library:
        library.add_folders([photo_folder])
        model = library.load_model(toy_model)
        report = library.index(model, workers=1)
        assert report.encoded == len(list(photo_folder.iterdir()))
    return places


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    yield
    left = [thread.objectName() for thread in running_threads()]
    assert not left, f"threads still running after the test: {left}"


@pytest.fixture
def open_window(qtbot) -> Iterator[Callable[..., object]]:  # type: ignore[no-untyped-def]
    """Open a main window; with `ready`, wait for its model and first indexing run."""
    from lookalike.gui.window import MainWindow

    windows: list[MainWindow] = []

    def opener(places: Places, model: Path | None = None, ready: bool = True) -> MainWindow:
        window = MainWindow(places, model)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        if ready:
            qtbot.waitUntil(lambda: window.model is not None, timeout=10_000)
            qtbot.waitUntil(lambda: not window.indexing.running, timeout=10_000)
            qtbot.waitUntil(lambda: window.search.photo_count is not None, timeout=10_000)
        return window

    yield opener
    for window in windows:
        window.close()
