"""Live watching of library folders, with its fallbacks."""

from __future__ import annotations

import errno
import queue
import shutil
import time
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver

from conftest import make_photo
from lookalike.core.watcher import LibraryWatcher


def collect() -> tuple[queue.Queue[list[Path]], LibraryWatcher]:
    calls: queue.Queue[list[Path]] = queue.Queue()
    return calls, LibraryWatcher(calls.put, debounce_s=0.3, poll_s=0.4, offline_poll_s=0.2)


def quiet(calls: queue.Queue[list[Path]], seconds: float = 0.8) -> bool:
    try:
        calls.get(timeout=seconds)
    except queue.Empty:
        return True
    return False


def test_a_burst_of_changes_is_reported_once(tmp_path):
    library = tmp_path / "Pictures"
    library.mkdir()
    calls, watcher = collect()
    watcher.start([library])
    try:
        assert watcher.live == [library]
        for i in range(5):
            make_photo(library / "new" / f"{i}.jpg", "red")
        assert calls.get(timeout=10) == [library]
        assert quiet(calls)

        (library / "notes.txt").write_text("not a photo")
        (library / ".hidden").mkdir()
        make_photo(library / ".hidden" / "x.jpg", "red")
        assert quiet(calls)

        shutil.move(library / "new" / "0.jpg", library / "moved.jpg")
        assert calls.get(timeout=10) == [library]
    finally:
        watcher.stop()


def test_an_offline_folder_is_reported_when_it_comes_back(tmp_path):
    drive = tmp_path / "usb"
    calls, watcher = collect()
    watcher.start([drive])
    try:
        assert watcher.offline == [drive]
        drive.mkdir()
        assert calls.get(timeout=10) == [drive]
        time.sleep(0.3)
        assert watcher.live == [drive]
        make_photo(drive / "a.jpg", "blue")
        assert calls.get(timeout=10) == [drive]
    finally:
        watcher.stop()


def test_when_the_watch_limit_is_reached_folders_are_polled(tmp_path, monkeypatch):
    library = tmp_path / "Pictures"
    library.mkdir()

    def limit_reached(*args, **kwargs):
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(BaseObserver, "schedule", limit_reached)
    calls, watcher = collect()
    watcher.start([library])
    try:
        assert watcher.polled == [library] and watcher.live == []
        assert calls.get(timeout=10) == [library]  # the timer stands in for events
    finally:
        watcher.stop()


@pytest.mark.parametrize("stop_early", [True, False])
def test_stopping_leaves_no_thread_behind(tmp_path, stop_early):
    import threading

    library = tmp_path / "Pictures"
    library.mkdir()
    before = set(threading.enumerate())
    calls, watcher = collect()
    watcher.start([library])
    if not stop_early:
        make_photo(library / "a.jpg", "red")
        calls.get(timeout=10)
    watcher.stop()
    time.sleep(0.1)
    assert set(threading.enumerate()) - before == set()
