"""The entry point of the double-click app: the same `lookalike` command line,
frozen by PyInstaller into one executable that opens the window when started
without arguments and runs `index`, `search` and the rest when given them."""

from __future__ import annotations

import multiprocessing
import os
import sys


def _give_streams_a_home() -> None:
    """A windowed executable on Windows starts with no console, so sys.stdout
    and sys.stderr are None and the first print or log line would raise."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def _drop_finder_arguments() -> None:
    """Older macOS Finders add a -psn_... process serial number to the arguments
    of an app they start; it is not ours to parse."""
    sys.argv[1:] = [arg for arg in sys.argv[1:] if not arg.startswith("-psn_")]


if __name__ == "__main__":
    # A frozen child process started by multiprocessing re-enters here; this
    # turns it into the worker it was meant to be instead of a second app.
    multiprocessing.freeze_support()
    _give_streams_a_home()
    _drop_finder_arguments()

    from lookalike.cli import main

    sys.exit(main())
