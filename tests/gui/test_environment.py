"""The Qt binding the window runs on must not corrupt Python's reference counts."""

from __future__ import annotations

import sys

import pytest
from PySide6 import __version__ as pyside_version
from PySide6.QtWidgets import QLabel


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 on")
def test_calls_into_qt_keep_none_alive(qapp):
    """PySide6 6.12.0 on Python 3.11 drops a reference to None on every call
    of a method that returns nothing; the window then aborts within seconds
    ("Fatal Python error: none_dealloc"). Use PySide6 6.11, or Python 3.12+."""
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(200):
        label.setText("x")
    lost = before - sys.getrefcount(None)
    assert lost < 50, (
        f"PySide6 {pyside_version} lost {lost} references to None in 200 calls; "
        "the window would crash. Install PySide6-Essentials 6.11.x or use Python 3.12+."
    )
