"""One writer per library: a lock file that the operating system releases when
the process holding it ends, however it ends."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO


class LibraryBusyError(RuntimeError):
    """Another Lookalike process is already changing this library."""


class WriterLock:
    """An exclusive, non-blocking lock on `path`, held until `release()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        if self._file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held open on purpose)
        try:
            _lock(stream)
        except OSError:
            stream.seek(0)
            holder = stream.read().strip() or "unknown"
            stream.close()
            raise LibraryBusyError(
                f"another Lookalike (process {holder}) is already updating this library; "
                "wait for it to finish, or close it, and try again"
            ) from None
        stream.seek(0)
        stream.truncate()
        stream.write(str(os.getpid()))
        stream.flush()
        self._file = stream

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the lock
            self._file = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _lock(stream: IO[str]) -> None:
        stream.seek(0)
        msvcrt.locking(stream.fileno(), msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(stream: IO[str]) -> None:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
