"""Background indexing: `Library.index` on a thread of its own.

The worker opens its own Library (SQLite connections belong to one thread)
over the same places, and shares the loaded model with the window: onnxruntime
sessions may run on several threads at once. Pausing holds the worker inside
its progress callback, so it resumes where it stopped instead of scanning the
folders again; stopping sets the cancel event, and the core then commits what
is done and saves the vector index atomically before the thread ends.
"""

from __future__ import annotations

import logging
import threading
import time
from enum import Enum

from PySide6.QtCore import QObject, QThread, Signal, Slot

from lookalike.core.clip import ClipModel
from lookalike.core.indexer import IndexReport, Progress
from lookalike.core.library import Library
from lookalike.core.lock import LibraryBusyError
from lookalike.core.places import Places
from lookalike.gui.workers import track

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1


class IndexWorker(QThread):
    """One indexing run. Signals: `progressed(Progress)`, at most ten a second;
    `reported(IndexReport)` when the run ends, cancelled or not; `busy(str)`
    when another process is writing to the library; `failed(str)` when it
    could not run for any other reason."""

    progressed = Signal(object)
    reported = Signal(object)
    busy = Signal(str)
    failed = Signal(str)

    def __init__(
        self, places: Places, model: ClipModel, workers: int, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("indexer")
        self.places = places
        self.model = model
        self.workers = workers
        self.cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._last_emit = 0.0
        track(self)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self.cancel.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def run(self) -> None:
        try:
            with Library(self.places) as library:
                report = library.index(
                    self.model, progress=self._progress, cancel=self.cancel, workers=self.workers
                )
        except LibraryBusyError as error:
            log.info("Not indexing: %s", error)
            self.busy.emit(str(error))
            return
        except Exception as error:
            log.exception("Indexing failed")
            self.failed.emit(str(error) or type(error).__name__)
            return
        self.reported.emit(report)

    def _progress(self, progress: Progress) -> None:
        """Runs on the worker thread after each photo; also where a pause waits."""
        now = time.monotonic()
        if now - self._last_emit >= PROGRESS_INTERVAL_S or progress.done == progress.total:
            self._last_emit = now
            self.progressed.emit(progress)
        while not self._running.wait(0.1):
            if self.cancel.is_set():
                break


class State(Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"


class Indexing(QObject):
    """Starts, pauses, resumes and stops indexing runs, one at a time."""

    progressed = Signal(object)  # Progress
    finished = Signal(object)  # IndexReport
    busy = Signal(str)  # another process holds the library's writer lock
    failed = Signal(str)
    state_changed = Signal(object)  # State

    def __init__(self, places: Places, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.places = places
        self.worker: IndexWorker | None = None
        self.state = State.IDLE
        self._again: tuple[ClipModel, int] | None = None

    def start(self, model: ClipModel, workers: int) -> None:
        """Index what is new or changed; while a run is going, run again after it."""
        if self.worker is not None:
            self._again = (model, workers)
            return
        worker = IndexWorker(self.places, model, workers, self)
        worker.progressed.connect(self.progressed)
        worker.reported.connect(self._on_reported)
        worker.busy.connect(self.busy)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_thread_finished)
        self.worker = worker
        self._set_state(State.RUNNING)
        worker.start(QThread.Priority.LowPriority)

    def pause(self) -> None:
        if self.worker is not None and self.state is State.RUNNING:
            self.worker.pause()
            self._set_state(State.PAUSED)

    def resume(self) -> None:
        if self.worker is not None and self.state is State.PAUSED:
            self.worker.resume()
            self._set_state(State.RUNNING)

    def stop(self, wait: bool = True) -> None:
        """Cancel the run; with `wait`, return only once its thread has ended."""
        self._again = None
        worker = self.worker
        if worker is None:
            return
        self._set_state(State.STOPPING)
        worker.stop()
        if wait:
            worker.wait()

    @property
    def running(self) -> bool:
        return self.worker is not None

    @property
    def model(self) -> ClipModel | None:
        """The model the current run indexes with."""
        return None if self.worker is None else self.worker.model

    @Slot(object)
    def _on_reported(self, report: IndexReport) -> None:
        self.finished.emit(report)

    @Slot(str)
    def _on_failed(self, reason: str) -> None:
        self.failed.emit(reason)

    @Slot()
    def _on_thread_finished(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.deleteLater()
        again, self._again = self._again, None
        self._set_state(State.IDLE)
        if again is not None:
            self.start(*again)

    def _set_state(self, state: State) -> None:
        if state is not self.state:
            self.state = state
            self.state_changed.emit(state)
