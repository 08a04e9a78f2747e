"""The application icon ships inside the package and loads."""

from __future__ import annotations

from PySide6.QtGui import QImage

from lookalike.gui.icons import FOLDER, app_icon


def test_the_icon_ships_as_a_drawing_and_a_rendering():
    assert (FOLDER / "lookalike.svg").read_text().startswith("<svg")
    rendering = QImage(str(FOLDER / "lookalike.png"))
    assert (rendering.width(), rendering.height()) == (256, 256)


def test_the_icon_loads(qapp):
    icon = app_icon()
    assert not icon.isNull()
    assert not icon.pixmap(64, 64).isNull()
