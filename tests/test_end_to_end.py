"""The whole product through its real command line: index a generated library,
search it by words and by photo, then change the library and index again."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_photo, thumbnail_of
from lookalike.core.catalogue import Catalogue

# name -> (colour, extra options); the file's suffix picks its format.
LIBRARY = {
    "red-1.jpg": "red",
    "red-2.png": "red",
    "sub/deep/red-3.webp": "red",
    "Été/rouge café.jpg": "red",
    "blue-1.jpg": "blue",
    "blue-2.tiff": "blue",
    "blue-3.heic": "blue",
    "green-1.bmp": "green",
    "green-2.gif": "green",
    "green-3.avif": "green",
    "yellow-1.jpg": "yellow",
    "yellow-2.jpeg": "yellow",
    # Never indexed: hidden and system folders.
    ".hidden/red-hidden.jpg": "red",
    "@eaDir/red-nas-thumb.jpg": "red",
    "node_modules/red-package.jpg": "red",
}
INDEXED = [name for name in LIBRARY if not name.startswith((".", "@", "node_modules"))]
ROTATED = "yellow-1.jpg"  # stored landscape, EXIF says to show it portrait


def make_library(root: Path) -> Path:
    for name, colour in LIBRARY.items():
        orientation = 6 if name == ROTATED else None
        make_photo(root / name, colour, orientation=orientation)
    return root


def ranked(cli_output: str) -> list[str]:
    return [row["path"] for row in json.loads(cli_output)]


def names(paths: list[str], root: Path) -> list[str]:
    return [os.path.relpath(p, root) for p in paths]


def encoded_count(stderr: str) -> int:
    match = re.search(r"(\d+) encoded", stderr)
    assert match, stderr
    return int(match[1])


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return make_library(tmp_path / "Pictures")


def test_index_then_search_by_text_and_image(cli, toy_model, library, tmp_path):
    indexed = cli("index", "--model", toy_model, library)
    assert indexed.code == 0, indexed.err
    assert encoded_count(indexed.err) == len(INDEXED)

    found = cli("search", "red", "--json", "--limit", "4")
    assert found.code == 0, found.err
    top = names(ranked(found.out), library)
    assert sorted(top) == sorted(n for n in INDEXED if LIBRARY[n] == "red")
    assert all(os.path.isabs(p) for p in ranked(found.out))

    query = make_photo(tmp_path / "elsewhere" / "sky.png", "blue", seed=99)
    by_image = cli("search", "--image", query, "--json", "--limit", "3")
    assert by_image.code == 0, by_image.err
    assert {LIBRARY[n] for n in names(ranked(by_image.out), library)} == {"blue"}

    scores = [row["score"] for row in json.loads(by_image.out)]
    assert scores == sorted(scores, reverse=True)
    assert 0.9 < scores[0] <= 1.0 + 1e-6


def test_minus_terms_and_weights_change_the_ranking(cli, toy_model, library):
    cli("index", "--model", toy_model, library)

    both = names(ranked(cli("search", "red yellow", "--json", "--limit", "6").out), library)
    assert {LIBRARY[n] for n in both} == {"red", "yellow"}

    without_yellow = cli("search", "red yellow", "--not", "yellow", "--json", "--limit", "4")
    assert {LIBRARY[n] for n in names(ranked(without_yellow.out), library)} == {"red"}

    weighted = cli("search", "3:yellow", "--image", library / "red-1.jpg", "--json")
    assert LIBRARY[names(ranked(weighted.out), library)[0]] == "yellow"


def test_photos_are_read_upright_and_thumbnailed(cli, toy_model, library):
    cli("index", "--model", toy_model, library)
    data_dir = cli.data_dir

    upright = thumbnail_of(data_dir, library / ROTATED)
    assert upright.height > upright.width  # stored 320x240, shown 240x320
    plain = thumbnail_of(data_dir, library / "red-1.jpg")
    assert plain.width > plain.height

    with Catalogue(data_dir / "data" / "catalogue.sqlite3") as catalogue:
        row = catalogue.db.execute(
            "SELECT width, height FROM photos WHERE path = ?", (os.fsencode(library / ROTATED),)
        ).fetchone()
    assert tuple(row) == (240, 320)


def test_the_catalogue_follows_changes_to_the_library(cli, toy_model, library):
    cli("index", "--model", toy_model, library)
    catalogue_path = cli.data_dir / "data" / "catalogue.sqlite3"
    with Catalogue(catalogue_path) as catalogue:
        moved_id = catalogue.photo_at(str(library / "sub/deep/red-3.webp")).id
        edited_id = catalogue.photo_at(str(library / "red-1.jpg")).id

    (library / "blue-1.jpg").unlink()
    make_photo(library / "new" / "purple-1.jpg", "purple")
    make_photo(library / "red-1.jpg", "green", seed=5)  # edited in place
    os.utime(library / "red-1.jpg", ns=(1, 1_000_000_000))
    (library / "moved").mkdir()
    shutil.move(library / "sub/deep/red-3.webp", library / "moved" / "red-3.webp")
    shutil.copy(library / "blue-2.tiff", library / "new" / "blue-2 copy.tiff")

    again = cli("index", library)
    assert again.code == 0, again.err
    assert encoded_count(again.err) == 2, again.err  # the new photo and the edited one
    assert "1 moved" in again.err and "1 removed" in again.err and "1 reused" in again.err

    with Catalogue(catalogue_path) as catalogue:
        moved = catalogue.photo_at(str(library / "moved" / "red-3.webp"))
        assert moved is not None and moved.id == moved_id
        assert catalogue.photo_at(str(library / "sub/deep/red-3.webp")) is None
        assert catalogue.photo_at(str(library / "blue-1.jpg")) is None
        assert catalogue.photo_at(str(library / "red-1.jpg")).id == edited_id

    purple = names(ranked(cli("search", "purple", "--json", "--limit", "1").out), library)
    assert purple == ["new/purple-1.jpg"]
    green = names(ranked(cli("search", "green", "--json", "--limit", "4").out), library)
    assert "red-1.jpg" in green
    blue = names(ranked(cli("search", "blue", "--json", "--limit", "3").out), library)
    assert sorted(blue) == ["blue-2.tiff", "blue-3.heic", "new/blue-2 copy.tiff"]
    red = names(ranked(cli("search", "red", "--json", "--limit", "3").out), library)
    assert "moved/red-3.webp" in red and "red-1.jpg" not in red

    status = json.loads(cli("status", "--json").out)
    assert status["photos"] == status["indexed"] == len(INDEXED) + 1
    assert status["pending"] == 0 and status["failed"] == 0


def test_unchanged_library_encodes_nothing(cli, toy_model, library):
    cli("index", "--model", toy_model, library)
    again = cli("index")
    assert again.code == 0
    assert encoded_count(again.err) == 0
    assert f"{len(INDEXED)} photos found" in again.err


def test_bad_files_are_reported_and_skipped(cli, toy_model, tmp_path):
    root = tmp_path / "Mixed"
    good = [make_photo(root / f"red-{i}.jpg", "red") for i in range(3)]
    good.append(make_photo(root / "folder.jpg" / "inside.png", "green"))
    bad = write_bad_files(root)

    result = cli("index", "--model", toy_model, root)
    assert result.code == 0, result.err

    status = json.loads(cli("status", "--json").out)
    reasons = {os.path.relpath(f["path"], root): f["reason"] for f in status["failures"]}
    assert set(reasons) == set(bad)
    for name, words in bad.items():
        assert words in reasons[name], (name, reasons[name])
    assert status["indexed"] == len(good)

    plain = cli("status")
    assert "empty.jpg" in plain.out and "the file is empty" in plain.out


def write_bad_files(root: Path) -> dict[str, str]:
    """Files named like photos that are not; each with words its reason must contain."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "empty.jpg").write_bytes(b"")
    whole = make_photo(root / "whole.jpg", "blue", size=(640, 480)).read_bytes()
    (root / "whole.jpg").unlink()
    (root / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (root / "notes.jpg").write_text("shopping list: eggs, milk\n")
    (root / "bomb.png").write_bytes(png_header_claiming(60_000, 60_000))
    os.mkfifo(root / "pipe.jpg")
    os.symlink("/dev/null", root / "device.jpg")
    os.symlink("loop.jpg", root / "loop.jpg")
    os.symlink(root, root / "folder.jpg" / "back-to-top")  # a folder loop: must not recurse
    return {
        "empty.jpg": "empty",
        "truncated.jpg": "damaged or cut short",
        "notes.jpg": "not an image",
        "bomb.png": "too large",
        "pipe.jpg": "not a regular file",
        "device.jpg": "not a regular file",
        "loop.jpg": "loops back",
    }


def png_header_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and header for a huge image, with almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_a_fixed_batch_model_indexes_and_searches(cli, fixed_batch_model, library):
    indexed = cli("index", "--model", fixed_batch_model, library)
    assert indexed.code == 0, indexed.err
    assert encoded_count(indexed.err) == len(INDEXED)
    top = names(ranked(cli("search", "green", "--json", "--limit", "3").out), library)
    assert {LIBRARY[n] for n in top} == {"green"}


def test_without_a_model_the_commands_say_how_to_get_one(cli, library):
    result = cli("index", library)
    assert result.code == 3
    assert "--model DIR" in result.err

    result = cli("search", "red")
    assert result.code == 3

    status = cli("status")
    assert status.code == 0 and "none" in status.out


def test_a_damaged_or_missing_vector_index_is_rebuilt(cli, toy_model, library):
    cli("index", "--model", toy_model, library)
    index_file = next((cli.data_dir / "data" / "indexes").glob("*.usearch"))
    expected = cli("search", "blue", "--json", "--limit", "3").out

    index_file.write_bytes(index_file.read_bytes()[:100])
    assert cli("search", "blue", "--json", "--limit", "3").out == expected

    index_file.unlink()
    assert cli("search", "blue", "--json", "--limit", "3").out == expected
    assert index_file.exists()  # rebuilt once, and saved while nobody else writes


def test_bad_queries_get_clear_messages(cli, toy_model, library, tmp_path):
    cli("index", "--model", toy_model, library)

    missing = cli("search", "--image", tmp_path / "nowhere.jpg")
    assert missing.code == 1 and "nowhere.jpg" in missing.err

    empty = cli("search")
    assert empty.code == 2 and "give some words" in empty.err

    cancelled = cli("search", "red", "--not", "red")
    assert cancelled.code == 1 and "cancel each other out" in cancelled.err


def test_the_installed_command_runs(toy_model, library, tmp_path):
    """The real `lookalike` console script, as a person would run it."""
    exe = Path(sys.executable).with_name("lookalike")
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONWARNINGS": "error"}

    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("lookalike ")

    subprocess.run(
        [exe, "index", "--data-dir", data, "--model", toy_model, library],
        check=True, capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    found = subprocess.run(
        [exe, "search", "--data-dir", data, "--json", "--limit", "2", "yellow"],
        check=True, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert {LIBRARY[n] for n in names(ranked(found.stdout), library)} == {"yellow"}
