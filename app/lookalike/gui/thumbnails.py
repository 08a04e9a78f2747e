"""Grid thumbnails, loaded lazily off the GUI thread.

The grid asks for a thumbnail only when it paints a cell. A miss queues a
request and the cell shows a placeholder. Loader threads take the newest
request first (the cells on screen now), read the JPEG from the core's
ThumbnailCache scaled to the cell's device pixels into a QImage, and hand it
back; the GUI thread turns it into a QPixmap, keeps it in a bounded LRU cache
and tells the grid to repaint that cell. Requests that pile up while the
person scrolls past are dropped, oldest first. A photo whose thumbnail is not
cached yet gets one made from its file, the way the indexer would.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage, QImageReader, QPixmap

from lookalike.core.catalogue import Catalogue
from lookalike.core.imaging import (
    THUMBNAIL_SIZE,
    PhotoError,
    ThumbnailCache,
    content_hash,
    decode,
    read_photo_file,
)
from lookalike.core.places import Places
from lookalike.gui.workers import track

log = logging.getLogger(__name__)

LOADER_THREADS = 2
MAX_PENDING = 256
MIN_CACHED = 256


@dataclass(frozen=True)
class Request:
    row: int
    photo_id: int
    path: str
    side: int  # device pixels

    @property
    def key(self) -> tuple[int, int]:
        return (self.photo_id, self.side)


class RequestStack:
    """Thumbnail requests, newest first, bounded, without duplicates."""

    def __init__(self, limit: int = MAX_PENDING) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[int, int], Request] = OrderedDict()
        self._condition = threading.Condition()
        self._closed = False

    def push(self, request: Request) -> None:
        with self._condition:
            self._items.pop(request.key, None)
            self._items[request.key] = request
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
            self._condition.notify()

    def take(self) -> Request | None:
        """The newest request, waiting for one; None once closed."""
        with self._condition:
            while not self._items and not self._closed:
                self._condition.wait()
            if self._closed:
                return None
            return self._items.popitem(last=True)[1]

    def clear(self) -> None:
        with self._condition:
            self._items.clear()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._items.clear()
            self._condition.notify_all()

    def __len__(self) -> int:
        with self._condition:
            return len(self._items)


def thumbnail_file(catalogue: Catalogue, cache: ThumbnailCache, photo_id: int, path: str) -> Path:
    """The cached thumbnail of a photo, made from its file first if need be."""
    photo = catalogue.photo(photo_id)
    if photo is not None and photo.hash is not None:
        cached = cache.path(photo.hash)
        if cached.exists():
            return cached
    data = read_photo_file(path)
    digest = content_hash(data)
    cached = cache.path(digest)
    if not cached.exists():
        decoded = decode(data, None, THUMBNAIL_SIZE, digest=digest)
        assert decoded.thumbnail is not None
        cached = cache.store(digest, decoded.thumbnail)
    return cached


def read_scaled(path: Path, side: int) -> QImage:
    """The image at `path`, scaled to fit a `side` square."""
    reader = QImageReader(str(path))
    size = reader.size()
    fitted = size.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio)
    if size.isValid() and size.width() > fitted.width():
        reader.setScaledSize(fitted)  # JPEG decodes straight to a smaller size
    image = reader.read()
    if image.isNull():
        raise PhotoError(f"the thumbnail cannot be read: {reader.errorString()}")
    if image.width() < fitted.width():  # a photo smaller than the cell still fills it
        image = image.scaled(fitted, mode=Qt.TransformationMode.SmoothTransformation)
    return image


class _LoaderThread(QThread):
    def __init__(self, owner: Thumbnails, places: Places, number: int) -> None:
        super().__init__(owner)
        self.setObjectName(f"thumbnails-{number}")
        self.owner = owner
        self.places = places
        track(self)

    def run(self) -> None:
        cache = ThumbnailCache(self.places.thumbnails)
        try:
            catalogue = Catalogue(self.places.catalogue)
        except Exception:
            log.exception("The thumbnail loader cannot open the catalogue")
            return
        with catalogue:
            while (request := self.owner.requests.take()) is not None:
                self._load(request, catalogue, cache)

    def _load(self, request: Request, catalogue: Catalogue, cache: ThumbnailCache) -> None:
        try:
            file = thumbnail_file(catalogue, cache, request.photo_id, request.path)
            image = read_scaled(file, request.side)
        except PhotoError as error:
            log.info("No thumbnail for %s: %s", request.path, error)
            image = QImage()
        except Exception:
            log.exception("Unexpected error making the thumbnail of %s", request.path)
            image = QImage()
        self.owner.loaded.emit(request, image)


class Thumbnails(QObject):
    """The GUI thread's side: a pixmap LRU cache in front of the loader threads."""

    loaded = Signal(object, QImage)  # Request, image (null when it failed)
    ready = Signal(int, int)  # row, photo id

    def __init__(self, places: Places, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.requests = RequestStack()
        self.side = 160
        self.ratio = 1.0
        self.capacity = MIN_CACHED
        self._pixmaps: OrderedDict[tuple[int, int], QPixmap] = OrderedDict()
        self.loaded.connect(self._on_loaded)
        self._threads = [_LoaderThread(self, places, n) for n in range(LOADER_THREADS)]
        for thread in self._threads:
            thread.start(QThread.Priority.LowPriority)

    def pixmap(self, row: int, photo_id: int, path: str) -> QPixmap | None:
        """The cached thumbnail (a null pixmap when none can be made), or None
        after queueing a request for it."""
        key = (photo_id, self.side)
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        self.requests.push(Request(row, photo_id, path, self.side))
        return None

    def set_side(self, logical: int, device_pixel_ratio: float) -> None:
        """Make thumbnails for cells of `logical` pixels on this screen."""
        side = max(1, round(logical * device_pixel_ratio))
        if (side, device_pixel_ratio) != (self.side, self.ratio):
            self.side, self.ratio = side, device_pixel_ratio
            self.requests.clear()
            self._pixmaps.clear()

    def set_capacity(self, visible: int) -> None:
        """Keep a few screens' worth of thumbnails."""
        self.capacity = max(MIN_CACHED, visible * 4)
        self._trim()

    def forget_requests(self) -> None:
        """Drop queued requests: the rows they name have changed."""
        self.requests.clear()

    def close(self) -> None:
        self.requests.close()
        for thread in self._threads:
            thread.wait()

    @property
    def cached(self) -> int:
        return len(self._pixmaps)

    @Slot(object, QImage)
    def _on_loaded(self, request: Request, image: QImage) -> None:
        if request.side != self.side:
            return
        pixmap = QPixmap.fromImage(image) if not image.isNull() else QPixmap()
        pixmap.setDevicePixelRatio(self.ratio)
        self._pixmaps[request.key] = pixmap
        self._trim()
        self.ready.emit(request.row, request.photo_id)

    def _trim(self) -> None:
        while len(self._pixmaps) > self.capacity:
            self._pixmaps.popitem(last=False)
