"""The rotating log file every Lookalike process writes to."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_FILE = "lookalike.log"


def start_logging(folder: Path, level: int = logging.INFO) -> Path:
    """Send this process's log records to a rotating file in `folder`, in place
    of any log file an earlier call opened."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_FILE
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LogFile)]:
        if Path(old.baseFilename) == path:
            return path
        root.removeHandler(old)
        old.close()
    handler = _LogFile(
        path, maxBytes=2_000_000, backupCount=3, encoding="utf-8", errors="backslashreplace"
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(min(root.level or level, level))
    return path


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file start_logging opened, told apart from handlers others added."""
