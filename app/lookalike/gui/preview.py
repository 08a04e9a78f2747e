"""A larger look at one photo, on the space bar, with its name, date and size."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImageReader, QKeyEvent, QKeySequence, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QSizePolicy, QVBoxLayout, QWidget

log = logging.getLogger(__name__)


def describe_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


class Preview(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModal(False)
        self.picture = QLabel(self)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.picture.setMinimumSize(200, 150)
        self.caption = QLabel(self)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.caption)

    def show_photo(self, path: str, taken_at: str | None = None) -> None:
        """Show the photo with its name, when it was taken (from EXIF, given as
        ISO 8601, else the file's time), its file size and its pixel size."""
        name = os.path.basename(path)
        self.setWindowTitle(name)
        box = self._room()
        ratio = self.devicePixelRatioF()
        reader = QImageReader(path)
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid():
            reader.setScaledSize(size.scaled(box * ratio, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if image.isNull():
            self.picture.setText(f"This photo cannot be shown: {reader.errorString()}")
            self.resize(480, 320)
        else:
            pixmap = QPixmap.fromImage(image)
            pixmap.setDevicePixelRatio(ratio)
            self.picture.setPixmap(pixmap)
            self.resize(pixmap.deviceIndependentSize().toSize() + QSize(24, 64))
        self.caption.setText(self._caption(path, name, size, taken_at))
        self.show()
        self.raise_()
        self.activateWindow()

    def _room(self) -> QSize:
        parent = self.parentWidget()
        screen = self.screen() or (parent.screen() if parent is not None else None)
        if screen is None:
            return QSize(1024, 768)
        available = screen.availableGeometry().size()
        return QSize(int(available.width() * 0.8), int(available.height() * 0.8) - 60)

    def _caption(self, path: str, name: str, pixels: QSize, taken_at: str | None) -> str:
        parts = [name]
        try:
            info = Path(path).stat()
        except OSError:
            parts.append("the file is missing")
        else:
            if taken_at:
                when = datetime.fromisoformat(taken_at).strftime("taken %Y-%m-%d %H:%M")
            else:
                when = datetime.fromtimestamp(info.st_mtime).strftime("%Y-%m-%d %H:%M")
            parts.append(when)
            parts.append(describe_size(info.st_size))
        if pixels.isValid():
            parts.append(f"{pixels.width()} × {pixels.height()}")
        return "   ·   ".join(parts)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space or event.matches(QKeySequence.StandardKey.Close):
            self.close()
            return
        super().keyPressEvent(event)
