"""Downloading a catalogue model on a thread of its own.

The core's ModelStore fetches the files into a staging folder, checks them and
only then renames the model into place, so a cancelled or failed download
leaves no model that could be chosen, only parts that the next try resumes.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from lookalike.core.clip import ModelError
from lookalike.core.hub import DownloadCancelled, DownloadProgress, OfflineError
from lookalike.core.model_store import CatalogEntry, ModelStore, load_catalog
from lookalike.gui.workers import track

log = logging.getLogger(__name__)


def default_entry() -> CatalogEntry:
    """The catalogue's default model (the first entry, if none is marked)."""
    catalog = load_catalog()
    return next((entry for entry in catalog if entry.default), catalog[0])


class ModelDownload(QThread):
    """One download. Signals: `progressed(DownloadProgress)`, at most ten a
    second; `installed(Path)` with the model folder; `cancelled()`;
    `failed(str)` with what went wrong and what to do, in plain words."""

    progressed = Signal(object)
    installed = Signal(Path)
    cancelled = Signal()
    failed = Signal(str)

    def __init__(
        self, store: ModelStore, entry: CatalogEntry, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("model-download")
        self.store = store
        self.entry = entry
        self.cancel = threading.Event()
        track(self)

    def stop(self) -> None:
        self.cancel.set()

    def run(self) -> None:
        try:
            folder = self.store.download(self.entry, self.progressed.emit, self.cancel)
        except DownloadCancelled:
            log.info("Download of %s cancelled", self.entry.name)
            self.cancelled.emit()
            return
        except Exception as error:
            log.exception("Download of %s failed", self.entry.name)
            self.failed.emit(explain(self.entry, error))
            return
        self.installed.emit(folder)


def explain(entry: CatalogEntry, error: Exception) -> str:
    if isinstance(error, OfflineError):
        return (
            f"{entry.name} cannot be downloaded: offline mode is on (HF_HUB_OFFLINE). "
            "Turn it off and try again, or choose a model folder you already have."
        )
    if isinstance(error, ModelError):  # its message says what went wrong and often what to do
        return (
            f"{entry.name} could not be downloaded: {error}. Downloading again carries on "
            "where it stopped; or choose a model folder you already have."
        )
    return (
        f"{entry.name} could not be downloaded: {error or type(error).__name__}. "
        "Try again, or choose a model folder you already have; the log has the details."
    )


def describe(progress: DownloadProgress) -> str:
    """'12.3 of 605.0 MB (2%)'."""
    percent = 100 * progress.done // max(progress.total, 1)
    return f"{progress.done / 1e6:.1f} of {progress.total / 1e6:.1f} MB ({percent}%)"
