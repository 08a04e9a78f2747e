"""Walking the library folders to find the photo files in them.

The walk follows symbolic links to folders but never enters a folder twice, so
a link back up the tree cannot make it loop. Hidden folders and the clutter
that NAS boxes, package managers and operating systems leave behind are
skipped. Nothing is opened here: only names and `stat` results are read.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp",
        ".tif", ".tiff", ".heic", ".heif", ".hif", ".avif",
    }
)  # fmt: skip

SKIPPED_FOLDERS = frozenset(
    {
        "@eaDir", "#recycle", "#snapshot", "$RECYCLE.BIN", "System Volume Information",
        "lost+found", "node_modules", "__pycache__", "__MACOSX",
    }
)  # fmt: skip


# Folders holding this file are caches (https://bford.info/cachedir/); our own
# data and cache folders carry it, so a library folder that contains them does
# not index Lookalike's thumbnails as photos.
CACHE_TAG = "CACHEDIR.TAG"
CACHE_TAG_TEXT = "Signature: 8a477f597d28d172789f06886806bc55\n"


def is_photo_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in PHOTO_SUFFIXES


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Problem:
    """Something named like a photo that cannot be read as one."""

    path: str
    reason: str


@dataclass
class FolderScan:
    root: Path
    files: list[FoundFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    missing: bool = False


def scan_folder(root: Path) -> FolderScan:
    """Every photo file below `root`, and every photo-named thing that is not one."""
    result = FolderScan(root)
    try:
        top = os.stat(root)
    except OSError:
        result.missing = True
        return result
    if not stat.S_ISDIR(top.st_mode):
        result.missing = True
        return result

    visited = {(top.st_dev, top.st_ino)}
    for entry in _walk(str(root), visited):
        if isinstance(entry, Problem):
            result.problems.append(entry)
        else:
            result.files.append(entry)
    result.files.sort(key=lambda f: f.path)
    result.problems.sort(key=lambda p: p.path)
    return result


def _walk(root: str, visited: set[tuple[int, int]]) -> Iterator[FoundFile | Problem]:
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as error:
            log.warning("Cannot list folder %s: %s", folder, error.strerror or error)
            continue
        if any(e.name == CACHE_TAG for e in entries):
            log.info("Skipping %s: it is tagged as a cache folder", folder)
            continue

        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                info = entry.stat()
            except OSError as error:
                if is_photo_name(entry.name) and (
                    entry.is_symlink() or error.errno != errno.ENOENT
                ):
                    yield Problem(entry.path, _stat_problem(error))
                continue

            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if entry.name in SKIPPED_FOLDERS:
                    continue
                if key in visited:
                    log.info("Not entering %s: it leads to a folder already scanned", entry.path)
                    continue
                visited.add(key)
                pending.append(entry.path)
            elif is_photo_name(entry.name):
                if stat.S_ISREG(info.st_mode):
                    yield FoundFile(entry.path, info.st_size, info.st_mtime_ns)
                else:
                    yield Problem(entry.path, "not a regular file (a pipe, socket or device)")


def _stat_problem(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a symbolic link that loops back on itself"
    if error.errno == errno.ENOENT:
        return "a symbolic link to a file that does not exist"
    if error.errno == errno.EACCES:
        return "permission denied"
    return f"cannot be read: {error.strerror or error}"
