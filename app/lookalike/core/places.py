"""Where Lookalike keeps its files: the catalogue, vector indexes, models,
thumbnails and logs, in the platform's folders or all under one `--data-dir`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

from lookalike import APP_NAME
from lookalike.core.scanner import CACHE_TAG, CACHE_TAG_TEXT


@dataclass(frozen=True)
class Places:
    data: Path
    cache: Path
    logs: Path

    @classmethod
    def default(cls) -> Places:
        return cls(
            data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            logs=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        )

    @classmethod
    def under(cls, root: Path) -> Places:
        """Everything below one folder, for tests and portable installs."""
        root = root.expanduser().resolve()
        return cls(data=root / "data", cache=root / "cache", logs=root / "logs")

    @classmethod
    def choose(cls, root: Path | None) -> Places:
        return cls.default() if root is None else cls.under(root)

    @property
    def catalogue(self) -> Path:
        return self.data / "catalogue.sqlite3"

    @property
    def indexes(self) -> Path:
        return self.data / "indexes"

    @property
    def models(self) -> Path:
        return self.data / "models"

    @property
    def thumbnails(self) -> Path:
        return self.cache / "thumbnails"

    def create(self) -> None:
        for folder in (self.data, self.indexes, self.models, self.thumbnails, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        for folder in (self.data, self.cache):
            tag = folder / CACHE_TAG
            if not tag.exists():
                tag.write_text(CACHE_TAG_TEXT + "# Lookalike's own files; no photos here.\n")
