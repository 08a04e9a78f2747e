"""Running core work off the GUI thread.

`Task` runs one function in its own QThread and reports what it returned or
why it failed through signals, so an exception never ends a thread silently.
Every thread the window starts is registered here, which lets the window wait
for all of them on close and lets tests check that none is left running.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QThread, Signal

log = logging.getLogger(__name__)

_started: weakref.WeakSet[QThread] = weakref.WeakSet()


def track(thread: QThread) -> QThread:
    """Register a thread the window starts, so it can be waited for."""
    _started.add(thread)
    return thread


def running_threads() -> list[QThread]:
    """The registered threads that are still running."""
    return [t for t in list(_started) if shiboken6.isValid(t) and t.isRunning()]


class Task(QThread):
    """One function run on its own thread; `succeeded` carries what it
    returned, `failed` the error's message."""

    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, name: str, work: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._work = work
        track(self)

    def run(self) -> None:
        try:
            result = self._work()
        except Exception as error:
            log.exception("%s failed", self.objectName())
            self.failed.emit(str(error) or type(error).__name__)
            return
        self.succeeded.emit(result)


def start_task(
    name: str,
    work: Callable[[], Any],
    parent: QObject,
    succeeded: Callable[[Any], object],
    failed: Callable[[str], object],
    finished: Callable[[], object],
) -> Task:
    """Run `work` on a thread of its own and tell these about its end. Pass
    bound slots of `parent`, so that Qt delivers them on the parent's thread."""
    task = Task(name, work, parent)
    task.succeeded.connect(succeeded)
    task.failed.connect(failed)
    task.finished.connect(finished)
    task.start()
    return task
