"""Starting the window: the QApplication, its icon, and the main window."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from lookalike import APP_NAME, __version__
from lookalike.core.places import Places
from lookalike.gui.icons import app_icon

log = logging.getLogger(__name__)


def make_application(argv: list[str] | None = None) -> QApplication:
    """The running QApplication, made and named if there is none yet."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv or sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName("lookalike")
    app.setWindowIcon(app_icon())
    return app


def run_app(places: Places, model_dir: Path | None) -> int:
    """Show the main window on this library and run until it is closed."""
    from lookalike.gui.window import MainWindow

    app = make_application()
    window = MainWindow(places, model_dir)
    window.show()
    log.info("Window shown")
    return app.exec()
