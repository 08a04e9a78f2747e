"""The grid's model: a thin list model over the photos a query returned.

It holds the sequences core gave it as they are (photo id and path pairs, and
scores for a search) so that showing 100,000 photos costs no work per photo;
each cell's thumbnail, tooltip and file name are worked out only when the grid
asks for that cell. That includes whether the file can be reached now (it may
be on a drive that is not plugged in): search results arrive knowing it, and
for the whole-library listing it is checked for the cells the grid paints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QUrl,
    Slot,
)

from lookalike.gui.thumbnails import Thumbnails

PhotoIdRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
ScoreRole = Qt.ItemDataRole.UserRole + 3
OfflineRole = Qt.ItemDataRole.UserRole + 4

AnyIndex = QModelIndex | QPersistentModelIndex


class PhotoResults(QAbstractListModel):
    def __init__(self, thumbnails: Thumbnails | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self._photos: Sequence[tuple[int, str]] = ()
        self._scores: Sequence[float] | None = None
        self._available: Sequence[bool] | None = None
        self._checked: dict[int, bool] = {}  # row: whether its file exists, once asked
        self._count = 0
        if thumbnails is not None:
            thumbnails.ready.connect(self._on_thumbnail_ready)

    def set_photos(
        self,
        photos: Sequence[tuple[int, str]],
        scores: Sequence[float] | None = None,
        available: Sequence[bool] | None = None,
    ) -> None:
        """Show these photos, in this order; `scores` when they answer a search,
        `available` when it is known which files can be reached now."""
        _check_lengths(photos, scores, available)
        self.beginResetModel()
        self._photos = photos
        self._scores = scores
        self._available = available
        self._checked = {}
        self._count = len(photos)
        if self.thumbnails is not None:
            self.thumbnails.forget_requests()
        self.endResetModel()

    def add_photos(
        self,
        photos: Sequence[tuple[int, str]],
        scores: Sequence[float] | None = None,
        available: Sequence[bool] | None = None,
    ) -> None:
        """Append photos after those shown, keeping the rows, scroll position and
        selection the grid already has; scores and availability as in `set_photos`
        and given for both or neither."""
        if not photos:
            return
        if (scores is None) != (self._scores is None) or (available is None) != (
            self._available is None
        ):
            raise ValueError("added photos must come with what the shown ones came with")
        _check_lengths(photos, scores, available)
        first = self._count
        self.beginInsertRows(QModelIndex(), first, first + len(photos) - 1)
        self._photos = [*self._photos, *photos]
        if scores is not None and self._scores is not None:
            self._scores = [*self._scores, *scores]
        if available is not None and self._available is not None:
            self._available = [*self._available, *available]
        self._count = len(self._photos)
        self.endInsertRows()

    @property
    def has_scores(self) -> bool:
        return self._scores is not None

    def photo_id(self, row: int) -> int:
        return self._photos[row][0]

    def path(self, row: int) -> str:
        return self._photos[row][1]

    def score(self, row: int) -> float | None:
        return None if self._scores is None else self._scores[row]

    def available(self, row: int) -> bool:
        """Whether the photo's file could be reached when last asked."""
        if self._available is not None:
            return self._available[row]
        known = self._checked.get(row)
        if known is None:
            known = self._checked[row] = os.path.exists(self.path(row))
        return known

    # QAbstractListModel

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        # Qt's grid layout asks this twice per row: keep it this short.
        return 0 if parent.isValid() else self._count

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._photos):
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if role in (Qt.ItemDataRole.AccessibleTextRole, PathRole):
            return self.path(row) if role == PathRole else os.path.basename(self.path(row))
        if role == PhotoIdRole:
            return self.photo_id(row)
        if role == ScoreRole:
            return self.score(row)
        if role == OfflineRole:
            return not self.available(row)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsDragEnabled
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        names[PhotoIdRole] = QByteArray(b"photoId")
        names[PathRole] = QByteArray(b"path")
        names[ScoreRole] = QByteArray(b"score")
        names[OfflineRole] = QByteArray(b"offline")
        return names

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        """Dragged photos travel as file URLs, to other apps or onto our own query bar."""
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime.setUrls([QUrl.fromLocalFile(self.path(row)) for row in rows])
        return mime

    # Helpers

    def _thumbnail(self, row: int) -> Any:
        if self.thumbnails is None:
            return None
        photo_id, path = self._photos[row]
        return self.thumbnails.pixmap(row, photo_id, path)

    def _tooltip(self, row: int) -> str:
        path = self.path(row)
        lines = [os.path.basename(path)]
        if not self.available(row):
            lines[0] += " (offline)"
        score = self.score(row)
        if score is not None:
            lines.append(f"Score {score:.3f}")
        lines.append(os.path.dirname(path))
        return "\n".join(lines)

    @Slot(int, int)
    def _on_thumbnail_ready(self, row: int, photo_id: int) -> None:
        if 0 <= row < len(self._photos) and self._photos[row][0] == photo_id:
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


def _check_lengths(
    photos: Sequence[tuple[int, str]],
    scores: Sequence[float] | None,
    available: Sequence[bool] | None,
) -> None:
    if scores is not None and len(scores) != len(photos):
        raise ValueError("there must be one score per photo")
    if available is not None and len(available) != len(photos):
        raise ValueError("there must be one availability per photo")
