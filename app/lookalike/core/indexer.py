"""Bringing the catalogue and the vector index up to date with the library.

A run scans the folders, records what is new, changed or gone, then feeds the
photos that need an embedding through a bounded look-ahead pool of decode
threads into batched inference. Each batch is committed to the catalogue in one
transaction and then added to the vector index, so an interrupted run loses at
most the batch in flight and the next run carries on from there.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lookalike.core.catalogue import Catalogue, Folder, Photo, PhotoDetails
from lookalike.core.clip import ClipModel
from lookalike.core.imaging import (
    THUMBNAIL_SIZE,
    Decoded,
    InputSpec,
    PhotoError,
    ThumbnailCache,
    content_hash,
    decode,
    read_photo_file,
)
from lookalike.core.scanner import scan_folder
from lookalike.core.vectors import VectorIndex

log = logging.getLogger(__name__)

SAVE_INTERVAL_S = 60.0


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    rate: float  # photos per second so far
    current: str
    failed: int


@dataclass
class IndexReport:
    scanned: int = 0
    encoded: int = 0
    reused: int = 0
    moved: int = 0
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    missing_folders: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False
    index_saved: bool = True

    @property
    def rate(self) -> float:
        return self.encoded / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class _Ready:
    photo: Photo
    decoded: Decoded


@dataclass(frozen=True)
class _Known:
    """The photo's content already has an embedding, under `source_id`."""

    photo: Photo
    content: bytes
    source_id: int


@dataclass(frozen=True)
class _Failed:
    photo: Photo
    reason: str


_Outcome = _Ready | _Known | _Failed


