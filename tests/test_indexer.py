"""The indexer through the library façade: progress, cancelling and resuming."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import make_photo
from lookalike.core.clip import ClipModel
from lookalike.core.library import Library
from lookalike.core.places import Places
from lookalike.core.search import build_query


def make_photos(root, count):
    colours = ["red", "green", "blue", "yellow"]
    return [
        make_photo(root / f"p{i:03}.jpg", colours[i % 4], size=(160, 120)) for i in range(count)
    ]


@contextmanager
def indexed_library(
    places: Places, folder: Path, model_dir: Path
) -> Iterator[tuple[Library, ClipModel]]:
    """A library of `folder`, indexed with the model in `model_dir`."""
    with Library(places) as library:
        library.add_folders([folder])
        model = library.load_model(model_dir)
        library.index(model)
        yield library, model


def test_progress_is_reported_for_every_photo(tmp_path, toy_model):
    make_photos(tmp_path / "lib", 20)
    seen = []
    with Library(Places.under(tmp_path / "data")) as library:
        library.add_folders([tmp_path / "lib"])
        report = library.index(library.load_model(toy_model), progress=seen.append)
    assert report.encoded == 20 and not report.cancelled
    assert [p.done for p in seen] == list(range(1, 21))
    assert all(p.total == 20 and p.rate > 0 for p in seen)
    assert seen[-1].current.endswith(".jpg")


def test_a_cancelled_run_keeps_its_work_and_the_next_run_finishes_the_rest(tmp_path, toy_model):
    make_photos(tmp_path / "lib", 60)
    places = Places.under(tmp_path / "data")
    cancel = threading.Event()

    def stop_early(progress):
        if progress.done == 40:
            cancel.set()

    with Library(places) as library:
        library.add_folders([tmp_path / "lib"])
        model = library.load_model(toy_model, threads=1)
        first = library.index(model, progress=stop_early, cancel=cancel, workers=2)
    assert first.cancelled
    assert 0 < first.encoded < 60

    with Library(places) as library:
        model = library.load_model()
        assert library.status(model).counts.indexed == first.encoded
        second = library.index(model)
        assert second.encoded == 60 - first.encoded  # nothing committed was redone
        assert library.status(model).counts.indexed == 60
        assert len(library.vectors(model)) == 60


def test_a_missing_folder_keeps_its_photos(tmp_path, toy_model):
    make_photos(tmp_path / "drive", 4)
    places = Places.under(tmp_path / "data")
    with Library(places) as library:
        library.add_folders([tmp_path / "drive"])
        model = library.load_model(toy_model)
        library.index(model)
        (tmp_path / "drive").rename(tmp_path / "unplugged")
        report = library.index(model)
        assert report.missing_folders == [str(tmp_path / "drive")]
        assert report.removed == 0
        assert library.status(model).counts.indexed == 4


def test_photos_on_a_missing_drive_stay_searchable_and_are_marked_offline(tmp_path, toy_model, cli):
    drive = tmp_path / "usb"
    make_photo(drive / "red.jpg", "red")
    make_photo(tmp_path / "home" / "red.jpg", "red", seed=3)
    assert cli("index", "--model", toy_model, drive, tmp_path / "home").code == 0

    drive.rename(tmp_path / "unplugged")
    assert cli("index").code == 0
    found = json.loads(cli("search", "red", "--json", "--limit", "2").out)
    assert {(Path(r["path"]).parent.name, r["offline"]) for r in found} == {
        ("usb", True),
        ("home", False),
    }
    status = json.loads(cli("status", "--json").out)
    assert {f["path"]: f["missing"] for f in status["folders"]} == {
        str(drive): True,
        str(tmp_path / "home"): False,
    }

    (tmp_path / "unplugged").rename(drive)
    found = json.loads(cli("search", "red", "--json", "--limit", "2").out)
    assert not any(r["offline"] for r in found)


def test_index_watch_picks_up_new_photos_until_interrupted(tmp_path, toy_model):
    library = tmp_path / "lib"
    make_photo(library / "first.jpg", "red")
    exe = Path(sys.executable).with_name("lookalike")
    command = [exe, "index", "--watch", "--data-dir", tmp_path / "d", "--model", toy_model]
    lines: queue.Queue[str] = queue.Queue()
    with subprocess.Popen([*command, library], stderr=subprocess.PIPE, text=True) as run:
        reader = threading.Thread(target=lambda: [lines.put(x) for x in run.stderr], daemon=True)
        reader.start()

        def wait_for(start: str) -> str:
            while True:
                line = lines.get(timeout=60)
                if line.startswith(start):
                    return line

        try:
            assert "1 encoded" in wait_for("Done")
            wait_for("Watching")
            make_photo(library / "later" / "second.jpg", "blue")
            assert "1 encoded" in wait_for("Done")
            run.send_signal(signal.SIGINT)
            assert run.wait(timeout=30) == 0
        finally:
            run.kill()


def test_the_progress_bar_draws_on_a_terminal_only(tmp_path):
    import io

    from lookalike.cli import ProgressBar, photo_counts
    from lookalike.core.indexer import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen, pipe = Terminal(), io.StringIO()
    for stream in (screen, pipe):
        bar = ProgressBar(stream, photo_counts, interval=0)
        for done in (1, 2):
            bar.update(Progress(done, 4, 3.5, str(tmp_path / f"IMG_{done}.jpg"), 0))
        bar.finish()
    assert pipe.getvalue() == ""
    last = screen.getvalue().split("\r")[-1]
    assert last.startswith(" 50% [############............] 2/4   3.5/s IMG_2.jpg")
    assert screen.getvalue().endswith("\n")


def test_terms_encoded_apart_give_the_same_search(tmp_path, toy_model):
    make_photos(tmp_path / "lib", 12)
    query_photo = make_photo(tmp_path / "query.png", "blue", seed=77)
    places = Places.under(tmp_path / "data")
    with indexed_library(places, tmp_path / "lib", toy_model) as (library, model):
        searcher = library.searcher(model)
        query = build_query("2:red", [str(query_photo)], ["green"])

        encoded = searcher.encode_terms(query)  # what a window runs on another thread
        assert {kind for kind, _ in encoded} == {"text", "image"} and len(encoded) == 3
        apart = searcher.search(query, 8, encoded)
        together = searcher.search(query, 8)
    assert [r.path for r in apart] == [r.path for r in together]
    assert [round(r.score, 5) for r in apart] == [round(r.score, 5) for r in together]


def test_answers_are_kept_for_words_but_not_for_photos_from_disk(tmp_path, toy_model):
    make_photos(tmp_path / "lib", 12)
    query_photo = make_photo(tmp_path / "query.png", "blue", seed=77)
    places = Places.under(tmp_path / "data")
    with indexed_library(places, tmp_path / "lib", toy_model) as (library, model):
        searcher = library.searcher(model)
        index_searches = []
        real_search = searcher.vectors.search

        def spy(vector, count):
            index_searches.append(count)
            return real_search(vector, count)

        searcher.vectors.search = spy  # type: ignore[method-assign]
        red = build_query("red", [], [])
        wide = searcher.search(red, 10)
        again = searcher.search(build_query("red", [], []), 10)
        narrow = searcher.search(red, 3)
        assert index_searches == [10]  # the repeat and the narrower one came from memory
        assert again == wide and narrow == wide[:3]
        assert searcher.search(red, 12) and index_searches == [10, 12]  # wider: searched

        # Whether files can be reached is looked at each time, not remembered.
        (tmp_path / "lib").rename(tmp_path / "unplugged")
        assert not any(r.available for r in searcher.search(red, 10))
        (tmp_path / "unplugged").rename(tmp_path / "lib")

        # The same path with new content is a new query.
        by_photo = build_query(None, [str(query_photo)], [])
        first = searcher.search(by_photo, 4)
        make_photo(query_photo, "red", seed=78)
        second = searcher.search(by_photo, 4)
    assert index_searches[-2:] == [4, 4]
    assert first[0].path != second[0].path


def test_a_query_photo_the_library_holds_is_looked_up_not_encoded(tmp_path, toy_model):
    import shutil

    import numpy as np

    from lookalike.core.catalogue import Catalogue
    from lookalike.core.clip import normalise

    photos = make_photos(tmp_path / "lib", 6)
    copy = tmp_path / "elsewhere" / "copy.jpg"
    copy.parent.mkdir()
    shutil.copyfile(photos[0], copy)
    places = Places.under(tmp_path / "data")
    with indexed_library(places, tmp_path / "lib", toy_model) as (library, model):
        searcher = library.searcher(model)
        [photo_id] = [r.photo_id for r in searcher.search(build_query("red", [], []), 6)
                      if r.path == str(photos[0])]  # fmt: skip
        stored = normalise(library.catalogue.embedding(searcher.model_id, photo_id))
        query = build_query(None, [str(copy)], [])

        with Catalogue(places.catalogue) as own:  # as the window's encoding thread does
            looked_up = searcher.encode_terms(query, own)[("image", str(copy))]
        encoded = searcher.encode_terms(query)[("image", str(copy))]
    assert np.array_equal(looked_up, stored)  # the catalogue's float16 vector, exactly
    assert not np.array_equal(encoded, stored) and float(encoded @ stored) > 0.99


def test_a_loaded_index_is_kept_while_current_and_loaded_again_when_not(tmp_path, toy_model):
    from lookalike.core.library import open_vectors

    make_photos(tmp_path / "lib", 6)
    places = Places.under(tmp_path / "data")
    with indexed_library(places, tmp_path / "lib", toy_model) as (library, model):
        first = library.loaded_vectors(model)
        assert first is not None and first.matches_file

        library.index(model)  # nothing changed: the index in memory goes on
        assert library.loaded_vectors(model) is first
        assert open_vectors(places, model, first) is first  # as the window asks

        with Library(places) as other:  # another process adds photos and saves
            make_photo(tmp_path / "lib" / "new.jpg", "purple", size=(160, 120))
            assert other.index(other.load_model(toy_model)).encoded == 1
        assert not first.matches_file
        reloaded = open_vectors(places, model, first)
        assert reloaded is not first and len(reloaded) == 7
        library.index(model)
        assert library.loaded_vectors(model) is not first and len(library.vectors(model)) == 7

        # A writer whose index save failed leaves the file as it was but the
        # catalogue changed: the count gives it away.
        current = library.vectors(model)
        assert current.matches_file
        gone = int(current.keys()[0])
        library.catalogue.delete_photos([gone])
        after = open_vectors(places, model, current)
    assert after is not current and gone not in after.keys().tolist()
