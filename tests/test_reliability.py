"""Crashes, full disks, concurrent processes, and photos that must never change."""

from __future__ import annotations

import ast
import errno
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from usearch.index import Index

from conftest import REPO, make_photo
from lookalike.core import indexer as indexer_module
from lookalike.core.catalogue import Catalogue
from lookalike.core.library import Library
from lookalike.core.lock import LibraryBusyError
from lookalike.core.places import Places

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]


def make_library(root: Path, count: int, size: tuple[int, int] = (320, 240)) -> list[Path]:
    return [
        make_photo(root / f"set{i % 5}" / f"photo-{i:04}.jpg", COLOURS[i % 6], size=size, seed=i)
        for i in range(count)
    ]


def committed(data: Path) -> dict[int, bytes]:
    """Photo id to content hash, for every photo whose embedding is committed."""
    with Catalogue(data / "data" / "catalogue.sqlite3") as catalogue:
        assert catalogue.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = catalogue.db.execute(
            "SELECT p.id, p.hash FROM photos p JOIN embeddings e "
            "ON e.photo_id = p.id AND e.hash = p.hash"
        )
        return {int(i): bytes(h) for i, h in rows}


def lookalike(*args: str | Path) -> list[str]:
    return [str(Path(sys.executable).with_name("lookalike")), *map(str, args)]


def embedding_count(data: Path) -> int:
    path = data / "data" / "catalogue.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT count(*) FROM embeddings").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is still being created
        return 0
    finally:
        db.close()


def kill_after_next_commit(run: subprocess.Popen[bytes], data: Path, extra: float) -> None:
    """SIGKILL the indexer a moment after it has committed something new."""
    start = embedding_count(data)
    deadline = time.monotonic() + 60
    while run.poll() is None and time.monotonic() < deadline:
        if embedding_count(data) > start:
            time.sleep(extra)
            break
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)


