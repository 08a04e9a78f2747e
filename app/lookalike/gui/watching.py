"""Live folder watching for the window: the core's LibraryWatcher, with its
change hints delivered on the GUI thread.

The watcher calls back from a thread of its own; emitting a signal of an
object that lives on the GUI thread queues the call there, so the window only
ever sees `changed` between two of its own events.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from lookalike.core.watcher import LibraryWatcher

log = logging.getLogger(__name__)

DEBOUNCE_S = 2.0
POLL_S = 600.0  # folders that cannot be watched live (the system's watch limit)
OFFLINE_POLL_S = 30.0  # folders on drives that are not plugged in


class FolderWatch(QObject):
    """Signal: `changed(list[Path])`, the library folders that may have changed."""

    changed = Signal(list)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._watcher: LibraryWatcher | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        return self._watcher is not None

    def watch(self, folders: Iterable[Path]) -> None:
        """Watch exactly these folders, starting the watcher the first time."""
        if self._stopped:
            return
        if self._watcher is None:
            self._watcher = LibraryWatcher(
                self._on_change, debounce_s=DEBOUNCE_S, poll_s=POLL_S, offline_poll_s=OFFLINE_POLL_S
            )
            self._watcher.start(folders)
        else:
            self._watcher.watch(folders)

    def stop(self) -> None:
        """Stop watching for good; no `changed` is emitted afterwards."""
        self._stopped = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def _on_change(self, folders: list[Path]) -> None:
        """Runs on the watcher's thread."""
        if not self._stopped:
            self.changed.emit(folders)
