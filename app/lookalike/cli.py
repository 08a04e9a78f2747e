"""The command line: `lookalike index`, `search`, `status` and `models`, and with
no command at all, the window."""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from lookalike import __version__
from lookalike.core.catalogue import CatalogueError
from lookalike.core.clip import ClipModel, ModelError
from lookalike.core.hub import DownloadCancelled, DownloadProgress
from lookalike.core.indexer import IndexReport, Progress
from lookalike.core.library import Library, NoModelError
from lookalike.core.lock import LibraryBusyError
from lookalike.core.logs import start_logging
from lookalike.core.model_store import (
    ModelStore,
    agreement,
    catalog_entry,
    load_catalog,
    quantize_visual,
)
from lookalike.core.places import Places
from lookalike.core.search import QueryError, build_query
from lookalike.core.watcher import LibraryWatcher

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
    parser.add_argument(
        "--install-desktop-entry", action="store_true",
        help="add Lookalike to this user's application menu (Linux) and exit",
    )  # fmt: skip
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    index = commands.add_parser("index", help="add folders and bring the index up to date")
    _common(index, top=False)
    index.add_argument("folders", nargs="*", type=Path, metavar="FOLDER")
    index.add_argument("--workers", type=int, default=None, help="decode threads")
    index.add_argument(
        "--watch", action="store_true",
        help="keep running, and index again whenever photos in the folders change",
    )  # fmt: skip

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

    _models_parser(commands)
    return parser


def _models_parser(commands: Any) -> None:
    models = commands.add_parser("models", help="download, import and choose models")
    _common(models, top=False)
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the models to download and the installed ones")
    listing.add_argument("--json", action="store_true", help="print JSON")
    download = actions.add_parser(
        "download", help="download a catalogue model (or an Immich-layout repository owner/name)"
    )
    download.add_argument("name", metavar="NAME")
    download.add_argument("--force", action="store_true", help="download again if installed")
    imported = actions.add_parser("import", help="check a model folder and copy it in")
    imported.add_argument("folder", type=Path, metavar="DIR")
    imported.add_argument("--name", default=None, help="install it under this name")
    use = actions.add_parser("use", help="make a model the library's model")
    use.add_argument("folder", metavar="NAME|DIR", help="an installed model or a model folder")
    use.add_argument(
        "--int8", action="store_true",
        help="index with the int8 visual encoder (see `models quantize`)",
    )  # fmt: skip
    quantize = actions.add_parser(
        "quantize", help="make an int8 visual encoder: faster on CPUs, nearly the same results"
    )
    quantize.add_argument("folder", metavar="NAME|DIR")


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    _prepare_streams()
    if args.install_desktop_entry:
        from lookalike.desktop import install_for_user

        return install_for_user()
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
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        if args.watch:
            _index_and_watch(library, model, cancel, args.workers)
            return EXIT_OK
        report = _index_once(library, model, cancel, args.workers)
    finally:
        signal.signal(signal.SIGINT, previous)
    return EXIT_CANCELLED if report.cancelled else EXIT_OK


def _index_once(
    library: Library, model: ClipModel, cancel: threading.Event, workers: int | None
) -> IndexReport:
    bar = ProgressBar(sys.stderr, photo_counts)
    try:
        report = library.index(model, progress=bar.update, cancel=cancel, workers=workers)
    finally:
        bar.finish()
    _print_report(report, model)
    return report


