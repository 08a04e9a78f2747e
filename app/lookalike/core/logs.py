"""The rotating log file every Lookalike process writes to."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_FILE = "lookalike.log"


def start_logging(folder: Path, level: int = logging.INFO) -> Path:
    """Send this process's log records to a rotating file in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_FILE
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and (
            Path(handler.baseFilename) == path
        ):
            return path
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=3, encoding="utf-8", errors="backslashreplace"
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(min(root.level or level, level))
    return path
