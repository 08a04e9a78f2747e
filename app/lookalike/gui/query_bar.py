"""The query bar: a search field and the chips of a combined query.

What is typed is the live text term; words written `-like-this` count against.
Return pins the typed words as a chip. Dropped or pasted images and "Find
similar" photos become chips too. A chip can be turned into a minus term
(weight -1) with its "not" button, and removed with its close button.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QGuiApplication,
    QIcon,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from lookalike.core.imaging import PhotoError
from lookalike.core.search import Query, Term, TermKind
from lookalike.gui.thumbnails import read_scaled

log = logging.getLogger(__name__)

CHIP_ICON = 22
CHIP_STYLE = """
#chip { border: 1px solid palette(mid); border-radius: 12px; background: palette(base); }
#chip[negative="true"] { border-style: dashed; }
#chip QToolButton { border: none; padding: 0 2px; }
#chip QToolButton:checked { color: palette(highlighted-text); background: palette(highlight);
                            border-radius: 8px; }
"""


def text_terms(text: str) -> list[Term]:
    """The typed text as terms: `-word` counts against, the rest is one phrase."""
    positive: list[str] = []
    terms: list[Term] = []
    for word in text.split():
        if word.startswith("-") and len(word) > 1:
            terms.append(Term(TermKind.TEXT, word[1:], -1.0))
        else:
            positive.append(word)
    if positive:
        terms.insert(0, Term(TermKind.TEXT, " ".join(positive), 1.0))
    return terms


class Chip(QFrame):
    """One pinned term. Signals: `changed` (turned plus or minus), `removed`."""

    changed = Signal()
    removed = Signal()

    def __init__(
        self,
        kind: TermKind,
        value: str,
        label: str,
        icon: QPixmap | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("chip")
        self.kind = kind
        self.value = value
        self.label_text = label
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 1, 4, 1)
        layout.setSpacing(4)

        if icon is not None and not icon.isNull():
            picture = QLabel(self)
            picture.setPixmap(icon)
            layout.addWidget(picture)
        self.label = QLabel(label, self)
        self.label.setMaximumWidth(180)
        self.label.setToolTip(value if kind is not TermKind.PHOTO else label)
        layout.addWidget(self.label)

        self.not_button = QToolButton(self)
        self.not_button.setText("not")
        self.not_button.setCheckable(True)
        self.not_button.setToolTip("Leave out photos like this")
        self.not_button.setAccessibleName(f"Leave out photos like {label}")
        self.not_button.toggled.connect(self._on_not_toggled)
        layout.addWidget(self.not_button)

        close = QToolButton(self)
        close.setText("✕")
        close.setToolTip("Remove from the query")
        close.setAccessibleName(f"Remove {label} from the query")
        close.clicked.connect(self.removed)
        layout.addWidget(close)

    @property
    def negative(self) -> bool:
        return self.not_button.isChecked()

    def set_negative(self, negative: bool) -> None:
        self.not_button.setChecked(negative)

    @property
    def term(self) -> Term:
        return Term(self.kind, self.value, -1.0 if self.negative else 1.0)

    def _on_not_toggled(self, negative: bool) -> None:
        self.setProperty("negative", negative)
        font = self.label.font()
        font.setStrikeOut(negative)
        self.label.setFont(font)
        self.style().unpolish(self)
        self.style().polish(self)
        self.changed.emit()


class SearchEdit(QLineEdit):
    """The search field; an image on the clipboard is pasted as a query."""

    image_pasted = Signal()
    leave_down = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste) and clipboard_has_image():
            self.image_pasted.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Down:
            self.leave_down.emit()
            event.accept()
            return
        super().keyPressEvent(event)


def clipboard_has_image() -> bool:
    mime = QGuiApplication.clipboard().mimeData()
    return mime is not None and mime.hasImage() and not mime.hasText()


class QueryBar(QWidget):
    """Signals: `edited` as the text changes (to be debounced), `terms_changed`
    when chips change (at once), `image_pasted`, `leave_down`."""

    edited = Signal()
    terms_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(CHIP_STYLE)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        self._chip_layout = QHBoxLayout()
        self._chip_layout.setSpacing(4)
        layout.addLayout(self._chip_layout)

        self.edit = SearchEdit(self)
        self.edit.setPlaceholderText("Describe a photo, or drop one here…  (-word leaves out)")
        self.edit.setClearButtonEnabled(True)
        self.edit.setAccessibleName("Search")
        self.edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.edit.setMinimumHeight(30)
        self.edit.addAction(search_icon(self.palette()), QLineEdit.ActionPosition.LeadingPosition)
        self.edit.textChanged.connect(self.edited)
        self.edit.returnPressed.connect(self.pin_text)
        layout.addWidget(self.edit, 1)
        self.chips: list[Chip] = []

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(max(hint.width(), 480), hint.height())

    def query(self) -> Query:
        terms = [chip.term for chip in self.chips]
        return Query(terms + text_terms(self.edit.text()))

    def add_chip(self, kind: TermKind, value: str, label: str, icon: QPixmap | None = None) -> Chip:
        chip = self._attach(Chip(kind, value, label, icon, self))
        self.terms_changed.emit()
        return chip

    def _attach(self, chip: Chip) -> Chip:
        chip.changed.connect(self.terms_changed)
        chip.removed.connect(lambda: self.remove_chip(chip))
        self.chips.append(chip)
        self._chip_layout.addWidget(chip)
        return chip

    def remove_chip(self, chip: Chip) -> None:
        if chip in self.chips:
            self.chips.remove(chip)
            self._chip_layout.removeWidget(chip)
            chip.deleteLater()
            self.terms_changed.emit()
            self.edit.setFocus()

    def clear(self) -> None:
        for chip in list(self.chips):
            self.chips.remove(chip)
            self._chip_layout.removeWidget(chip)
            chip.deleteLater()
        self.edit.clear()
        self.terms_changed.emit()

    def pin_text(self) -> None:
        """Turn the typed words into chips, so more can be added beside them."""
        terms = text_terms(self.edit.text())
        if not terms:
            return
        self.edit.blockSignals(True)
        self.edit.clear()
        self.edit.blockSignals(False)
        for term in terms:
            chip = Chip(term.kind, term.value, term.value, None, self)
            chip.set_negative(term.negative)
            self._attach(chip)
        self.terms_changed.emit()


def search_icon(palette: QPalette, side: int = 16) -> QIcon:
    """A magnifying glass in the palette's text colour, so it suits light and dark."""
    icon = QIcon()
    for ratio in (1.0, 2.0):
        pixmap = QPixmap(round(side * ratio), round(side * ratio))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = palette.color(QPalette.ColorRole.PlaceholderText)
        painter.setPen(QPen(colour, 1.6))
        painter.drawEllipse(QRectF(2.5, 2.5, 8, 8))
        handle = QPen(colour, 2.0)
        handle.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(handle)
        painter.drawLine(QPointF(9.5, 9.5), QPointF(13.5, 13.5))
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def chip_icon(image_path: str, side: int = CHIP_ICON) -> QPixmap:
    """A small picture of an image file for its chip (null when unreadable)."""
    try:
        return QPixmap.fromImage(read_scaled(Path(image_path), side))
    except PhotoError as error:
        log.info("No chip picture for %s: %s", image_path, error)
        return QPixmap()
