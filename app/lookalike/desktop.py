"""Lookalike in the application menu of Linux desktops: `lookalike
--install-desktop-entry` writes a .desktop file and the icons for this user,
pointing at the program that ran it (the bundle's executable, or the
`lookalike` command of the environment Lookalike is installed in)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

APP_ID = "lookalike"
PACKAGE = Path(__file__).resolve().parent

ENTRY = """\
[Desktop Entry]
Type=Application
Version=1.4
Name=Lookalike
GenericName=Photo Organiser
Comment=Find your photos by what they show
Exec={exec}
TryExec={try_exec}
Icon=lookalike
Terminal=false
Categories=Graphics;Photography;Viewer;
Keywords=photo;picture;image;search;similar;lookalike;
StartupNotify=true
StartupWMClass=Lookalike
"""

# Characters that make an argument need quotes in an Exec line, and those that
# need a backslash inside the quotes (the Desktop Entry Specification's lists).
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_ESCAPED_IN_QUOTES = '"`$\\'


def data_home() -> Path:
    """XDG_DATA_HOME, or ~/.local/share when it is unset or not absolute."""
    configured = os.environ.get("XDG_DATA_HOME", "")
    if configured and os.path.isabs(configured):
        return Path(configured)
    return Path.home() / ".local" / "share"


def program() -> list[str]:
    """The command that starts this Lookalike: the frozen executable itself, the
    `lookalike` script beside this interpreter, or the interpreter with -m."""
    if getattr(sys, "frozen", False):
        return [os.path.abspath(sys.executable)]
    beside = Path(sys.executable).parent / APP_ID
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside.absolute())]
    found = shutil.which(APP_ID)
    if found:
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", APP_ID]


def exec_argument(argument: str) -> str:
    """One argument of an Exec line, quoted and escaped as the specification says,
    then escaped once more as any string value of a desktop entry is."""
    if argument and not _RESERVED.intersection(argument):
        quoted = argument
    else:
        inner = "".join("\\" + c if c in _ESCAPED_IN_QUOTES else c for c in argument)
        quoted = f'"{inner}"'
    return quoted.replace("%", "%%").replace("\\", "\\\\")


def desktop_entry(command: list[str]) -> str:
    """The text of lookalike.desktop for a command like `program()`'s."""
    line = " ".join(exec_argument(argument) for argument in command)
    # TryExec is a plain path, not a command line: no quotes, only string escapes.
    return ENTRY.format(exec=line, try_exec=command[0].replace("\\", "\\\\"))


def resources() -> Path | None:
    """The resources folder: inside the bundle when frozen, else in the source
    tree this package was installed from (absent from a plain wheel install)."""
    if getattr(sys, "frozen", False):
        folder = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "resources"
    else:
        folder = PACKAGE.parent.parent / "resources"
    return folder if (folder / "icons").is_dir() else None


def icon_files() -> dict[str, Path]:
    """The icons to install, by hicolor size folder ("scalable", "48x48", ...)."""
    folder = resources()
    if folder is None:
        # The window's own icon, which ships inside the package.
        return {
            "scalable": PACKAGE / "gui" / "icons" / "lookalike.svg",
            "256x256": PACKAGE / "gui" / "icons" / "lookalike.png",
        }
    icons = {"scalable": folder / "icons" / "lookalike.svg"}
    for png in sorted(folder.glob("icons/lookalike-*.png")):
        side = png.stem.removeprefix("lookalike-")
        if side.isdigit():
            icons[f"{side}x{side}"] = png
    return icons


def install_desktop_entry(
    target: Path | None = None, command: list[str] | None = None
) -> list[Path]:
    """Write the desktop entry and icons under `target` (the XDG data folder) and
    return the files written."""
    target = target or data_home()
    written = []
    entry = target / "applications" / f"{APP_ID}.desktop"
    entry.parent.mkdir(parents=True, exist_ok=True)
    temporary = entry.with_suffix(".desktop.tmp")
    temporary.write_text(desktop_entry(command or program()), encoding="utf-8")
    temporary.replace(entry)
    written.append(entry)

    hicolor = target / "icons" / "hicolor"
    for size, source in icon_files().items():
        if not source.is_file():
            continue
        icon = hicolor / size / "apps" / f"{APP_ID}{source.suffix}"
        icon.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, icon)
        written.append(icon)
    _refresh_caches(entry.parent, hicolor)
    return written


def _refresh_caches(applications: Path, hicolor: Path) -> None:
    """Tell menus and icon themes that something changed, where the tools exist;
    desktops that watch the folders notice without them."""
    os.utime(hicolor)
    for command in (
        ["update-desktop-database", "-q", str(applications)],
        ["gtk-update-icon-cache", "-q", "-t", "-f", str(hicolor)],
    ):
        if shutil.which(command[0]):
            subprocess.run(command, capture_output=True, timeout=30, check=False)


def install_for_user() -> int:
    """`lookalike --install-desktop-entry`: install, and say what was written."""
    if sys.platform == "darwin" or sys.platform == "win32":
        print(
            "lookalike: --install-desktop-entry is for Linux desktops; on macOS drag "
            "Lookalike.app to Applications, on Windows pin Lookalike.exe to Start.",
            file=sys.stderr,
        )
        return 2
    try:
        written = install_desktop_entry()
    except OSError as error:
        print(f"lookalike: cannot install the desktop entry: {error}", file=sys.stderr)
        return 1
    print(f"Installed Lookalike in the application menu; it starts {shlex.join(program())}")
    for path in written:
        print(f"  {path}")
    print("Remove those files to take it out again.")
    return 0