class Indexer:
    def __init__(
        self,
        catalogue: Catalogue,
        model: ClipModel,
        vectors: VectorIndex,
        thumbnails: ThumbnailCache,
        workers: int | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.model = model
        self.vectors = vectors
        self.thumbnails = thumbnails
        self.workers = workers or min(4, os.cpu_count() or 1)
        self.model_id = catalogue.model_id(model.key, model.dim)
        self._known: dict[bytes, int] = {}

    def run(
        self,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Scan every library folder and index what needs it."""
        started = time.monotonic()
        cancel = cancel or threading.Event()
        report = IndexReport()

        present: list[Folder] = []
        missing: dict[int, Photo] = {}
        for folder in self.catalogue.folders():
            if cancel.is_set():
                break
            gone = self._sync_folder(folder, report)
            if gone is None:
                report.missing_folders.append(folder.path)
                continue
            present.append(folder)
            missing.update((p.id, p) for p in gone)

        todo = [
            p
            for p in self.catalogue.pending(self.model_id, [f.id for f in present])
            if p.id not in missing
        ]
        if todo and not cancel.is_set():
            self._index(todo, missing, report, progress, cancel)

        if not cancel.is_set() and missing:
            with self.catalogue.transaction():
                self.catalogue.delete_photos(missing)
            self.vectors.remove(list(missing))
            report.removed = len(missing)
            log.info("Removed %d photos that are no longer in the library", len(missing))
        if self.vectors.dirty:
            report.index_saved = self._save_vectors()

        report.cancelled = cancel.is_set()
        report.seconds = time.monotonic() - started
        log.info(
            "Indexing %s: %d encoded, %d reused, %d moved, %d removed, %d failed in %.1f s",
            "cancelled" if report.cancelled else "finished", report.encoded, report.reused,
            report.moved, report.removed, len(report.failed), report.seconds,
        )  # fmt: skip
        return report

    def _save_vectors(self) -> bool:
        """Save the vector index; a failure costs only time, since the index is
        rebuilt from the catalogue when it is next opened."""
        try:
            self.vectors.save()
        except OSError as error:
            log.warning(
                "Could not save the vector index %s (%s); it will be rebuilt from the "
                "catalogue next time",
                self.vectors.path, error.strerror or error,
            )  # fmt: skip
            return False
        return True

    def _sync_folder(self, folder: Folder, report: IndexReport) -> list[Photo] | None:
        """Record one folder's new, changed and unreadable files; return the
        photos no longer found there, or None when the folder itself is missing."""
        scan = scan_folder(Path(folder.path))
        if scan.missing:
            log.warning("Library folder %s is missing; keeping its photos", folder.path)
            return None

        known = self.catalogue.photos_in(folder.id)
        with self.catalogue.transaction():
            for found in scan.files:
                photo = known.pop(found.path, None)
                if photo is None:
                    self.catalogue.add_photo(folder.id, found.path, found.size, found.mtime_ns)
                elif (photo.size, photo.mtime_ns) != (found.size, found.mtime_ns):
                    self.catalogue.mark_changed(photo.id, found.size, found.mtime_ns)
            seen = {f.path for f in scan.files} | {p.path for p in scan.problems}
            stale = [f.path for f in self.catalogue.failures(folder.id) if f.path not in seen]
            self.catalogue.clear_failures(stale)
            for problem in scan.problems:
                self.catalogue.record_failure(folder.id, problem.path, problem.reason, None, None)
                report.failed.append((problem.path, problem.reason))
        report.scanned += len(scan.files)
        return list(known.values())

    def _index(
        self,
        todo: list[Photo],
        missing: dict[int, Photo],
        report: IndexReport,
        progress: ProgressCallback | None,
        cancel: threading.Event,
    ) -> None:
        spec = self.model.input_spec
        batch_size = self.model.batch_size
        self._known = known = self.catalogue.known_hashes(self.model_id)
        started = time.monotonic()
        last_save = started
        batch: list[_Ready] = []
        settled: list[_Known | _Failed] = []

        for done, outcome in enumerate(self._prepared(todo, spec, known, cancel), start=1):
            if isinstance(outcome, _Ready):
                batch.append(outcome)
            else:
                settled.append(outcome)
            if len(batch) >= batch_size or len(settled) >= 256:
                self._commit(batch, settled, missing, report)
                batch, settled = [], []
            if progress is not None:
                elapsed = max(time.monotonic() - started, 1e-6)
                progress(Progress(done, len(todo), done / elapsed, outcome.photo.path,
                                  len(report.failed)))  # fmt: skip
            if time.monotonic() - last_save > SAVE_INTERVAL_S:
                self._save_vectors()
                last_save = time.monotonic()

        if not cancel.is_set():
            self._commit(batch, settled, missing, report)

    def _prepared(
        self,
        todo: list[Photo],
        spec: InputSpec,
        known: dict[bytes, int],
        cancel: threading.Event,
    ) -> Iterator[_Outcome]:
        """Each photo's outcome, in order, from decode threads kept a bounded
        distance ahead of the consumer."""
        ahead = self.workers * 2 + self.model.batch_size
        photos = iter(todo)
        queue: deque[Future[_Outcome]] = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="decode") as pool:
            try:
                for photo in photos:
                    queue.append(pool.submit(self._prepare, photo, spec, known))
                    if len(queue) >= ahead:
                        break
                while queue and not cancel.is_set():
                    outcome = queue.popleft().result()
                    next_photo = next(photos, None)
                    if next_photo is not None:
                        queue.append(pool.submit(self._prepare, next_photo, spec, known))
                    yield outcome
            finally:
                for pending in queue:
                    pending.cancel()

    def _prepare(self, photo: Photo, spec: InputSpec, known: dict[bytes, int]) -> _Outcome:
        """Runs on a decode thread: read, hash, and decode unless already known."""
        try:
            data = read_photo_file(photo.path)
            content = content_hash(data)
            source = known.get(content)
            if source is not None:
                return _Known(photo, content, source)
            size = None if content in self.thumbnails else THUMBNAIL_SIZE
            decoded = decode(data, spec, size, digest=content)
            if decoded.thumbnail is not None:
                self._store_thumbnail(content, decoded.thumbnail)
            return _Ready(photo, decoded)
        except PhotoError as error:
            return _Failed(photo, str(error))
        except Exception as error:
            log.exception("Unexpected error reading %s", photo.path)
            return _Failed(photo, f"unexpected error: {error}")

    def _store_thumbnail(self, content: bytes, jpeg: bytes) -> None:
        """A thumbnail that cannot be written (a full disk) is made again when
        the grid needs it; it is no reason to fail the photo."""
        try:
            self.thumbnails.store(content, jpeg)
        except OSError as error:
            log.warning("Cannot write a thumbnail: %s", error.strerror or error)

    def _commit(
        self,
        batch: list[_Ready],
        settled: list[_Known | _Failed],
        missing: dict[int, Photo],
        report: IndexReport,
    ) -> None:
        vectors = (
            self.model.encode_images([item.decoded.pixels for item in batch]) if batch else None
        )
        added: list[tuple[int, np.ndarray]] = []

        with self.catalogue.transaction():
            for item in settled:
                photo = item.photo
                if isinstance(item, _Failed):
                    self.catalogue.record_failure(
                        photo.folder_id, photo.path, item.reason, photo.size, photo.mtime_ns
                    )
                    report.failed.append((photo.path, item.reason))
                    log.warning("Skipped %s: %s", photo.path, item.reason)
                elif item.source_id in missing:
                    # The same content vanished from its old place: a move.
                    del missing[item.source_id]
                    self.catalogue.move_photo(item.source_id, photo)
                    self.catalogue.clear_failures([photo.path])
                    report.moved += 1
                else:
                    vector = self.catalogue.copy_embedding(
                        self.model_id, item.source_id, photo.id, item.content
                    )
                    self.catalogue.clear_failures([photo.path])
                    if vector is not None and item.source_id != photo.id:
                        added.append((photo.id, vector))
                    report.reused += 1
            for ready, vector in zip(batch, vectors if vectors is not None else [], strict=True):
                d = ready.decoded
                details = PhotoDetails(d.hash, d.width, d.height, d.taken_at)
                self.catalogue.store_embedding(self.model_id, ready.photo.id, details, vector)
                self.catalogue.clear_failures([ready.photo.path])
                added.append((ready.photo.id, vector))
                self._known[d.hash] = ready.photo.id
            report.encoded += len(batch)

        if added:
            keys = np.array([key for key, _ in added], dtype=np.uint64)
            self.vectors.add(keys, np.stack([vector for _, vector in added]))
