"""Watching library folders, so that new, edited, moved and deleted photos are
picked up without the person asking.

File system events are only hints: they say *which* library folder to look at
again, and the indexer's own scan decides what changed. Bursts of events (a
camera import, a sync client) are collapsed into one call. Where live watching
is impossible (the system's watch limit is reached, or the folder is on a
drive that is not plugged in), folders are checked on a timer instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from lookalike.core.scanner import SKIPPED_FOLDERS, is_photo_name

log = logging.getLogger(__name__)

ChangeCallback = Callable[[list[Path]], None]


class LibraryWatcher:
    """Calls `on_change(folders)` from a background thread when photos in any of
    the watched library folders may have changed."""

    def __init__(
        self,
        on_change: ChangeCallback,
        debounce_s: float = 2.0,
        poll_s: float = 600.0,
        offline_poll_s: float = 30.0,
    ) -> None:
        self.on_change = on_change
        self.debounce_s = debounce_s
        self.poll_s = poll_s
        self.offline_poll_s = offline_poll_s
        self._lock = threading.Lock()
        self._observer: BaseObserver | None = None
        self._watches: dict[Path, ObservedWatch] = {}
        self._polled: set[Path] = set()  # watched by timer: the watch limit was reached
        self._offline: set[Path] = set()
        self._changed: set[Path] = set()
        self._timer: threading.Timer | None = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def live(self) -> list[Path]:
        return sorted(self._watches)

    @property
    def polled(self) -> list[Path]:
        return sorted(self._polled)

    @property
    def offline(self) -> list[Path]:
        return sorted(self._offline)

    def start(self, folders: Iterable[Path]) -> None:
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.start()
        self._poller = threading.Thread(target=self._poll, name="library-poll", daemon=True)
        self._poller.start()
        self.watch(folders)

    def watch(self, folders: Iterable[Path]) -> None:
        """Watch exactly these folders from now on."""
        wanted = {Path(f) for f in folders}
        with self._lock:
            for gone in set(self._watches) - wanted:
                self._unschedule(gone)
            self._polled &= wanted
            self._offline &= wanted
            for folder in wanted - set(self._watches) - self._polled - self._offline:
                self._schedule(folder)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        if self._poller is not None:
            self._poller.join(timeout=5)

    # Called with self._lock held.

    def _schedule(self, folder: Path) -> None:
        if not folder.is_dir():
            log.info("Library folder %s is offline; checking for it every %.0f s",
                     folder, self.offline_poll_s)  # fmt: skip
            self._offline.add(folder)
            return
        assert self._observer is not None
        try:
            self._watches[folder] = self._observer.schedule(
                _Hints(self, folder), str(folder), recursive=True
            )
        except OSError as error:
            log.warning(
                "Cannot watch %s live (%s); checking it every %.0f s instead. On Linux, "
                "raising fs.inotify.max_user_watches allows live watching.",
                folder, error.strerror or error, self.poll_s,
            )  # fmt: skip
            self._polled.add(folder)

    def _unschedule(self, folder: Path) -> None:
        watch = self._watches.pop(folder)
        if self._observer is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(watch)

    # Change collection

    def hint(self, folder: Path) -> None:
        """Something in `folder` changed; report it once the burst is over."""
        with self._lock:
            if self._stop.is_set():
                return
            self._changed.add(folder)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce_s, self._report)
            self._timer.daemon = True
            self._timer.start()

    def _report(self) -> None:
        with self._lock:
            changed, self._changed = sorted(self._changed), set()
            self._timer = None
        if changed and not self._stop.is_set():
            log.info("Library folders changed: %s", ", ".join(map(str, changed)))
            try:
                self.on_change(changed)
            except Exception:
                log.exception("The change handler failed")

    def _poll(self) -> None:
        """Hint polled folders on a timer; notice offline folders coming back
        (and live ones going away)."""
        since_poll = 0.0
        while not self._stop.wait(self.offline_poll_s):
            since_poll += self.offline_poll_s
            with self._lock:
                returned = [f for f in self._offline if f.is_dir()]
                for folder in returned:
                    self._offline.discard(folder)
                    self._schedule(folder)
                vanished = [f for f in self._watches if not f.is_dir()]
                for folder in vanished:
                    self._unschedule(folder)
                    self._offline.add(folder)
                due = list(self._polled) if since_poll >= self.poll_s else []
            if since_poll >= self.poll_s:
                since_poll = 0.0
            for folder in [*returned, *vanished, *due]:
                self.hint(folder)


class _Hints(FileSystemEventHandler):
    """Turns file system events under one library folder into hints."""

    def __init__(self, watcher: LibraryWatcher, folder: Path) -> None:
        self.watcher = watcher
        self.folder = folder

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type == "modified":
            return  # what changed inside it has events of its own
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(self._matters(os.fsdecode(p)) for p in paths if p):
            self.watcher.hint(self.folder)

    def _matters(self, path: str) -> bool:
        relative = (
            Path(path).relative_to(self.folder) if path.startswith(str(self.folder)) else None
        )
        if relative is None:
            return False
        parts = relative.parts
        if any(p.startswith(".") or p in SKIPPED_FOLDERS for p in parts):
            return False
        # A folder event (created, moved, deleted) may carry many photos with it.
        return not parts or is_photo_name(parts[-1]) or "." not in parts[-1]
