"""The command line: `lookalike index`, `search`, `status` and `models`, and with
no command at all, the window."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from lookalike import __version__
from lookalike.core.catalogue import CatalogueError
from lookalike.core.clip import ClipModel, ModelError
from lookalike.core.indexer import IndexReport, Progress
from lookalike.core.library import Library, NoModelError
from lookalike.core.lock import LibraryBusyError
from lookalike.core.logs import start_logging
from lookalike.core.places import Places
from lookalike.core.search import QueryError, build_query

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NO_MODEL, EXIT_CANCELLED = 0, 1, 2, 3, 130

NO_MODEL_HELP = """\
No model is set up for this library yet. Lookalike needs a CLIP model folder
(the layout Immich publishes: config.json, visual/, textual/). Give one with
--model DIR; the first model used becomes the library's model from then on."""


def _common(parser: argparse.ArgumentParser, top: bool) -> None:
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", default=default,
        help="keep the catalogue, indexes, thumbnails and logs under DIR "
        "instead of the user's folders",
    )  # fmt: skip
    parser.add_argument(
        "--model", type=Path, metavar="DIR", default=default,
        help="the CLIP model folder to use instead of the library's model",
    )  # fmt: skip
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=False if top else argparse.SUPPRESS,
        help="also print the log on stderr",
    )  # fmt: skip


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lookalike",
        description="Find photos by what they show. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"lookalike {__version__}")
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    index = commands.add_parser("index", help="add folders and bring the index up to date")
    _common(index, top=False)
    index.add_argument("folders", nargs="*", type=Path, metavar="FOLDER")
    index.add_argument("--workers", type=int, default=None, help="decode threads")

    search = commands.add_parser("search", help="print the photos that best match a query")
    _common(search, top=False)
    search.add_argument(
        "query", nargs="?", default=None, metavar="QUERY",
        help="words describing the photo; a WEIGHT: prefix weighs them",
    )  # fmt: skip
    search.add_argument("--image", action="append", default=[], metavar="FILE",
                        help="a photo to find lookalikes of (repeatable)")  # fmt: skip
    search.add_argument("--not", dest="minus", action="append", default=[], metavar="TEXT",
                        help="words (or a photo) the results should not look like")  # fmt: skip
    search.add_argument("--limit", type=int, default=20, metavar="N")
    search.add_argument("--json", action="store_true", help="print JSON")

    status = commands.add_parser("status", help="what is indexed, pending and failed")
    _common(status, top=False)
    status.add_argument("--json", action="store_true", help="print JSON")

    models = commands.add_parser("models", help="see and choose models")
    _common(models, top=False)
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    models_list = models_commands.add_parser("list", help="the library's model")
    models_list.add_argument("--json", action="store_true")
    use = models_commands.add_parser("use", help="make a model folder the library's model")
    use.add_argument("folder", type=Path, metavar="DIR")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    _prepare_streams()
    places = Places.choose(args.data_dir)
    start_logging(places.logs)
    if args.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
    log.info("lookalike %s: %s", __version__, " ".join(sys.argv[1:]))

    if args.command is None:
        from lookalike.gui.app import run_app

        return int(run_app(places, args.model))

    try:
        with Library(places) as library:
            handler_for = {
                "index": cmd_index, "search": cmd_search,
                "status": cmd_status, "models": cmd_models,
            }  # fmt: skip
            code: int = handler_for[args.command](library, args)
            return code
    except NoModelError:
        print(NO_MODEL_HELP, file=sys.stderr)
        return EXIT_NO_MODEL
    except (ModelError, CatalogueError, QueryError, LibraryBusyError) as error:
        print(f"lookalike: {error}", file=sys.stderr)
        return EXIT_ERROR
    except (sqlite3.Error, OSError) as error:
        log.exception("Stopped by an error writing the library")
        print(
            f"lookalike: cannot write to the library in {places.data}: {error}. "
            "Nothing already indexed is lost; free some space or fix the folder's "
            "permissions and run the command again.",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _prepare_streams() -> None:
    """Print file names exactly as the file system has them, even when they are
    not valid in the terminal's encoding."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")


def cmd_index(library: Library, args: argparse.Namespace) -> int:
    folders = [Path(f) for f in args.folders]
    for folder in folders:
        if not folder.is_dir():
            print(f"lookalike: {folder} is not a folder", file=sys.stderr)
            return EXIT_USAGE
    model = library.load_model(args.model)
    if folders:
        library.add_folders(folders)
    if not library.folders():
        print("lookalike: the library has no folders yet; name one to add it", file=sys.stderr)
        return EXIT_USAGE

    cancel = threading.Event()
    bar = ProgressBar(sys.stderr)
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        report = library.index(model, progress=bar.update, cancel=cancel, workers=args.workers)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.finish()
    _print_report(report, model)
    return EXIT_CANCELLED if report.cancelled else EXIT_OK


def _print_report(report: IndexReport, model: ClipModel) -> None:
    err = sys.stderr
    verb = "Stopped" if report.cancelled else "Done"
    speed = f" ({report.rate:.1f} photos/s on {model.provider})" if report.encoded else ""
    print(
        f"{verb}: {report.scanned} photos found, {report.encoded} encoded{speed}, "
        f"{report.reused} reused, {report.moved} moved, {report.removed} removed, "
        f"{len(report.failed)} skipped, in {report.seconds:.1f} s",
        file=err,
    )
    if not report.index_saved:
        print("  the search index could not be saved; it will be rebuilt next time", file=err)
    for folder in report.missing_folders:
        print(f"  folder missing, its photos are kept: {folder}", file=err)
    for path, reason in report.failed:
        print(f"  skipped {path}: {reason}", file=err)


def cmd_search(library: Library, args: argparse.Namespace) -> int:
    query = build_query(args.query, args.image, args.minus)
    if not query:
        print("lookalike: give some words to search for, or --image FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.limit < 1:
        print("lookalike: --limit must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    model = library.load_model(args.model)
    results = library.search(model, query, args.limit)
    if args.json:
        rows = [{"path": r.path, "score": round(r.score, 6)} for r in results]
        print(json.dumps(rows, indent=2))
    else:
        for result in results:
            print(f"{result.score:.3f}  {result.path}")
        if not results:
            print("No photos are indexed yet: run `lookalike index FOLDER`.", file=sys.stderr)
    return EXIT_OK


def cmd_status(library: Library, args: argparse.Namespace) -> int:
    try:
        model: ClipModel | None = library.load_model(args.model)
    except NoModelError:
        model = None
    status = library.status(model)
    missing = [f.path for f in status.folders if not os.path.isdir(f.path)]
    counts = status.counts
    if args.json:
        report = {
            "model": status.model,
            "photos": counts.photos,
            "indexed": counts.indexed,
            "pending": counts.pending,
            "failed": counts.failed,
            "folders": [{"path": f.path, "missing": f.path in missing} for f in status.folders],
            "failures": [{"path": f.path, "reason": f.reason} for f in status.failures],
        }
        print(json.dumps(report, indent=2))
        return EXIT_OK

    print(f"Library: {library.places.data}")
    print(f"Model:   {status.model or 'none (use --model DIR)'}")
    print("Folders:")
    for folder in status.folders:
        print(f"  {folder.path}{'  (missing)' if folder.path in missing else ''}")
    if not status.folders:
        print("  none yet: run `lookalike index FOLDER`")
    print(
        f"Photos:  {counts.photos}, indexed {counts.indexed}, pending {counts.pending}, "
        f"failed {counts.failed}"
    )
    for failure in status.failures:
        print(f"  failed {failure.path}: {failure.reason}")
    return EXIT_OK


def cmd_models(library: Library, args: argparse.Namespace) -> int:
    if args.models_command == "use":
        model = ClipModel(args.folder)
        library.use_model(model.folder)
        print(f"The library now uses {model.name} ({model.folder})")
        return EXIT_OK
    active = library.active_model
    if args.json:
        print(json.dumps([{"name": active.name, "path": str(active), "active": True}]
                         if active else []))  # fmt: skip
    elif active:
        print(f"* {active.name}  {active}")
    else:
        print(NO_MODEL_HELP)
    return EXIT_OK


class ProgressBar:
    """A one-line progress bar, drawn only when the stream is a terminal."""

    def __init__(self, stream: TextIO, interval: float = 0.1) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.interval = interval
        self.last = 0.0
        self.drawn = False

    def update(self, progress: Progress) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < self.interval and progress.done < progress.total):
            return
        self.last = now
        columns = shutil.get_terminal_size((80, 20)).columns
        share = progress.done / progress.total if progress.total else 1.0
        width = 24
        filled = int(share * width)
        head = (
            f"\r{share:4.0%} [{'#' * filled}{'.' * (width - filled)}] "
            f"{progress.done}/{progress.total} {progress.rate:5.1f}/s "
        )
        name = os.path.basename(progress.current)
        room = max(columns - len(head) - 1, 0)
        self.stream.write(head + name[:room].ljust(room))
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
