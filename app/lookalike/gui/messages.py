"""The one bridge through which the person is told things.

Workers and windows post here; the main window shows problems in its message
area and passing news in the status bar. A problem with a key is shown only
once per session, so a folder that stays missing is not reported on every
rescan; forgetting the key once the problem is solved withdraws it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class Level(Enum):
    INFO = "info"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Message:
    level: Level
    text: str


class Messages(QObject):
    """Signals: `posted(Message)`; `withdrawn(str)` with the text of a problem
    that has gone away by itself."""

    posted = Signal(object)  # Message
    withdrawn = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._shown: dict[str, str] = {}

    def info(self, text: str) -> None:
        self.posted.emit(Message(Level.INFO, text))

    def problem(self, text: str, key: str | None = None) -> bool:
        """Tell the person about a problem, with what to do; once per `key`
        (the text itself when no key is given). Returns whether it was shown."""
        key = key or text
        if key in self._shown:
            return False
        self._shown[key] = text
        log.warning("Shown to the user: %s", text)
        self.posted.emit(Message(Level.PROBLEM, text))
        return True

    def forget(self, key: str) -> None:
        """Allow the problem under `key` to be shown again, once it was solved,
        and take it back where it is still shown."""
        text = self._shown.pop(key, None)
        if text is not None:
            self.withdrawn.emit(text)

    def showing(self, key: str) -> bool:
        return key in self._shown
