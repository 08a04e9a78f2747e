"""A photo library as the command line and the window see it: its folders,
catalogue, thumbnails, the active model and that model's vector index."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from lookalike.core.catalogue import Catalogue, Counts, Failure, Folder
from lookalike.core.clip import ClipModel, ModelError
from lookalike.core.imaging import ThumbnailCache
from lookalike.core.indexer import Indexer, IndexReport, ProgressCallback
from lookalike.core.lock import LibraryBusyError, WriterLock
from lookalike.core.places import Places
from lookalike.core.search import Query, Result, Searcher
from lookalike.core.vectors import VectorIndex

log = logging.getLogger(__name__)

ACTIVE_MODEL = "active_model"
ACTIVE_VARIANT = "active_visual_variant"


class NoModelError(ModelError):
    """No model was given and none is active in this library."""


@dataclass(frozen=True)
class Status:
    counts: Counts
    folders: list[Folder]
    failures: list[Failure]
    model: str | None


class Library:
    def __init__(self, places: Places) -> None:
        places.create()
        self.places = places
        self.catalogue = Catalogue(places.catalogue)
        self.thumbnails = ThumbnailCache(places.thumbnails)
        self.writer = WriterLock(places.data / "writer.lock")
        self._vectors: dict[str, VectorIndex] = {}

    def close(self) -> None:
        self.writer.release()
        self.catalogue.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Folders

    def add_folders(self, paths: list[Path]) -> list[Folder]:
        added = []
        with self.catalogue.transaction():
            for path in paths:
                added.append(self.catalogue.add_folder(path.expanduser().resolve()))
        return added

    def remove_folder(self, path: Path) -> bool:
        with self.catalogue.transaction():
            return self.catalogue.remove_folder(path.expanduser().resolve())

    def folders(self) -> list[Folder]:
        return self.catalogue.folders()

    # Models

    @property
    def active_model(self) -> Path | None:
        value = self.catalogue.setting(ACTIVE_MODEL)
        return Path(value) if value else None

    @property
    def active_variant(self) -> str:
        """Which visual encoder of the active model indexing uses: float or int8."""
        return self.catalogue.setting(ACTIVE_VARIANT) or "float"

    def use_model(self, folder: Path, visual_variant: str = "float") -> None:
        self.catalogue.set_setting(ACTIVE_MODEL, str(folder.expanduser().resolve()))
        self.catalogue.set_setting(ACTIVE_VARIANT, visual_variant)

    def load_model(self, folder: Path | None = None, threads: int | None = None) -> ClipModel:
        """The given model, or the active one. A model given while none is active
        becomes the active one, so later commands need not name it again."""
        variant = "float"
        if folder is None:
            folder = self.active_model
            if folder is None:
                raise NoModelError("this library has no model yet")
            variant = self.active_variant
        model = ClipModel(folder, threads=threads, visual_variant=variant)
        if self.active_model is None:
            self.use_model(model.folder)
        return model

    def vectors(self, model: ClipModel) -> VectorIndex:
        """The model's vector index, reconciled with the catalogue.

        What reconciling repaired is saved when no other process is writing
        the library, so a damaged or missing index is rebuilt only once.
        """
        if model.key not in self._vectors:
            self._vectors[model.key] = _reconciled(self.catalogue, self.places, model, self.writer)
        return self._vectors[model.key]

    def adopt_vectors(self, model: ClipModel, index: VectorIndex) -> None:
        """Use an index that `open_vectors` made on another thread."""
        self._vectors[model.key] = index

    def loaded_vectors(self, model: ClipModel) -> VectorIndex | None:
        """The model's index if one is loaded, without loading it."""
        return self._vectors.get(model.key)

    # Work

    def index(
        self,
        model: ClipModel,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        workers: int | None = None,
    ) -> IndexReport:
        """Bring the model's index up to date with the library's folders.

        Raises LibraryBusyError when another process is indexing this library.
        """
        with self.writer:
            _remove_leftovers(self.places)
            loaded = self.loaded_vectors(model)
            if loaded is not None and not _still_current(self.catalogue, model, loaded):
                del self._vectors[model.key]  # another writer has saved since we loaded
            indexer = Indexer(self.catalogue, model, self.vectors(model), self.thumbnails, workers)
            return indexer.run(progress, cancel)

    def searcher(self, model: ClipModel) -> Searcher:
        model_id = self.catalogue.model_id(model.key, model.dim)
        return Searcher(self.catalogue, model, model_id, self.vectors(model))

    def search(self, model: ClipModel, query: Query, limit: int = 20) -> list[Result]:
        return self.searcher(model).search(query, limit)

    def status(self, model: ClipModel | None) -> Status:
        model_id = self.catalogue.model_id(model.key, model.dim) if model else None
        return Status(
            counts=self.catalogue.counts(model_id),
            folders=self.catalogue.folders(),
            failures=self.catalogue.failures(),
            model=model.name if model else None,
        )


def open_vectors(
    places: Places, model: ClipModel, loaded: VectorIndex | None = None
) -> VectorIndex:
    """What `Library.vectors` does, on a catalogue connection and writer lock of
    its own, so that a window can load a large index off its GUI thread (at a
    million photos that takes seconds) and hand it over with `adopt_vectors`.
    An index `loaded` before is given back as it is while it is still current."""
    with Catalogue(places.catalogue) as catalogue:
        if loaded is not None and _still_current(catalogue, model, loaded):
            return loaded
        return _reconciled(catalogue, places, model, WriterLock(places.data / "writer.lock"))


def _still_current(catalogue: Catalogue, model: ClipModel, index: VectorIndex) -> bool:
    """Whether a loaded index can go on serving: its file has not been replaced
    since, and it holds as many photos as the catalogue has embeddings (which
    catches a writer whose index save failed)."""
    if not index.matches_file:
        return False
    model_id = catalogue.model_id(model.key, model.dim)
    return len(index) == catalogue.embedding_count(model_id)


def _reconciled(
    catalogue: Catalogue, places: Places, model: ClipModel, writer: WriterLock
) -> VectorIndex:
    model_id = catalogue.model_id(model.key, model.dim)
    index = VectorIndex(places.indexes / f"{model.key}.usearch", model.dim)
    wanted = catalogue.embedding_ids(model_id)
    index.reconcile(wanted, lambda ids: catalogue.embeddings(model_id, ids))
    if index.dirty and not writer.held:
        _save_unless_busy(index, writer)
    return index


def _save_unless_busy(index: VectorIndex, writer: WriterLock) -> None:
    try:
        with writer:
            index.save()
    except LibraryBusyError:
        log.info("Not saving the repaired index: another process is updating the library")
    except OSError as error:
        log.warning("Cannot save the repaired index %s: %s", index.path, error)


def _remove_leftovers(places: Places) -> None:
    """Temporary files of writers that were killed before they could rename them."""
    for leftover in [*places.indexes.glob(".*.tmp"), *places.thumbnails.glob("*/.*.tmp")]:
        log.info("Removing %s, left by an interrupted run", leftover)
        leftover.unlink(missing_ok=True)
