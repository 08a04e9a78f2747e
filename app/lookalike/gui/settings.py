"""The window's settings: one declared registry, stored with QSettings.

Every setting the window reads is declared once below with its type, default,
bounds and a description. The values live in an INI file in the library's data
folder, so `--data-dir` (and every test) keeps them apart from the user's own.
Library folders are not settings: they belong to the catalogue.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from lookalike.core.places import Places

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.ini"


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    description: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> Any:
        """The value as this setting's type, or ValueError saying why not."""
        if self.type is bytes:
            if isinstance(value, QByteArray):
                return bytes(value.data())
            if isinstance(value, bytes):
                return value
            raise ValueError(f"{self.name} must be bytes")
        try:
            typed = self.type(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} must be a {self.type.__name__}, not {value!r}") from None
        if self.minimum is not None and typed < self.minimum:
            raise ValueError(f"{self.name} must be at least {self.minimum}")
        if self.maximum is not None and typed > self.maximum:
            raise ValueError(f"{self.name} must be at most {self.maximum}")
        if self.choices and typed not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}")
        return typed


WINDOW_GEOMETRY = Setting(
    "window/geometry", bytes, b"", "The main window's size and place on screen."
)
THUMBNAIL_SIZE = Setting(
    "grid/thumbnail_size", int, 160, "The side of a grid cell, in logical pixels.",
    minimum=64, maximum=320,
)  # fmt: skip
SEARCH_LIMIT = Setting(
    "search/limit", int, 1000, "How many of the best matches a search shows.",
    minimum=20, maximum=100_000,
)  # fmt: skip
EXECUTION_PROVIDER = Setting(
    "model/execution_provider", str, "auto",
    "Where the model runs: 'auto' tries CUDA, DirectML and CoreML before the CPU.",
    choices=("auto", "CUDA", "DirectML", "CoreML", "CPU"),
)  # fmt: skip
INDEX_THREADS = Setting(
    "indexing/threads", int, min(4, os.cpu_count() or 1),
    "How many threads decode photos while the library is indexed.",
    minimum=1, maximum=32,
)  # fmt: skip

REGISTRY: tuple[Setting, ...] = (
    WINDOW_GEOMETRY,
    THUMBNAIL_SIZE,
    SEARCH_LIMIT,
    EXECUTION_PROVIDER,
    INDEX_THREADS,
)


class Settings:
    """Typed, checked access to the registry's values in one QSettings store."""

    def __init__(self, store: QSettings) -> None:
        self.store = store

    @classmethod
    def for_places(cls, places: Places) -> Settings:
        path = places.data / SETTINGS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    @property
    def path(self) -> Path:
        return Path(self.store.fileName())

    def get(self, setting: Setting) -> Any:
        """The stored value, or the default when none is stored or it is invalid."""
        _registered(setting)
        raw = self.store.value(setting.name)
        if raw is None:
            return setting.default
        try:
            return setting.check(raw)
        except ValueError as error:
            log.warning("Ignoring the stored setting: %s; using %r", error, setting.default)
            return setting.default

    def set(self, setting: Setting, value: Any) -> None:
        _registered(setting)
        typed = setting.check(value)
        self.store.setValue(setting.name, QByteArray(typed) if setting.type is bytes else typed)

    def sync(self) -> None:
        self.store.sync()


def _registered(setting: Setting) -> None:
    if setting not in REGISTRY:
        raise KeyError(f"{setting.name} is not a declared setting")
