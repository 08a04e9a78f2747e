"""`lookalike --install-desktop-entry`: the .desktop file and icons it writes,
where it writes them, and the command their Exec line starts."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO
from lookalike import desktop
from lookalike.cli import main

SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def entry_values(text: str) -> dict[str, str]:
    lines = text.splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line)


def test_installs_the_entry_and_icons_in_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_home = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))

    for _ in range(2):  # installing again replaces the files
        assert main(["--install-desktop-entry"]) == 0

    entry = entry_values((data_home / "applications" / "lookalike.desktop").read_text())
    assert entry["Name"] == "Lookalike"
    assert entry["Icon"] == "lookalike"
    assert entry["Categories"] == "Graphics;Photography;Viewer;"
    command = Path(entry["Exec"])
    assert command.is_absolute() and command.is_file()
    assert command == Path(desktop.program()[0])

    hicolor = data_home / "icons" / "hicolor"
    assert (hicolor / "scalable" / "apps" / "lookalike.svg").read_text().startswith("<svg")
    for side in SIZES:
        with Image.open(hicolor / f"{side}x{side}" / "apps" / "lookalike.png") as icon:
            assert icon.size == (side, side)
    assert str(data_home / "applications" / "lookalike.desktop") in capsys.readouterr().out
    assert not list(data_home.rglob("*.tmp"))


@pytest.mark.parametrize("setting", [None, "relative/path"])
def test_without_an_absolute_xdg_data_home_it_uses_local_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None
) -> None:
    if setting is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", setting)
    monkeypatch.chdir(tmp_path)

    written = desktop.install_desktop_entry(command=["/opt/lookalike/Lookalike"])

    local_share = Path.home() / ".local" / "share"
    assert written[0] == local_share / "applications" / "lookalike.desktop"
    assert all(path.is_relative_to(local_share) for path in written)
    assert not (tmp_path / "relative").exists()


def test_exec_line_quotes_what_the_specification_reserves() -> None:
    plain = entry_values(desktop.desktop_entry(["/opt/lookalike/Lookalike"]))
    assert plain["Exec"] == plain["TryExec"] == "/opt/lookalike/Lookalike"

    spaced = entry_values(desktop.desktop_entry(["/home/me/My Apps/100% $look", "-m", "x"]))
    # Quoted for the Exec rules (\$), then each backslash doubled for the string rules.
    assert spaced["Exec"] == '"/home/me/My Apps/100%% \\\\$look" -m x'
    assert spaced["TryExec"] == "/home/me/My Apps/100% $look"


def test_a_frozen_app_points_at_its_own_executable_and_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "Lookalike"
    inside = bundle / "_internal"
    shutil.copytree(REPO / "resources", inside / "resources")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(inside), raising=False)
    monkeypatch.setattr(sys, "executable", str(bundle / "Lookalike"))

    assert desktop.program() == [str(bundle / "Lookalike")]
    assert desktop.resources() == inside / "resources"
    written = desktop.install_desktop_entry(tmp_path / "share")
    entry = entry_values(written[0].read_text())
    assert entry["Exec"] == str(bundle / "Lookalike")


def test_without_the_resources_folder_the_window_icon_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desktop, "resources", lambda: None)

    written = desktop.install_desktop_entry(tmp_path / "share", ["lookalike"])

    names = {path.relative_to(tmp_path / "share").as_posix() for path in written}
    assert "icons/hicolor/scalable/apps/lookalike.svg" in names


def test_the_shipped_desktop_file_and_icons_are_current() -> None:
    """resources/ holds what packagers install: the entry for a `lookalike` on
    PATH, and the icons packaging/render_icons.py draws from the window's icon."""
    shipped = (REPO / "resources" / "lookalike.desktop").read_text()
    assert shipped == desktop.desktop_entry(["lookalike"])
    for side in SIZES:
        with Image.open(REPO / "resources" / "icons" / f"lookalike-{side}.png") as icon:
            assert icon.size == (side, side)
            assert icon.mode == "RGBA"
