"""The vector index: one usearch file per model, keyed by photo id.

It is derived data. The catalogue holds every embedding, so the index can be
rebuilt from it at any time; `reconcile` brings a loaded index back in line
with the catalogue after a crash, and `save` replaces the file atomically so a
reader never sees half of one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from usearch.index import Index

log = logging.getLogger(__name__)

Keys = npt.NDArray[np.uint64]
Vectors = npt.NDArray[np.float32]
EmbeddingSource = Callable[[list[int]], Iterable[tuple[Keys, Vectors]]]

# Below this many photos a brute-force scan for a window's worth (1,000) of
# results costs about what the graph search does, and is exact
# (bench/search_scale.py: break-even near 43,000 at 512 dimensions).
EXACT_SEARCH_LIMIT = 40_000
# Graph settings from bench/search_scale.py at 200,000 photos: connectivity 32
# and expansion 128 lift recall@10 from 0.49 to 0.67 for about 2 ms a query
# and 5% more memory; float16 keeps 7.5% more of the true top 10 than int8.
CONNECTIVITY = 32
EXPANSION_SEARCH = 128


class VectorIndex:
    def __init__(self, path: Path, ndim: int) -> None:
        self.path = path
        self.ndim = ndim
        self.dirty = False
        # The file this index was loaded from or last saved as: (inode, size, mtime).
        self.file_state: tuple[int, int, int] | None = None
        self.index = self._load()

    def _current_file_state(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns

    @property
    def matches_file(self) -> bool:
        """Whether this index holds what its file holds: nothing unsaved here,
        and the file is still the one it was loaded from or saved as (saves
        replace the file, so another writer's save shows as a new inode)."""
        return (
            not self.dirty
            and self.file_state is not None
            and self._current_file_state() == self.file_state
        )

    def _new(self) -> Index:
        return Index(
            ndim=self.ndim,
            metric="cos",
            dtype="f16",
            connectivity=CONNECTIVITY,
            expansion_search=EXPANSION_SEARCH,
        )

    def _load(self) -> Index:
        if not self.path.exists():
            return self._new()
        try:
            found = Index.metadata(str(self.path))
            if found is None or found.get("dimensions") != self.ndim:
                log.warning("The vector index %s does not fit this model; rebuilding it", self.path)
                return self._new()
            # Loading into an index made here keeps the search settings, which
            # the file does not store; its graph and connectivity come from the file.
            before = self._current_file_state()
            index = self._new()
            index.load(str(self.path))
            # Replaced while loading: which one was read is unknown, so it matches neither.
            self.file_state = before if self._current_file_state() == before else None
        except Exception as error:
            log.warning("The vector index %s is damaged (%s); rebuilding it", self.path, error)
            return self._new()
        return index

    def __len__(self) -> int:
        return len(self.index)

    def keys(self) -> Keys:
        return np.asarray(self.index.keys[0 : len(self.index)], dtype=np.uint64)

    def reconcile(self, wanted: Keys, source: EmbeddingSource) -> tuple[int, int]:
        """Make the index hold exactly the photo ids in `wanted`, loading what is
        missing from `source`. Returns how many were added and removed."""
        present = self.keys()
        extra = np.setdiff1d(present, wanted, assume_unique=True)
        missing = np.setdiff1d(wanted, present, assume_unique=True)
        if len(extra):
            self.remove(extra)
        if len(missing):
            for keys, vectors in source([int(k) for k in missing]):
                self.add(keys, vectors)
        if len(extra) or len(missing):
            log.info(
                "Vector index %s: added %d, removed %d to match the catalogue",
                self.path.name, len(missing), len(extra),
            )  # fmt: skip
        return len(missing), len(extra)

    def add(self, keys: Keys, vectors: Vectors) -> None:
        keys = np.asarray(keys, dtype=np.uint64)
        if not len(keys):
            return
        present = [k for k in keys if self.index.contains(int(k))]
        if present:
            self.index.remove(np.array(present, dtype=np.uint64))
        self.index.add(keys, np.asarray(vectors, dtype=np.float32).reshape(len(keys), -1))
        self.dirty = True

    def remove(self, keys: Iterable[int] | Keys) -> None:
        keys = np.asarray(list(keys) if not isinstance(keys, np.ndarray) else keys, np.uint64)
        if len(keys):
            self.index.remove(keys)
            self.dirty = True

    def search(self, query: Vectors, count: int) -> tuple[Keys, npt.NDArray[np.float32]]:
        """The `count` nearest photo ids and their cosine similarity, best first."""
        if len(self.index) == 0 or count <= 0:
            return np.empty(0, np.uint64), np.empty(0, np.float32)
        count = min(count, len(self.index))
        exact = len(self.index) <= EXACT_SEARCH_LIMIT
        matches = self.index.search(np.asarray(query, np.float32), count, exact=exact)
        keys = np.asarray(matches.keys, dtype=np.uint64)
        scores = 1.0 - np.asarray(matches.distances, dtype=np.float32)
        return keys, scores

    def save(self) -> None:
        """Write the index to a temporary file, flush it to disk, then rename it
        over the old one, so the file on disk is always a whole index."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.index.save(str(temporary))
            with open(temporary, "rb+") as written:
                os.fsync(written.fileno())
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)
        _sync_folder(self.path.parent)
        self.dirty = False
        self.file_state = self._current_file_state()


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