def _index_and_watch(
    library: Library, model: ClipModel, cancel: threading.Event, workers: int | None
) -> None:
    """Index, then index again whenever the library's folders change, until Ctrl+C.
    The watch starts first, so changes made during a run are not missed."""
    changes: queue.Queue[list[Path]] = queue.Queue()
    watcher = LibraryWatcher(changes.put)
    watcher.start(Path(f.path) for f in library.folders())
    try:
        _index_once(library, model, cancel, workers)
        print("Watching the library for changes; press Ctrl+C to stop.", file=sys.stderr)
        while not cancel.is_set():
            try:
                changes.get(timeout=0.5)
            except queue.Empty:
                continue
            _index_once(library, model, cancel, workers)
    finally:
        watcher.stop()


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
    for reason in model.dropped_providers:
        print(f"  {reason}; ran on {model.provider} instead", file=err)
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
        rows = [
            {"path": r.path, "score": round(r.score, 6), "offline": not r.available}
            for r in results
        ]
        print(json.dumps(rows, indent=2))
    else:
        for result in results:
            offline = "" if result.available else "  (offline)"
            print(f"{result.score:.3f}  {result.path}{offline}")
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
    store = ModelStore(library.places.models)
    action = {
        "list": _models_list, "download": _models_download, "import": _models_import,
        "use": _models_use, "quantize": _models_quantize,
    }[args.models_command]  # fmt: skip
    return action(library, store, args)


def _adopt(library: Library, folder: Path) -> None:
    """The first model a library gets becomes its model."""
    if library.active_model is None:
        library.use_model(folder)
        print(f"The library now uses {folder.name}.", file=sys.stderr)


def _models_list(library: Library, store: ModelStore, args: argparse.Namespace) -> int:
    active = library.active_model
    installed = store.installed()
    catalog = load_catalog()
    if args.json:
        report = {
            "active": {"name": active.name, "path": str(active),
                       "precision": library.active_variant} if active else None,
            "installed": [
                {"name": m.name, "path": str(m.path), "bytes": m.size, "repo": m.repo,
                 "commit": m.commit, "int8": m.has_int8, "active": m.path == active}
                for m in installed
            ],
            "catalog": [
                {"name": e.name, "repo": e.repo, "purpose": e.purpose, "default": e.default,
                 "embed_dim": e.embed_dim, "image_size": e.image_size,
                 "approx_download_mb": e.approx_download_mb, "recall": e.recall,
                 "installed": store.is_installed(e.name), "source": list(e.source),
                 "notes": e.notes}
                for e in catalog
            ],
        }  # fmt: skip
        print(json.dumps(report, indent=2))
        return EXIT_OK

    print(f"Installed in {store.root}:")
    for model in installed:
        mark = "*" if model.path == active else " "
        extras = ["int8" + (" (in use)" if mark == "*" and library.active_variant == "int8"
                            else "")] if model.has_int8 else []  # fmt: skip
        origin = model.repo or "imported"
        print(f"{mark} {model.name:32} {_megabytes(model.size):>9}  {origin}  {' '.join(extras)}")
    if active and all(m.path != active for m in installed):
        print(f"* {active.name:32} {'':>9}  {active}")
    if not installed and not active:
        print("  none yet")
    print("Available (lookalike models download NAME):")
    for entry in catalog:
        size = f"~{entry.approx_download_mb} MB" if entry.approx_download_mb else ""
        recall = f"recall {entry.recall['en']:.1f} %" if "en" in entry.recall else ""
        state = "  [installed]" if store.is_installed(entry.name) else ""
        print(f"  {entry.name:32} {size:>9}  {recall:13}  {entry.purpose}{state}")
    print("Recall: Immich's figures on Crossmodal-3600 (English); see `models list --json`.")
    return EXIT_OK


def _models_download(library: Library, store: ModelStore, args: argparse.Namespace) -> int:
    entry = catalog_entry(args.name)
    if store.is_installed(entry.name) and not args.force:
        print(f"{entry.name} is installed already ({store.folder(entry.name)}); "
              "--force downloads it again", file=sys.stderr)  # fmt: skip
        _adopt(library, store.folder(entry.name))
        return EXIT_OK
    size = f" (about {entry.approx_download_mb} MB)" if entry.approx_download_mb else ""
    print(f"Downloading {entry.repo}{size}", file=sys.stderr)
    cancel = threading.Event()
    bar = ProgressBar(sys.stderr, byte_counts)
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        folder = store.download(entry, bar.update, cancel, replace=args.force)
    except DownloadCancelled:
        bar.finish()
        print("Stopped; run the same command again to carry on where it stopped.",
              file=sys.stderr)  # fmt: skip
        return EXIT_CANCELLED
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.finish()
    print(f"Installed {entry.name} in {folder}", file=sys.stderr)
    _adopt(library, folder)
    return EXIT_OK


