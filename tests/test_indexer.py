"""The indexer through the library façade: progress, cancelling and resuming."""

from __future__ import annotations

import threading

from conftest import make_photo
from lookalike.core.library import Library
from lookalike.core.places import Places


def make_photos(root, count):
    colours = ["red", "green", "blue", "yellow"]
    return [
        make_photo(root / f"p{i:03}.jpg", colours[i % 4], size=(160, 120)) for i in range(count)
    ]


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
