"""Fixtures shared by the whole suite: generated models and photos, and a way to
run the real command line in-process."""

from __future__ import annotations

import io
import os
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "models"))

import toy_clip  # noqa: E402
from lookalike.cli import main  # noqa: E402
from lookalike.core import imaging  # noqa: E402  (registers the HEIF opener)

COLOURS = toy_clip.COLOURS


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CLIP-layout model with a dynamic batch axis."""
    return toy_clip.build(tmp_path_factory.mktemp("models") / "toy-dynamic")


@pytest.fixture(scope="session")
def fixed_batch_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model with its batch axis fixed at 1, like Immich's exports."""
    return toy_clip.build(tmp_path_factory.mktemp("models") / "toy-fixed", fixed_batch=True)


def photo_pixels(
    colour: str | tuple[int, int, int], size: tuple[int, int], seed: int = 0
) -> np.ndarray:
    """A photo of one colour with some grain, so no two photos are identical."""
    rgb = COLOURS[colour] if isinstance(colour, str) else colour
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, 12, (size[1], size[0], 3))
    return np.clip(np.array(rgb) + grain, 0, 255).astype(np.uint8)


def make_photo(
    path: Path,
    colour: str | tuple[int, int, int],
    size: tuple[int, int] = (320, 240),
    seed: int | None = None,
    orientation: int | None = None,
) -> Path:
    """Write a generated photo in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = seed if seed is not None else zlib.crc32(path.name.encode())
    image = Image.fromarray(photo_pixels(colour, size, seed))
    options: dict[str, object] = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        options["quality"] = 90
    if suffix == ".gif":
        image = image.quantize(64)
    image.save(path, **options)
    return path


@pytest.fixture
def photo() -> Callable[..., Path]:
    return make_photo


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `lookalike ARGS...` in this process, on a data folder of its own."""
    data_dir = tmp_path / "lookalike-data"

    def run(*args: str | Path, data: Path | None = None) -> CliResult:
        command, *rest = [str(a) for a in args]
        argv = [command, "--data-dir", str(data or data_dir), *rest]
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    run.data_dir = data_dir  # type: ignore[attr-defined]
    return run


def thumbnail_of(data_dir: Path, photo_path: Path) -> Image.Image:
    """The cached thumbnail of a photo, found by its content hash."""
    content = imaging.content_hash(photo_path.read_bytes())
    cache = imaging.ThumbnailCache(data_dir / "cache" / "thumbnails")
    return Image.open(io.BytesIO(cache.path(content).read_bytes()))


@pytest.fixture(autouse=True)
def _no_user_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the suite may touch the real user's data, cache or log folders."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
