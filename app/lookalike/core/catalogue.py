"""The catalogue: what Lookalike knows about the library, in one SQLite file.

It is the source of truth. The vector indexes are derived from the embeddings
kept here and can always be rebuilt from them. Paths are stored as the bytes
the file system gave us, so names that are not valid UTF-8 survive.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]

# Each step takes the schema from version N to N + 1; never edit a released step.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE folders (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        added_at REAL NOT NULL
    );
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        path BLOB NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash BLOB,
        width INTEGER,
        height INTEGER,
        taken_at TEXT
    );
    CREATE INDEX photos_by_hash ON photos(hash);
    CREATE INDEX photos_by_folder ON photos(folder_id);
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        dim INTEGER NOT NULL
    );
    CREATE TABLE embeddings (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        hash BLOB NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (photo_id, model_id)
    ) WITHOUT ROWID;
    CREATE INDEX embeddings_by_hash ON embeddings(model_id, hash);
    CREATE TABLE failures (
        path BLOB PRIMARY KEY,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        size INTEGER,
        mtime_ns INTEGER,
        reason TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
)


def encode_path(path: str | Path) -> bytes:
    return os.fsencode(path)


def decode_path(raw: bytes) -> str:
    return os.fsdecode(raw)


@dataclass(frozen=True)
class Folder:
    id: int
    path: str


@dataclass(frozen=True)
class Photo:
    id: int
    folder_id: int
    path: str
    size: int
    mtime_ns: int
    hash: bytes | None


@dataclass(frozen=True)
class PhotoDetails:
    """What is learned from decoding a photo, stored beside its embedding."""

    hash: bytes
    width: int
    height: int
    taken_at: str | None


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str
    size: int | None
    mtime_ns: int | None


@dataclass(frozen=True)
class Counts:
    photos: int
    indexed: int
    pending: int
    failed: int


class CatalogueError(RuntimeError):
    """The catalogue file cannot be opened or is of a newer version."""


BUSY_TIMEOUT_S = 30.0


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to write-ahead logging. The first connection to a new file
    does it; SQLite answers the others "database is locked" at once, without
    waiting out the busy timeout, so they try again until it has."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Catalogue:
    """One connection to the catalogue; use one per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            _use_wal(self.db)
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise CatalogueError(f"cannot open the catalogue {path}: {error}") from error

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise CatalogueError(
                f"the catalogue {self.path} was written by a newer Lookalike "
                f"(schema {current}); please update the app"
            )
        while current < len(MIGRATIONS):
            with self.transaction():
                # Read again under the write lock: another connection may have
                # migrated the file since we first looked.
                current = self.version
                if current >= len(MIGRATIONS):
                    break
                log.info("Migrating catalogue %s to schema %d", self.path, current + 1)
                for statement in MIGRATIONS[current].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {current + 1}")
                current += 1

    def transaction(self) -> _Transaction:
        return _Transaction(self.db)

    # Settings

    def setting(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            self.db.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # Folders

    def add_folder(self, path: Path) -> Folder:
        raw = encode_path(path)
        self.db.execute(
            "INSERT OR IGNORE INTO folders(path, added_at) VALUES (?, ?)", (raw, time.time())
        )
        row = self.db.execute("SELECT id FROM folders WHERE path = ?", (raw,)).fetchone()
        return Folder(int(row[0]), str(path))

    def remove_folder(self, path: Path) -> bool:
        """Forget a folder and everything learned about its photos."""
        cursor = self.db.execute("DELETE FROM folders WHERE path = ?", (encode_path(path),))
        return cursor.rowcount > 0

    def folders(self) -> list[Folder]:
        rows = self.db.execute("SELECT id, path FROM folders ORDER BY path")
        return [Folder(int(i), decode_path(p)) for i, p in rows]

    # Models

    def model_id(self, key: str, dim: int) -> int:
        self.db.execute("INSERT OR IGNORE INTO models(key, dim) VALUES (?, ?)", (key, dim))
        row = self.db.execute("SELECT id, dim FROM models WHERE key = ?", (key,)).fetchone()
        if int(row[1]) != dim:
            raise CatalogueError(f"model {key} changed its embedding size from {row[1]} to {dim}")
        return int(row[0])

    # Photos

    def photos_in(self, folder_id: int) -> dict[str, Photo]:
        rows = self.db.execute(
            "SELECT id, folder_id, path, size, mtime_ns, hash FROM photos WHERE folder_id = ?",
            (folder_id,),
        )
        photos = (_photo(row) for row in rows)
        return {photo.path: photo for photo in photos}

    def photo(self, photo_id: int) -> Photo | None:
        row = self.db.execute(
            "SELECT id, folder_id, path, size, mtime_ns, hash FROM photos WHERE id = ?",
            (photo_id,),
        ).fetchone()
        return None if row is None else _photo(row)

    def photo_at(self, path: str) -> Photo | None:
        row = self.db.execute(
            "SELECT id, folder_id, path, size, mtime_ns, hash FROM photos WHERE path = ?",
            (encode_path(path),),
        ).fetchone()
        return None if row is None else _photo(row)

    def taken_at(self, path: str) -> str | None:
        """When the photo at `path` was taken, from its EXIF, if known."""
        row = self.db.execute(
            "SELECT taken_at FROM photos WHERE path = ?", (encode_path(path),)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def add_photo(self, folder_id: int, path: str, size: int, mtime_ns: int) -> int:
        cursor = self.db.execute(
            "INSERT INTO photos(folder_id, path, size, mtime_ns) VALUES (?, ?, ?, ?)",
            (folder_id, encode_path(path), size, mtime_ns),
        )
        return int(cursor.lastrowid or 0)

    def mark_changed(self, photo_id: int, size: int, mtime_ns: int) -> None:
        """The file differs from what was indexed; its content must be read again."""
        self.db.execute(
            "UPDATE photos SET size = ?, mtime_ns = ?, hash = NULL WHERE id = ?",
            (size, mtime_ns, photo_id),
        )

    def move_photo(self, photo_id: int, new: Photo) -> None:
        """Give photo `photo_id` the place of `new`, which was found to be the same file."""
        self.db.execute("DELETE FROM photos WHERE id = ?", (new.id,))
        self.db.execute(
            "UPDATE photos SET folder_id = ?, path = ?, size = ?, mtime_ns = ? WHERE id = ?",
            (new.folder_id, encode_path(new.path), new.size, new.mtime_ns, photo_id),
        )

    def delete_photos(self, photo_ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM photos WHERE id = ?", ((i,) for i in photo_ids))

    def photo_paths(self, photo_ids: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for chunk in _chunks(list(photo_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT id, path FROM photos WHERE id IN ({marks})", chunk)
            found.update((int(i), decode_path(p)) for i, p in rows)
        return found

    def pending(self, model_id: int, folder_ids: Sequence[int] | None = None) -> list[Photo]:
        """Photos with no embedding of their current content for this model and no
        recorded failure for their current size and time, in path order."""
        sql = "SELECT p.id, p.folder_id, p.path, p.size, p.mtime_ns, p.hash " + _PENDING
        params: list[int] = [model_id]
        if folder_ids is not None:
            sql += f" AND p.folder_id IN ({','.join('?' * len(folder_ids))})"
            params += folder_ids
        return [_photo(row) for row in self.db.execute(sql + " ORDER BY p.path", params)]

    def known_hashes(self, model_id: int) -> dict[bytes, int]:
        """Content hash to a photo that has an embedding of exactly that content."""
        rows = self.db.execute(
            "SELECT e.hash, e.photo_id FROM embeddings e WHERE e.model_id = ?", (model_id,)
        )
        return {bytes(h): int(i) for h, i in rows}

    # Embeddings

    def store_embedding(
        self, model_id: int, photo_id: int, details: PhotoDetails, vector: Vector
    ) -> None:
        self.db.execute(
            "UPDATE photos SET hash = ?, width = ?, height = ?, taken_at = ? WHERE id = ?",
            (details.hash, details.width, details.height, details.taken_at, photo_id),
        )
        self.db.execute(
            "INSERT OR REPLACE INTO embeddings(photo_id, model_id, hash, vector) "
            "VALUES (?, ?, ?, ?)",
            (photo_id, model_id, details.hash, vector.astype(np.float16).tobytes()),
        )

    def copy_embedding(
        self, model_id: int, source_id: int, photo_id: int, content: bytes
    ) -> Vector | None:
        """Give `photo_id`, whose content hash is `content`, the embedding and
        details of `source_id`, an identical photo (or itself, unchanged)."""
        self.db.execute(
            "UPDATE photos SET hash = ?, (width, height, taken_at) = "
            "(SELECT width, height, taken_at FROM photos WHERE id = ?) WHERE id = ?",
            (content, source_id, photo_id),
        )
        if source_id != photo_id:
            self.db.execute(
                "INSERT OR REPLACE INTO embeddings(photo_id, model_id, hash, vector) "
                "SELECT ?, model_id, hash, vector FROM embeddings "
                "WHERE photo_id = ? AND model_id = ?",
                (photo_id, source_id, model_id),
            )
        return self.embedding(model_id, photo_id)

    def embedding(self, model_id: int, photo_id: int) -> Vector | None:
        row = self.db.execute(
            "SELECT vector FROM embeddings WHERE model_id = ? AND photo_id = ?",
            (model_id, photo_id),
        ).fetchone()
        return None if row is None else _vector(row[0])

    def embedding_of_content(self, model_id: int, content: bytes) -> Vector | None:
        row = self.db.execute(
            "SELECT vector FROM embeddings WHERE model_id = ? AND hash = ? LIMIT 1",
            (model_id, content),
        ).fetchone()
        return None if row is None else _vector(row[0])

    def embedding_count(self, model_id: int) -> int:
        row = self.db.execute("SELECT count(*) FROM embeddings WHERE model_id = ?", (model_id,))
        return int(row.fetchone()[0])

    def embedding_ids(self, model_id: int) -> npt.NDArray[np.uint64]:
        rows = self.db.execute(
            "SELECT photo_id FROM embeddings WHERE model_id = ? ORDER BY photo_id", (model_id,)
        )
        return np.fromiter((r[0] for r in rows), dtype=np.uint64)

    def embeddings(
        self, model_id: int, photo_ids: Sequence[int] | None = None, chunk: int = 4096
    ) -> Iterator[tuple[npt.NDArray[np.uint64], Vector]]:
        """The stored embeddings, a chunk of (ids, vectors) at a time."""
        if photo_ids is None:
            rows = self.db.execute(
                "SELECT photo_id, vector FROM embeddings WHERE model_id = ?", (model_id,)
            )
            yield from _vector_chunks(rows, chunk)
            return
        for part in _chunks(list(photo_ids), 500):
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                "SELECT photo_id, vector FROM embeddings "
                f"WHERE model_id = ? AND photo_id IN ({marks})",
                [model_id, *part],
            )
            yield from _vector_chunks(rows, chunk)

    # Failures

    def record_failure(
        self, folder_id: int, path: str, reason: str, size: int | None, mtime_ns: int | None
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO failures(path, folder_id, size, mtime_ns, reason, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (encode_path(path), folder_id, size, mtime_ns, reason, time.time()),
        )

    def clear_failures(self, paths: Iterable[str]) -> None:
        self.db.executemany(
            "DELETE FROM failures WHERE path = ?", ((encode_path(p),) for p in paths)
        )

    def failures(self, folder_id: int | None = None) -> list[Failure]:
        sql = "SELECT path, reason, size, mtime_ns FROM failures"
        params: tuple[int, ...] = ()
        if folder_id is not None:
            sql, params = sql + " WHERE folder_id = ?", (folder_id,)
        rows = self.db.execute(sql + " ORDER BY path", params)
        return [Failure(decode_path(p), r, s, m) for p, r, s, m in rows]

    # Summaries

    def counts(self, model_id: int | None) -> Counts:
        photos = self.db.execute("SELECT count(*) FROM photos").fetchone()[0]
        failed = self.db.execute("SELECT count(*) FROM failures").fetchone()[0]
        indexed = 0
        pending = photos
        if model_id is not None:
            indexed = self.db.execute(
                "SELECT count(*) FROM photos p JOIN embeddings e "
                "ON e.photo_id = p.id AND e.model_id = ? AND e.hash = p.hash",
                (model_id,),
            ).fetchone()[0]
            pending = self.db.execute("SELECT count(*) " + _PENDING, (model_id,)).fetchone()[0]
        return Counts(photos=photos, indexed=indexed, pending=pending, failed=failed)

    def newest_first(self, limit: int | None = None) -> list[tuple[int, str]]:
        """Every photo, newest first by the time it was taken, else its file time."""
        sql = (
            "SELECT id, path FROM photos "
            "ORDER BY coalesce(taken_at, datetime(mtime_ns / 1000000000, 'unixepoch')) DESC, "
            "id DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [(int(i), decode_path(p)) for i, p in self.db.execute(sql)]


# The photos that need encoding for a model (the one parameter).
_PENDING = (
    "FROM photos p "
    "LEFT JOIN embeddings e ON e.photo_id = p.id AND e.model_id = ? "
    "LEFT JOIN failures f ON f.path = p.path AND f.size = p.size AND f.mtime_ns = p.mtime_ns "
    "WHERE (e.hash IS NULL OR p.hash IS NULL OR e.hash != p.hash) AND f.path IS NULL"
)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _photo(row: Sequence[Any]) -> Photo:
    pid, folder_id, path, size, mtime_ns, content_hash = row
    return Photo(
        id=int(pid),
        folder_id=int(folder_id),
        path=decode_path(path),
        size=int(size),
        mtime_ns=int(mtime_ns),
        hash=None if content_hash is None else bytes(content_hash),
    )


def _vector(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


def _vector_chunks(
    rows: Iterable[tuple[int, bytes]], size: int
) -> Iterator[tuple[npt.NDArray[np.uint64], Vector]]:
    ids: list[int] = []
    blobs: list[bytes] = []
    for photo_id, blob in rows:
        ids.append(photo_id)
        blobs.append(blob)
        if len(ids) == size:
            yield _stack(ids, blobs)
            ids, blobs = [], []
    if ids:
        yield _stack(ids, blobs)


def _stack(ids: list[int], blobs: list[bytes]) -> tuple[npt.NDArray[np.uint64], Vector]:
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(ids), -1)
    return np.array(ids, dtype=np.uint64), vectors.astype(np.float32)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
