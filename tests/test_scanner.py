"""Walking library folders: what is found, what is skipped, and no loops."""

from __future__ import annotations

import os

from conftest import make_photo
from lookalike.core.scanner import is_photo_name, scan_folder


def test_finds_photos_in_nested_folders_and_skips_clutter(tmp_path):
    make_photo(tmp_path / "a.jpg", "red")
    make_photo(tmp_path / "2020" / "summer" / "B.JPEG", "red")
    make_photo(tmp_path / "Ünïcode ✓" / "c.png", "red")
    for clutter in (".git/x.jpg", "@eaDir/x.jpg", "node_modules/x.jpg", "$RECYCLE.BIN/x.jpg"):
        make_photo(tmp_path / clutter, "red")
    make_photo(tmp_path / "._apple-double.jpg", "red")
    (tmp_path / "notes.txt").write_text("not a photo")

    scan = scan_folder(tmp_path)
    found = sorted(os.path.relpath(f.path, tmp_path) for f in scan.files)
    assert found == ["2020/summer/B.JPEG", "a.jpg", "Ünïcode ✓/c.png"]
    assert not scan.problems and not scan.missing
    first = next(f for f in scan.files if f.path.endswith("a.jpg"))
    stat = os.stat(first.path)
    assert (first.size, first.mtime_ns) == (stat.st_size, stat.st_mtime_ns)


def test_symbolic_links_are_followed_once_and_loops_reported(tmp_path):
    make_photo(tmp_path / "real" / "a.jpg", "red")
    os.symlink(tmp_path / "real", tmp_path / "alias")  # the same folder again
    os.symlink(tmp_path, tmp_path / "real" / "up")  # a loop back to the top
    os.symlink("self.jpg", tmp_path / "self.jpg")
    os.symlink(tmp_path / "nowhere.jpg", tmp_path / "dangling.jpg")

    scan = scan_folder(tmp_path)
    assert len(scan.files) == 1
    problems = {os.path.basename(p.path): p.reason for p in scan.problems}
    assert "loops back" in problems["self.jpg"]
    assert "does not exist" in problems["dangling.jpg"]


def test_special_files_named_like_photos_are_problems_and_folders_are_walked(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    make_photo(tmp_path / "album.jpg" / "inside.jpg", "red")
    scan = scan_folder(tmp_path)
    assert [os.path.basename(f.path) for f in scan.files] == ["inside.jpg"]
    assert [os.path.basename(p.path) for p in scan.problems] == ["pipe.jpg"]


def test_a_missing_root_is_reported_not_emptied(tmp_path):
    assert scan_folder(tmp_path / "unplugged").missing
    (tmp_path / "file").write_text("x")
    assert scan_folder(tmp_path / "file").missing


def test_names_with_bytes_that_are_not_utf8(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    with open(raw, "wb") as out:
        out.write(make_photo(tmp_path / "x.jpg", "red").read_bytes())
    paths = [os.fsencode(f.path) for f in scan_folder(tmp_path).files]
    assert raw in paths


def test_photo_names():
    assert is_photo_name("IMG_0001.HEIC") and is_photo_name("x.avif")
    assert not is_photo_name("x.txt") and not is_photo_name("jpg")


def test_folders_tagged_as_caches_are_skipped(tmp_path):
    from lookalike.core.places import Places

    make_photo(tmp_path / "a.jpg", "red")
    places = Places.under(tmp_path / "lookalike")
    places.create()
    make_photo(places.thumbnails / "ab" / "thumb.jpg", "red")
    make_photo(places.data / "stray.jpg", "red")
    assert [os.path.basename(f.path) for f in scan_folder(tmp_path).files] == ["a.jpg"]
