"""The application icon, shipped inside the package so that an installed
Lookalike finds it wherever it lives."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

FOLDER = Path(__file__).resolve().parent


def app_icon() -> QIcon:
    """The Lookalike icon: the drawing for any size, the PNG as a fallback."""
    icon = QIcon(str(FOLDER / "lookalike.svg"))
    icon.addFile(str(FOLDER / "lookalike.png"))
    return icon
