"""What the grid shows: the answer to the current query, or with no query the
whole library, newest first.

A search is done in two steps: the query's words and outside photos are
encoded on a thread of their own (a dropped photo takes a tenth of a second
with a real model on a CPU), then the vector index and the catalogue are asked
on the GUI thread, against the window's own Library, whose vector index is
reloaded when an indexing run ends. A query typed while one is being encoded
is run when that one ends; stale answers are dropped. The first 200 matches
are shown at once and the rest of the window's limit follows a moment later,
after a paint: a graph search 1,000 wide costs several times one 200 wide,
and nobody sees past the first screens before then. The whole-library
listing is read on a thread of its own, since it touches every photo row.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from lookalike.core.catalogue import Catalogue
from lookalike.core.clip import ClipModel, ModelError
from lookalike.core.library import Library, open_vectors
from lookalike.core.places import Places
from lookalike.core.search import Encoded, Query, QueryError, Result, Searcher, TermKind
from lookalike.core.vectors import VectorIndex
from lookalike.gui.messages import Messages
from lookalike.gui.results import PhotoResults
from lookalike.gui.workers import Task, start_task

log = logging.getLogger(__name__)

Listing = list[tuple[int, str]]

FIRST_RESULTS = 200
MORE_RESULTS_DELAY_MS = 30  # long enough for the first results to be painted


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
        self._encoding_task: Task | None = None
        self._encoding: tuple[Searcher | None, Query] = (None, Query())
        self._search_again = False
        self._more: tuple[Searcher, Query, Encoded, int] | None = None
        self._more_timer = QTimer(self)
        self._more_timer.setSingleShot(True)
        self._more_timer.setInterval(MORE_RESULTS_DELAY_MS)
        self._more_timer.timeout.connect(self._show_more)
        self._more_task: Task | None = None
        self._index_task: Task | None = None
        self._reload_index = False
        self._closed = False

    # Inputs

    def set_model(self, model: ClipModel) -> None:
        self.model = model
        self._searcher = None
        self._load_index()
        if self.query:
            self._show()

    def set_query(self, query: Query) -> None:
        if query.key() == self.query.key():
            return
        self.query = query
        self._show()

    def library_changed(self) -> None:
        """New photos were indexed or folders changed: list the library again,
        and load the vector index again, running the query again once it is
        loaded; until then the index loaded before answers."""
        self._load_index()
        self.refresh_listing()

    def _load_index(self) -> None:
        """Load the model's vector index on a thread of its own: at a million
        photos reading and checking it takes seconds."""
        if self.model is None or self._closed:
            return
        if self._index_task is not None:
            self._reload_index = True
            return
        places, model = self.library.places, self.model
        # At a million photos loading takes seconds: the one loaded is kept when
        # an indexing run changed nothing (it checks the file and the count).
        loaded = self.library.loaded_vectors(model)
        self._index_task = start_task(
            "vector index",
            lambda: (model, open_vectors(places, model, loaded)),
            self,
            self._on_index_loaded,
            self._on_index_failed,
            self._on_index_task_ended,
        )

    @Slot(object)
    def _on_index_loaded(self, loaded: tuple[ClipModel, VectorIndex]) -> None:
        model, index = loaded
        if self._closed or model is not self.model:
            return
        self.library.adopt_vectors(model, index)
        self._searcher = self.library.searcher(model)
        if self.query:
            self._show()

    @Slot(str)
    def _on_index_failed(self, reason: str) -> None:
        self.messages.problem(
            f"The search index cannot be opened: {reason}. See the log for details.",
            key="vector-index",
        )

    @Slot()
    def _on_index_task_ended(self) -> None:
        task, self._index_task = self._index_task, None
        if task is not None:
            task.deleteLater()
        if self._reload_index:
            self._reload_index = False
            self._load_index()

    def refresh_listing(self) -> None:
        if self._listing_task is not None:
            self._relist = True
            return
        places = self.library.places
        self._listing_task = start_task(
            "listing",
            lambda: _newest_first(places),
            self,
            self._on_listed,
            self._on_listing_failed,
            self._on_listing_ended,
        )

    def wait(self) -> None:
        """Block until the listing and encoding threads, if any, have ended
        (for closing); answers still on their way are then dropped."""
        self._closed = True
        self._more_timer.stop()
        for task in (self._listing_task, self._encoding_task, self._index_task, self._more_task):
            if task is not None:
                task.wait()

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
        if self._encoding_task is not None:
            self._search_again = True
            return
        if self._searcher is None:
            self.shown.emit("Opening the search index…")  # the query runs once it is open
            return
        searcher, query, places = self._searcher, self.query, self.library.places
        self._encoding = (searcher, query)
        self._encoding_task = start_task(
            "encoding",
            lambda: _encode(searcher, query, places),
            self,
            self._on_encoded,
            self._on_encoding_failed,
            self._on_encoding_ended,
        )

    @Slot(object)
    def _on_encoded(self, encoded: Encoded) -> None:
        searcher, query = self._encoding
        if (
            self._closed
            or searcher is None
            or searcher is not self._searcher
            or query.key() != self.query.key()
        ):
            return  # closing, or the person has moved on: the newer query runs next
        first = min(self.limit, FIRST_RESULTS)
        found = self._run(searcher, query, first, encoded)
        if found is None:
            return
        self.results.set_photos(
            [(r.photo_id, r.path) for r in found],
            [r.score for r in found],
            [r.available for r in found],
        )
        self._more = None
        if len(found) == first < self.limit:
            self._more = (searcher, query, encoded, first)
            self._more_timer.start()
        self._say_found(len(found))

    @Slot()
    def _show_more(self) -> None:
        """Search for the rest of the window's limit on a thread of its own: at a
        million photos that takes tens of milliseconds (graph search 1,000 wide,
        paths), which the GUI thread would spend frozen."""
        if self._more is None or self._more_task is not None:
            return  # one at a time: a newer query's rest waits for the running one
        wanted, self._more = self._more, None
        searcher, query, encoded, _ = wanted
        if self._closed or searcher is not self._searcher or query.key() != self.query.key():
            return
        places, limit = self.library.places, self.limit
        self._more_task = start_task(
            "more results",
            lambda: (wanted, _search_apart(searcher, query, encoded, places, limit)),
            self,
            self._on_more,
            self._on_more_failed,
            self._on_more_ended,
        )

    @Slot(object)
    def _on_more(self, answer: tuple[tuple[Searcher, Query, Encoded, int], list[Result]]) -> None:
        """Append what the wider search found below the results shown, which stay put."""
        (searcher, query, _, shown), found = answer
        if (
            self._more is not None
            or self._closed
            or searcher is not self._searcher
            or query.key() != self.query.key()
        ):
            return
        present = {self.results.photo_id(row) for row in range(min(shown, self.results.rowCount()))}
        rest = [r for r in found if r.photo_id not in present]
        self.results.add_photos(
            [(r.photo_id, r.path) for r in rest],
            [r.score for r in rest],
            [r.available for r in rest],
        )
        self._say_found(self.results.rowCount())

    @Slot(str)
    def _on_more_failed(self, reason: str) -> None:
        log.warning("Searching for more results failed: %s", reason)

    @Slot()
    def _on_more_ended(self) -> None:
        task, self._more_task = self._more_task, None
        if task is not None:
            task.deleteLater()
        if self._more is not None and not self._more_timer.isActive():
            self._show_more()  # a newer query's rest was waiting for this thread

    def _run(
        self, searcher: Searcher, query: Query, limit: int, encoded: Encoded
    ) -> list[Result] | None:
        try:
            return searcher.search(query, limit, encoded)
        except QueryError as error:
            self.results.set_photos(())
            self.shown.emit(str(error).capitalize())
        except ModelError as error:
            self.results.set_photos(())
            self.messages.problem(
                f"The search failed: {error}. Choose another model folder (Model menu).",
                key="search-model",
            )
        return None

    def _say_found(self, count: int) -> None:
        self.shown.emit(f"{count:,} best matches" if count else "Nothing indexed matches yet")

    @Slot(str)
    def _on_encoding_failed(self, reason: str) -> None:
        if not self._closed and self._encoding[1].key() == self.query.key():
            self.results.set_photos(())
            self.shown.emit(reason[:1].upper() + reason[1:])

    @Slot()
    def _on_encoding_ended(self) -> None:
        task, self._encoding_task = self._encoding_task, None
        if task is not None:
            task.deleteLater()
        if self._search_again:
            self._search_again = False
            if self.query and self.model is not None:
                self._search(self.model)

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


def _encode(searcher: Searcher, query: Query, places: Places) -> Encoded:
    """Runs on the encoding thread; photos from disk are first looked up by
    content in a catalogue connection of its own."""
    if not any(t.kind is TermKind.IMAGE for t in query.terms):
        return searcher.encode_terms(query)
    with Catalogue(places.catalogue) as catalogue:
        return searcher.encode_terms(query, catalogue)


def _search_apart(
    searcher: Searcher, query: Query, encoded: Encoded, places: Places, limit: int
) -> list[Result]:
    """Runs on the more-results thread, with a catalogue connection of its own."""
    with Catalogue(places.catalogue) as catalogue:
        return searcher.search(query, limit, encoded, catalogue)


def _newest_first(places: Places) -> Listing:
    """Runs on the listing thread, with a catalogue connection of its own."""
    with Catalogue(places.catalogue) as catalogue:
        return catalogue.newest_first()
