"""The SQLite catalogue: schema versions, WAL, and what it stores."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from lookalike.core.catalogue import MIGRATIONS, Catalogue, CatalogueError, PhotoDetails


def test_a_new_catalogue_is_migrated_to_the_latest_schema_in_wal_mode(tmp_path):
    with Catalogue(tmp_path / "c.sqlite3") as catalogue:
        assert catalogue.version == len(MIGRATIONS)
        assert catalogue.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert catalogue.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Catalogue(tmp_path / "c.sqlite3") as again:  # opening twice migrates nothing
        assert again.version == len(MIGRATIONS)


def test_a_catalogue_from_a_newer_app_is_refused(tmp_path):
    path = tmp_path / "c.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(CatalogueError, match="newer Lookalike"):
        Catalogue(path)


def test_a_file_that_is_not_a_catalogue_is_refused(tmp_path):
    path = tmp_path / "c.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CatalogueError, match="cannot open"):
        Catalogue(path)


def test_photos_embeddings_and_failures_round_trip(tmp_path):
    odd_name = os.fsdecode(b"/photos/caf\xe9 \xff.jpg")  # not valid UTF-8
    with Catalogue(tmp_path / "c.sqlite3") as catalogue:
        folder = catalogue.add_folder(tmp_path)
        model = catalogue.model_id("toy-1", 4)
        photo_id = catalogue.add_photo(folder.id, odd_name, 10, 20)
        assert catalogue.photo_at(odd_name).id == photo_id
        assert [p.id for p in catalogue.pending(model)] == [photo_id]

        vector = np.array([0.5, 0.5, 0.5, 0.5], np.float32)
        details = PhotoDetails(b"h" * 16, 640, 480, "2020-01-02T03:04:05")
        catalogue.store_embedding(model, photo_id, details, vector)
        assert catalogue.pending(model) == []
        np.testing.assert_allclose(catalogue.embedding(model, photo_id), vector)
        assert catalogue.known_hashes(model) == {b"h" * 16: photo_id}
        assert catalogue.counts(model).indexed == 1

        catalogue.mark_changed(photo_id, 11, 21)  # edited: needs encoding again
        assert [p.id for p in catalogue.pending(model)] == [photo_id]

        catalogue.record_failure(folder.id, odd_name, "damaged", 11, 21)
        assert catalogue.pending(model) == []  # failed at this size and time: not retried
        assert catalogue.failures()[0].path == odd_name

        catalogue.mark_changed(photo_id, 12, 22)
        assert [p.id for p in catalogue.pending(model)] == [photo_id]


def test_removing_a_folder_forgets_its_photos(tmp_path):
    with Catalogue(tmp_path / "c.sqlite3") as catalogue:
        folder = catalogue.add_folder(tmp_path / "a")
        model = catalogue.model_id("toy-1", 2)
        photo_id = catalogue.add_photo(folder.id, str(tmp_path / "a" / "x.jpg"), 1, 1)
        details = PhotoDetails(b"x" * 16, 1, 1, None)
        catalogue.store_embedding(model, photo_id, details, np.ones(2, np.float32))
        assert catalogue.remove_folder(tmp_path / "a")
        assert catalogue.counts(model).photos == 0
        assert len(catalogue.embedding_ids(model)) == 0


def test_a_model_cannot_change_its_embedding_size(tmp_path):
    with Catalogue(tmp_path / "c.sqlite3") as catalogue:
        catalogue.model_id("m", 4)
        with pytest.raises(CatalogueError, match="embedding size"):
            catalogue.model_id("m", 8)


def test_a_failed_transaction_changes_nothing(tmp_path):
    with Catalogue(tmp_path / "c.sqlite3") as catalogue:
        folder = catalogue.add_folder(tmp_path)
        with pytest.raises(RuntimeError), catalogue.transaction():
            catalogue.add_photo(folder.id, "/x.jpg", 1, 1)
            raise RuntimeError("interrupted")
        assert catalogue.photo_at("/x.jpg") is None


def test_connections_opening_a_new_catalogue_together_migrate_it_once(tmp_path):
    import threading

    # The race (who switches a new file to WAL first) is lost only now and
    # then, so it is run on many new files.
    for attempt in range(150):
        path = tmp_path / f"c{attempt}.sqlite3"
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def open_it(path=path, errors=errors, start=start) -> None:
            start.wait()
            try:
                Catalogue(path).close()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=open_it) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with Catalogue(path) as catalogue:
            assert catalogue.version == len(MIGRATIONS)