def _models_import(library: Library, store: ModelStore, args: argparse.Namespace) -> int:
    folder = store.import_folder(args.folder, args.name)
    print(f"Imported {folder.name} into {folder}", file=sys.stderr)
    _adopt(library, folder)
    return EXIT_OK


def _models_use(library: Library, store: ModelStore, args: argparse.Namespace) -> int:
    variant = "int8" if args.int8 else "float"
    model = ClipModel(store.find(args.folder), visual_variant=variant)
    library.use_model(model.folder, variant)
    extra = " with its int8 visual encoder" if args.int8 else ""
    print(f"The library now uses {model.name}{extra} ({model.folder})")
    return EXIT_OK


def _models_quantize(library: Library, store: ModelStore, args: argparse.Namespace) -> int:
    folder = store.find(args.folder)
    print(f"Quantising the visual encoder of {folder.name}…", file=sys.stderr)
    started = time.monotonic()
    path = quantize_visual(folder)
    seconds = time.monotonic() - started
    rng = np.random.default_rng(0)
    size = ClipModel(folder).input_spec.size
    # Smooth random colour fields stand in for photos; bench/int8.py measures real ones.
    fields = rng.normal(0, 1, (8, 3, 4, 4)).astype(np.float32)
    batch = np.repeat(np.repeat(fields, -(-size // 4), axis=2), -(-size // 4), axis=3)
    batch = batch[:, :, :size, :size] + rng.normal(0, 0.1, (8, 3, size, size)).astype(np.float32)
    check = agreement(folder, [np.ascontiguousarray(batch)])
    original = (folder / "visual" / "model.onnx").stat().st_size
    print(
        f"Wrote {path} ({_megabytes(path.stat().st_size)}, float {_megabytes(original)}) "
        f"in {seconds:.1f} s. Cosine to the float encoder on {check.count} synthetic inputs: "
        f"mean {check.mean:.4f}, min {check.min:.4f}.\n"
        f"Use it with `lookalike models use {folder.name} --int8`.",
        file=sys.stderr,
    )
    return EXIT_OK


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


class ProgressBar:
    """A one-line progress bar, drawn only when the stream is a terminal, for
    anything that counts `done` of `total` and names its `current` item."""

    def __init__(self, stream: TextIO, counts: Callable[[Any], str], interval: float = 0.1) -> None:
        self.stream = stream
        self.counts = counts
        self.enabled = stream.isatty()
        self.interval = interval
        self.last = 0.0
        self.drawn = False

    def update(self, progress: Progress | DownloadProgress) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < self.interval and progress.done < progress.total):
            return
        self.last = now
        columns = shutil.get_terminal_size((80, 20)).columns
        share = progress.done / progress.total if progress.total else 1.0
        filled = int(share * BAR_WIDTH)
        head = f"\r{share:4.0%} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
        head += self.counts(progress) + " "
        name = os.path.basename(progress.current)
        room = max(columns - len(head) - 1, 0)
        self.stream.write(head + name[:room].ljust(room))
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


BAR_WIDTH = 24


def photo_counts(progress: Progress) -> str:
    return f"{progress.done}/{progress.total} {progress.rate:5.1f}/s"


def byte_counts(progress: DownloadProgress) -> str:
    return (
        f"{progress.done / 1e6:.1f}/{progress.total / 1e6:.1f} MB {progress.rate / 1e6:5.1f} MB/s"
    )
