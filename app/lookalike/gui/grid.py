"""The thumbnail grid: a QListView in icon mode and the delegate that paints it.

Cells all have one size, so the view lays out 100,000 rows without asking the
model about each; the delegate paints the thumbnail when it is ready and a
placeholder until then, in the colours of the system palette.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPalette, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from lookalike.gui.results import OfflineRole
from lookalike.gui.thumbnails import Thumbnails

log = logging.getLogger(__name__)

MARGIN = 4
RADIUS = 6
DECORATION = Qt.ItemDataRole.DecorationRole
OFFLINE_OPACITY = 0.35
SELECTED = QStyle.StateFlag.State_Selected.value
MOUSE_OVER = QStyle.StateFlag.State_MouseOver.value
HAS_FOCUS = QStyle.StateFlag.State_HasFocus.value
LAYOUT_BATCH = 2000


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a cell: its thumbnail centred, or a placeholder until it is ready;
    dimmed, with an "offline" badge, when its file cannot be reached now.

    `paint` runs for every visible cell on every frame, so its common path
    stays short: flags are tested as plain ints, thumbnails arrive already
    scaled to the cell and are drawn unscaled, placeholders are a plain fill
    in a colour taken from the palette when the palette changes.
    """

    def __init__(self, side: int, parent: QWidget) -> None:
        super().__init__(parent)
        self.side = side
        self.use_palette(parent.palette())

    def use_palette(self, palette: QPalette) -> None:
        self.shade = palette.color(QPalette.ColorRole.Mid)
        self.shade.setAlpha(70)
        self.highlight = palette.color(QPalette.ColorRole.Highlight)
        self.hover = QColor(self.highlight)
        self.hover.setAlpha(60)
        self.broken_pen = palette.color(QPalette.ColorRole.PlaceholderText)
        self.badge_fill = palette.color(QPalette.ColorRole.Window)
        self.badge_fill.setAlpha(220)
        self.badge_pen = palette.color(QPalette.ColorRole.WindowText)

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
        cell: QRect = option.rect
        state = option.state.value
        pixmap = index.data(DECORATION)
        offline = index.data(OfflineRole)
        if state & (SELECTED | MOUSE_OVER):
            self._backdrop(painter, cell, self.highlight if state & SELECTED else self.hover)
        if offline:
            painter.setOpacity(OFFLINE_OPACITY)
        if pixmap is not None and not pixmap.isNull():
            size = pixmap.deviceIndependentSize()
            x = cell.x() + (cell.width() - size.width()) / 2
            y = cell.y() + (cell.height() - size.height()) / 2
            painter.drawPixmap(QPointF(x, y), pixmap)
            if offline:
                painter.setOpacity(1.0)
                self._badge(painter, QRectF(x, y, size.width(), size.height()), "offline")
        else:
            inner = self._placeholder(painter, cell, broken=pixmap is not None)
            if offline:
                painter.setOpacity(1.0)
                self._badge(painter, QRectF(inner), "offline")
        if state & HAS_FOCUS:
            self._focus(painter, cell)

    def _backdrop(self, painter: QPainter, cell: QRect, colour: QColor) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(cell.adjusted(1, 1, -1, -1), RADIUS, RADIUS)
        painter.restore()

    def _placeholder(self, painter: QPainter, cell: QRect, broken: bool) -> QRect:
        inset_x, inset_y = MARGIN + cell.width() // 10, MARGIN + cell.height() // 6
        inner = cell.adjusted(inset_x, inset_y, -inset_x, -inset_y)
        painter.fillRect(inner, self.shade)
        if broken:
            painter.save()
            painter.setPen(self.broken_pen)
            painter.drawText(inner, Qt.AlignmentFlag.AlignCenter, "?")
            painter.restore()
        return inner

    def _badge(self, painter: QPainter, picture: QRectF, text: str) -> None:
        """A small label on the picture's lower left corner."""
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = painter.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        width, height = metrics.horizontalAdvance(text) + 10, metrics.height() + 2
        badge = QRectF(picture.left() + MARGIN, picture.bottom() - MARGIN - height, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.badge_fill)
        painter.drawRoundedRect(badge, height / 2, height / 2)
        painter.setPen(self.badge_pen)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _focus(self, painter: QPainter, cell: QRect) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self.highlight.darker(130))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(cell.adjusted(1, 1, -2, -2), RADIUS, RADIUS)
        painter.restore()


class PhotoGrid(QListView):
    """The grid of photos. Signal: `preview_requested` (space bar)."""

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
        # Laying out 100,000 cells takes Qt most of a second; in batches the
        # grid paints and scrolls meanwhile.
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(LAYOUT_BATCH)
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

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # Only a shown widget knows its screen's pixel ratio (2 on high-DPI screens).
        self.thumbnails.set_side(self.side, self.devicePixelRatioF())

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # light and dark follow the system
            self.delegate.use_palette(self.palette())
            self.viewport().update()
        elif event.type() == QEvent.Type.DevicePixelRatioChange:  # moved to another screen
            self.thumbnails.set_side(self.side, self.devicePixelRatioF())
            self.viewport().update()

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
