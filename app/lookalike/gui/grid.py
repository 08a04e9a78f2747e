"""The thumbnail grid: a QListView in icon mode and the delegate that paints it.

Cells all have one size, so the view lays out 100,000 rows without asking the
model about each; the delegate paints the thumbnail when it is ready and a
placeholder until then, in the colours of the system palette.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPainter, QPalette, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from lookalike.gui.thumbnails import Thumbnails, fit

log = logging.getLogger(__name__)

MARGIN = 4
RADIUS = 6


class ThumbnailDelegate(QStyledItemDelegate):
    def __init__(self, side: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.side = side

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(self.side + 2 * MARGIN, self.side + 2 * MARGIN)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        palette = option.palette
        cell: QRect = option.rect
        state = option.state
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)

        if state & QStyle.StateFlag.State_Selected:
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(cell.adjusted(1, 1, -1, -1), RADIUS, RADIUS)
        elif state & QStyle.StateFlag.State_MouseOver:
            hover = palette.color(QPalette.ColorRole.Highlight)
            hover.setAlpha(60)
            painter.setBrush(hover)
            painter.drawRoundedRect(cell.adjusted(1, 1, -1, -1), RADIUS, RADIUS)

        box = cell.adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            size = fit(pixmap, box.size())
            target = QRect(QPoint(0, 0), size)
            target.moveCenter(box.center())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(target, pixmap)
        else:
            self._placeholder(painter, palette, box, broken=isinstance(pixmap, QPixmap))

        if state & QStyle.StateFlag.State_HasFocus:
            painter.setPen(palette.color(QPalette.ColorRole.Highlight).darker(130))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(cell.adjusted(1, 1, -2, -2), RADIUS, RADIUS)
        painter.restore()

    def _placeholder(self, painter: QPainter, palette: QPalette, box: QRect, broken: bool) -> None:
        shade = palette.color(QPalette.ColorRole.Mid)
        shade.setAlpha(70)
        painter.setBrush(shade)
        inner = box.adjusted(box.width() // 10, box.height() // 10, -box.width() // 10, 0)
        painter.drawRoundedRect(inner, RADIUS, RADIUS)
        if broken:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(inner, Qt.AlignmentFlag.AlignCenter, "?")


class PhotoGrid(QListView):
    """Signals: `preview_requested` (space bar), `zoom_requested(int steps)`."""

    preview_requested = Signal()

    def __init__(self, thumbnails: Thumbnails, side: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.delegate = ThumbnailDelegate(side, self)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setMouseTracking(True)
        self.setSpacing(0)
        self.setWordWrap(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setAccessibleName("Photos")
        self._apply_side(side)

    @property
    def side(self) -> int:
        return self.delegate.side

    def set_side(self, side: int) -> None:
        if side != self.delegate.side:
            self._apply_side(side)
            self.doItemsLayout()

    def _apply_side(self, side: int) -> None:
        self.delegate.side = side
        self._justify()
        self.verticalScrollBar().setSingleStep(max(8, side // 4))
        self.thumbnails.set_side(side, self.devicePixelRatioF())
        self._update_capacity()

    def selected_rows(self) -> list[int]:
        return sorted(index.row() for index in self.selectionModel().selectedIndexes())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            if self.currentIndex().isValid():
                self.preview_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._justify()
        super().resizeEvent(event)
        self._update_capacity()

    def _justify(self) -> None:
        """Share the spare width between the columns, so the grid fills the view."""
        cell = self.side + 2 * MARGIN
        width = self.viewport().width() - 1
        columns = max(1, width // cell)
        grid = QSize(max(cell, width // columns), cell)
        if grid != self.gridSize():
            self.setGridSize(grid)

    def _update_capacity(self) -> None:
        cell = max(1, self.side + 2 * MARGIN)
        area = self.viewport().size()
        visible = (area.width() // cell + 1) * (area.height() // cell + 2)
        self.thumbnails.set_capacity(visible)
