"""What the grid shows: the answer to the current query, or with no query the
whole library, newest first.

Searches run on the GUI thread against the window's own Library, whose vector
index is reloaded when an indexing run ends. The whole-library listing is read
on a thread of its own, since it touches every photo row.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot

from lookalike.core.catalogue import Catalogue
from lookalike.core.clip import ClipModel, ModelError
from lookalike.core.library import Library
from lookalike.core.places import Places
from lookalike.core.search import Query, QueryError, Searcher
from lookalike.gui.messages import Messages
from lookalike.gui.results import PhotoResults
from lookalike.gui.workers import Task

log = logging.getLogger(__name__)

Listing = list[tuple[int, str]]


class Search(QObject):
    """Signals: `listed(int)` with the library's photo count after each
    listing; `shown(str)` describing what the grid now shows."""

    listed = Signal(int)
    shown = Signal(str)

    def __init__(
        self,
        library: Library,
        results: PhotoResults,
        messages: Messages,
        limit: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.results = results
        self.messages = messages
        self.limit = limit
        self.model: ClipModel | None = None
        self.query = Query()
        self._searcher: Searcher | None = None
        self._listing: Listing | None = None
        self._listing_task: Task | None = None
        self._relist = False

    # Inputs

    def set_model(self, model: ClipModel) -> None:
        self.model = model
        self._searcher = None
        if self.query:
            self._show()

    def set_query(self, query: Query) -> None:
        if query.key() == self.query.key():
            return
        self.query = query
        self._show()

    def library_changed(self) -> None:
        """New photos were indexed or folders changed: load the vector index
        again, list the library again, and run the query again."""
        if self.model is not None:
            self.library.reload_vectors(self.model)
        self._searcher = None
        self.refresh_listing()
        if self.query:
            self._show()

    def refresh_listing(self) -> None:
        if self._listing_task is not None:
            self._relist = True
            return
        places = self.library.places
        task = Task("listing", lambda: _newest_first(places), self)
        task.succeeded.connect(self._on_listed)
        task.failed.connect(self._on_listing_failed)
        task.finished.connect(self._on_listing_ended)
        self._listing_task = task
        task.start()

    def wait(self) -> None:
        """Block until the listing thread, if any, has ended (for closing)."""
        if self._listing_task is not None:
            self._listing_task.wait()

    @property
    def photo_count(self) -> int | None:
        return None if self._listing is None else len(self._listing)

    # Showing

    def _show(self) -> None:
        if not self.query:
            self._show_library()
        elif self.model is None:
            self.shown.emit("The search runs as soon as the model has loaded…")
        else:
            self._search(self.model)

    def _show_library(self) -> None:
        if self._listing is None:
            self.results.set_photos(())
            self.shown.emit("Reading the library…")
            return
        self.results.set_photos(self._listing)
        self.shown.emit("")

    def _search(self, model: ClipModel) -> None:
        # FIXME(search): the query is encoded on the GUI thread. Words take a few
        # milliseconds, but a dropped photo is decoded and encoded here too
        # (~0.1 s with ViT-B-32 on a CPU); a search thread with its own Library
        # would keep typing smooth.
        try:
            if self._searcher is None:
                self._searcher = self.library.searcher(model)
            found = self._searcher.search(self.query, self.limit)
        except QueryError as error:
            self.results.set_photos(())
            self.shown.emit(str(error).capitalize())
            return
        except ModelError as error:
            self.results.set_photos(())
            self.messages.problem(
                f"The search failed: {error}. Choose another model folder (Model menu).",
                key="search-model",
            )
            return
        self.results.set_photos(
            [(r.photo_id, r.path) for r in found],
            [r.score for r in found],
            [r.available for r in found],
        )
        self.shown.emit(f"{len(found):,} best matches" if found else "Nothing indexed matches yet")

    @Slot(object)
    def _on_listed(self, listing: Listing) -> None:
        self._listing = listing
        self.listed.emit(len(listing))
        if not self.query:
            self._show_library()

    @Slot(str)
    def _on_listing_failed(self, reason: str) -> None:
        self.messages.problem(f"The library cannot be read: {reason}. See the log for details.")

    @Slot()
    def _on_listing_ended(self) -> None:
        task, self._listing_task = self._listing_task, None
        if task is not None:
            task.deleteLater()
        if self._relist:
            self._relist = False
            self.refresh_listing()


def _newest_first(places: Places) -> Listing:
    """Runs on the listing thread, with a catalogue connection of its own."""
    with Catalogue(places.catalogue) as catalogue:
        return catalogue.newest_first()
