"""Downloading the catalogue's default model on a thread of its own, with its
progress and outcome on the model page.

The core's ModelStore fetches the files into a staging folder, checks them and
only then renames the model into place, so a cancelled or failed download
leaves no model that could be chosen, only parts that the next try resumes.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from lookalike.core.clip import ModelError
from lookalike.core.hub import DownloadCancelled, DownloadProgress, OfflineError
from lookalike.core.model_store import CatalogEntry, ModelStore, load_catalog
from lookalike.gui.messages import Messages
from lookalike.gui.setup import ModelPage
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


class Downloads(QObject):
    """Downloads the default model, one download at a time, showing it on the
    model page and problems through `Messages`. Signals: `installed(Path)`
    with the model folder; `status(str, int)`, news for the status bar and for
    how many milliseconds (0: until replaced); `running_changed(bool)`."""

    installed = Signal(Path)
    status = Signal(str, int)
    running_changed = Signal(bool)

    def __init__(
        self, store: ModelStore, page: ModelPage, messages: Messages, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.page = page
        self.messages = messages
        self.entry = default_entry()
        self._download: ModelDownload | None = None
        page.offer_download(self.entry.name, self.entry.approx_download_mb)
        page.download_requested.connect(self.start)
        page.cancel_requested.connect(self.cancel)

    @property
    def running(self) -> bool:
        return self._download is not None

    def toggle(self) -> None:
        if self.running:
            self.cancel()
        else:
            self.start()

    @Slot()
    def start(self) -> None:
        if self._download is not None:
            return
        download = ModelDownload(self.store, self.entry, self)
        download.progressed.connect(self._on_progress)
        download.installed.connect(self._on_installed)
        download.cancelled.connect(self._on_cancelled)
        download.failed.connect(self._on_failed)
        download.finished.connect(self._on_ended)
        self._download = download
        self.messages.forget("download")
        self.page.show_download(self.entry.name)
        self.status.emit(f"Downloading {self.entry.name}…", 0)
        log.info("Downloading %s from %s", self.entry.name, self.entry.repo)
        download.start()
        self.running_changed.emit(True)

    @Slot()
    def cancel(self) -> None:
        if self._download is not None:
            self._download.stop()
            self.page.progress_label.setText("Stopping the download…")

    def close(self) -> None:
        """Stop any download and wait for its thread, without a word (for closing)."""
        download = self._download
        if download is not None:
            download.blockSignals(True)
            download.stop()
            download.wait()

    @Slot(object)
    def _on_progress(self, progress: DownloadProgress) -> None:
        text = f"Downloading {self.entry.name}: {describe(progress)}"
        self.page.show_progress(text, progress.done / max(progress.total, 1))
        self.status.emit(text, 0)

    @Slot(Path)
    def _on_installed(self, folder: Path) -> None:
        self.status.emit(f"{folder.name} is installed; loading it…", 5000)
        self.installed.emit(folder)

    @Slot()
    def _on_cancelled(self) -> None:
        self.status.emit("Download cancelled. Downloading again carries on where it stopped.", 8000)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self.status.emit("", 0)
        self.messages.problem(text, key="download")
        self.page.show_problem(text)

    @Slot()
    def _on_ended(self) -> None:
        download, self._download = self._download, None
        if download is not None:
            download.deleteLater()
        self.page.show_download(None)
        self.running_changed.emit(False)
