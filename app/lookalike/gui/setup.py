"""The pages shown instead of the grid when something is needed first: a
model to see photos with, or a folder of photos."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lookalike.core.clip import ModelError, check_folder

log = logging.getLogger(__name__)

MODEL_HELP = (
    "Lookalike finds photos by what they show, and for that it needs a CLIP model: "
    "a folder holding <tt>config.json</tt>, <tt>visual/</tt> and <tt>textual/</tt>, "
    "as Immich publishes them (for example ViT-B-32__openai). "
    "Nothing leaves your computer: the model runs here."
)


def _title(text: str, parent: QWidget) -> QLabel:
    title = QLabel(text, parent)
    font = QFont(title.font())
    font.setPointSizeF(font.pointSizeF() * 1.5)
    font.setBold(True)
    title.setFont(font)
    title.setAlignment(Qt.AlignmentFlag.AlignCenter)
    title.setWordWrap(True)
    return title


def _text(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


def _centred(parent: QWidget, *widgets: QWidget) -> QVBoxLayout:
    outer = QVBoxLayout(parent)
    outer.addStretch(2)
    row = QHBoxLayout()
    row.addStretch(1)
    column = QVBoxLayout()
    column.setSpacing(14)
    for widget in widgets:
        column.addWidget(widget)
    row.addLayout(column, 3)
    row.addStretch(1)
    outer.addLayout(row)
    outer.addStretch(3)
    return column


class ModelPage(QWidget):
    """Asks for a model folder, or offers to download the default model.
    Emits `model_chosen(Path)` with a folder that has every file a model
    needs, and says plainly what is missing otherwise; `download_requested()`
    and `cancel_requested()` for the download, whose progress it shows."""

    model_chosen = Signal(Path)
    download_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.problem = _text("", self)
        self.problem.hide()
        self.choose = QPushButton("Choose a model folder…", self)
        self.choose.setDefault(True)
        self.choose.clicked.connect(self.ask_for_folder)
        self.download = QPushButton("Download the default model", self)
        self.download.clicked.connect(self.download_requested)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress_label = _text("", self)
        self.cancel = QPushButton("Cancel download", self)
        self.cancel.clicked.connect(self.cancel_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.choose, self.download, self.cancel):
            buttons.addWidget(button)
        buttons.addStretch(1)
        holder = QWidget(self)
        holder.setLayout(buttons)
        _centred(
            self,
            _title("Lookalike needs a model to see your photos", self),
            _text(MODEL_HELP, self),
            holder,
            self.progress,
            self.progress_label,
            self.problem,
        )
        self.show_download(None)

    def offer_download(self, name: str, megabytes: int | None) -> None:
        size = f", about {megabytes:,} MB" if megabytes else ""
        self.download.setToolTip(f"Download {name} from Hugging Face{size}, once")

    def show_download(self, name: str | None) -> None:
        """Show a download of `name` starting, or none going on."""
        going = name is not None
        self.download.setEnabled(not going)
        self.choose.setEnabled(not going)
        self.cancel.setVisible(going)
        self.progress.setVisible(going)
        self.progress_label.setVisible(going)
        self.progress.setValue(0)
        self.progress_label.setText(f"Downloading {name}…" if going else "")
        if going:
            self.problem.hide()

    def show_progress(self, text: str, fraction: float) -> None:
        self.progress.setValue(round(1000 * fraction))
        self.progress_label.setText(text)

    def ask_for_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a CLIP model folder")
        if folder:
            self.offer(Path(folder))

    def offer(self, folder: Path) -> bool:
        """Check a folder; emit `model_chosen` when it looks like a model."""
        try:
            check_folder(folder)
        except ModelError as error:
            self.show_problem(f"{error}. Choose the folder that holds config.json.")
            return False
        self.problem.hide()
        self.model_chosen.emit(folder)
        return True

    def show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()


class EmptyLibraryPage(QWidget):
    """Shown while the library has no folders."""

    add_folder = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        button = QPushButton("Add a folder…", self)
        button.clicked.connect(self.add_folder)
        holder = QWidget(self)
        row = QHBoxLayout(holder)
        row.addStretch(1)
        row.addWidget(button)
        row.addStretch(1)
        _centred(
            self,
            _title("Your library is empty", self),
            _text("Add a folder of photos, or drop one on this window.", self),
            holder,
        )