@pytest.mark.slow
def test_killing_the_indexer_at_random_moments_loses_nothing(tmp_path, toy_model):
    photos = make_library(tmp_path / "lib", 400)
    data = tmp_path / "data"
    with Library(Places.under(data)) as library:
        library.use_model(toy_model)
    chance = random.Random(20261203)

    before: dict[int, bytes] = {}
    landed = 0
    for _ in range(20):
        run = subprocess.Popen(
            lookalike("index", "--data-dir", data, "--workers", "2", tmp_path / "lib"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        kill_after_next_commit(run, data, extra=chance.uniform(0.0, 0.25))

        after = committed(data)
        lost = {i: h for i, h in before.items() if after.get(i) != h}
        assert not lost, f"{len(lost)} committed photos lost"
        landed += len(before) < len(after) < len(photos)
        before = after

        with Library(Places.under(data)) as library:  # the index opens or is rebuilt
            assert len(library.vectors(library.load_model())) == len(after)

    assert landed >= 10, "too few kills landed while photos were being indexed"
    with Library(Places.under(data)) as library:
        report = library.index(library.load_model())
        assert report.encoded == len(photos) - len(before)  # committed work is not redone
        assert library.status(library.load_model()).counts.indexed == len(photos)
        assert not list((data / "data" / "indexes").glob(".*.tmp"))


def test_indexing_and_searching_never_touch_the_photos(tmp_path, toy_model, cli):
    photos = make_library(tmp_path / "lib", 12)
    make_photo(tmp_path / "lib" / "turned.jpg", "red", orientation=6)
    photos.append(tmp_path / "lib" / "turned.jpg")

    def fingerprint() -> dict[Path, tuple[int, str]]:
        return {
            p: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in photos
        }

    before = fingerprint()
    assert cli("index", "--model", toy_model, tmp_path / "lib").code == 0
    assert cli("search", "red").code == 0
    assert cli("search", "--image", photos[0], "--not", "blue").code == 0
    assert cli("index").code == 0
    assert fingerprint() == before


def test_a_second_writer_is_turned_away_with_a_clear_message(tmp_path, toy_model, cli):
    make_library(tmp_path / "lib", 4)
    assert cli("index", "--model", toy_model, tmp_path / "lib").code == 0
    with Library(Places.under(cli.data_dir)) as holder:
        holder.writer.acquire()
        second = cli("index")
        assert second.code == 1
        assert "another Lookalike" in second.err and str(os.getpid()) in second.err
        assert cli("search", "red").code == 0  # readers are never turned away
        with pytest.raises(LibraryBusyError), Library(Places.under(cli.data_dir)) as other:
            other.index(other.load_model())
    assert cli("index").code == 0  # released with its holder


def test_searching_while_another_process_indexes(tmp_path, toy_model):
    photos = make_library(tmp_path / "lib", 200, size=(480, 360))
    data = tmp_path / "data"
    with Library(Places.under(data)) as library:
        library.use_model(toy_model)
    run = subprocess.Popen(
        lookalike("index", "--data-dir", data, tmp_path / "lib"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    searches = 0
    try:
        while run.poll() is None or searches == 0:
            found = subprocess.run(
                lookalike("search", "--data-dir", data, "--json", "--limit", "50", "red"),
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert found.returncode in (0, 3), found.stderr
            results = json.loads(found.stdout or "[]")
            scores = [r["score"] for r in results]
            assert scores == sorted(scores, reverse=True)
            assert all(Path(r["path"]).is_file() for r in results)
            searches += 1
    finally:
        _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert searches >= 2
    red = {str(p) for p in photos if int(p.stem.split("-")[1]) % 6 == 0}
    final = subprocess.run(
        lookalike("search", "--data-dir", data, "--json", "--limit", str(len(red)), "red"),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert {r["path"] for r in json.loads(final.stdout)} == red


def test_a_failed_index_save_costs_nothing_already_committed(tmp_path, toy_model, monkeypatch):
    make_library(tmp_path / "lib", 10)
    places = Places.under(tmp_path / "data")

    def disk_full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with Library(places) as library:
        library.add_folders([tmp_path / "lib"])
        model = library.load_model(toy_model)
        library.index(model)
        old_index = next(places.indexes.glob("*.usearch")).read_bytes()

        for i in range(3):
            make_photo(tmp_path / "lib" / "more" / f"{i}.jpg", "purple", seed=1000 + i)
        monkeypatch.setattr(Index, "save", disk_full)
        report = library.index(model)
        assert report.encoded == 3 and not report.index_saved
        monkeypatch.undo()

    assert next(places.indexes.glob("*.usearch")).read_bytes() == old_index  # untouched
    assert not list(places.indexes.glob(".*.tmp"))
    with Library(places) as library:
        model = library.load_model()
        assert len(library.vectors(model)) == 13  # rebuilt from the catalogue


def _can_mount_tmpfs(where: Path) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    ok = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True
    )
    return ok.returncode == 0


def test_a_full_disk_stops_indexing_with_a_message_and_loses_nothing(tmp_path, toy_model):
    data = tmp_path / "small-disk"
    if os.geteuid() != 0 or not _can_mount_tmpfs(data):
        pytest.skip("needs root and tmpfs to make a small disk")
    try:
        make_library(tmp_path / "lib", 120, size=(640, 480))  # thumbnails alone need 2 MB
        first = subprocess.run(
            lookalike("index", "--data-dir", data, "--model", toy_model, tmp_path / "lib"),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert first.returncode == 1, first.stderr
        assert "No space left on device" in first.stderr or "full" in first.stderr
        assert "Traceback" not in first.stderr
        kept = committed(data)

        subprocess.run(["mount", "-o", "remount,size=64m", str(data)], check=True)
        second = subprocess.run(
            lookalike("index", "--data-dir", data, tmp_path / "lib"),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert second.returncode == 0, second.stderr
        after = committed(data)
        assert all(after.get(i) == h for i, h in kept.items())
        assert len(after) == 120
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def test_files_that_vanish_or_change_between_scan_and_decode(tmp_path, toy_model, monkeypatch):
    photos = make_library(tmp_path / "lib", 8)
    real_scan = indexer_module.scan_folder

    def scan_then_disturb(root):
        found = real_scan(root)
        photos[0].unlink()
        photos[1].unlink()
        os.mkfifo(photos[1])
        photos[2].write_bytes(b"no longer a photo")
        return found

    monkeypatch.setattr(indexer_module, "scan_folder", scan_then_disturb)
    with Library(Places.under(tmp_path / "data")) as library:
        library.add_folders([tmp_path / "lib"])
        report = library.index(library.load_model(toy_model))
    reasons = {Path(path).name: reason for path, reason in report.failed}
    assert "disappeared" in reasons[photos[0].name]
    assert "not a regular file" in reasons[photos[1].name]
    assert "not an image" in reasons[photos[2].name]
    assert report.encoded == 5


def test_long_and_undecodable_names(tmp_path, toy_model, cli):
    lib = tmp_path / "lib"
    long_name = ("é" * 123) + ".jpg"  # 250 bytes, near the usual 255-byte limit
    make_photo(lib / long_name, "red")
    raw = os.fsencode(lib) + b"/\xff\xfe-red.jpg"
    with open(raw, "wb") as out:
        out.write(make_photo(tmp_path / "src.jpg", "red", seed=4).read_bytes())
    make_photo(lib / "blue.jpg", "blue")

    assert cli("index", "--model", toy_model, lib).code == 0
    found = json.loads(cli("search", "red", "--json", "--limit", "2").out)
    paths = {os.fsencode(r["path"]) for r in found}
    assert paths == {os.fsencode(lib / long_name), raw}
    plain = subprocess.run(
        lookalike("search", "--data-dir", cli.data_dir, "red", "--limit", "2"),
        capture_output=True, check=True,
    )  # fmt: skip
    assert raw in plain.stdout and os.fsencode(long_name) in plain.stdout


def test_nothing_is_ever_unpickled():
    """Model and index files come from outside; none may be loaded with pickle."""
    risky = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"}
    for source in (REPO / "app").rglob("*.py"):
        tree = ast.parse(source.read_text(), str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                names = {"allow_pickle"} if getattr(node.value, "value", False) else set()
            else:
                continue
            assert not names & (risky | {"allow_pickle"}), f"{source}: {names}"


def test_the_catalogue_survives_a_kill_in_the_middle_of_a_transaction(tmp_path):
    path = tmp_path / "c.sqlite3"
    Catalogue(path).close()
    with subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdout.readline().strip() == "writing"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    with Catalogue(path) as catalogue:
        assert catalogue.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert catalogue.db.execute("SELECT count(*) FROM folders").fetchone()[0] == 1


_SLOW_WRITER = """
import sys, time
from pathlib import Path
from lookalike.core.catalogue import Catalogue
catalogue = Catalogue(Path(sys.argv[1]))
with catalogue.transaction():
    catalogue.add_folder(Path("/committed"))
with catalogue.transaction():
    for i in range(100000):
        catalogue.add_folder(Path(f"/uncommitted/{i}"))
        if i == 1000:
            print("writing", flush=True)
            time.sleep(60)
"""
