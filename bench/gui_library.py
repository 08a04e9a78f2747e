"""A large library for the window's benchmarks: N photo rows in a real catalogue,
each with a toy-model embedding and a cached thumbnail, made once under
bench/.cache/gui/ and reused.

The photo files themselves do not exist (their folder is missing, which the
indexer treats as an offline drive), so the catalogue can hold 100,000 photos
in seconds. A few hundred distinct thumbnails are shared between them, the way
the grid would meet them in the cache.
"""

from __future__ import annotations

import io
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CACHE = BENCH / ".cache" / "gui"
sys.path.insert(0, str(ROOT / "models"))
sys.path.insert(0, str(ROOT / "app"))

import toy_clip  # noqa: E402
from lookalike.core.catalogue import Catalogue, PhotoDetails  # noqa: E402
from lookalike.core.clip import ClipModel  # noqa: E402
from lookalike.core.imaging import ThumbnailCache, content_hash  # noqa: E402
from lookalike.core.library import Library  # noqa: E402
from lookalike.core.places import Places  # noqa: E402

log = logging.getLogger("bench")

DISTINCT_THUMBNAILS = 400
# Bump when the library or the toy model changes, so that caches are made again.
VERSION = 2


def toy_model() -> Path:
    folder = CACHE / f"toy-clip-ir{toy_clip.IR_VERSION}"
    if not (folder / "config.json").exists():
        toy_clip.build(folder)
    return folder


def big_library(count: int) -> tuple[Places, Path]:
    """A library of `count` photos indexed with the toy model, and the model."""
    model_dir = toy_model()
    root = CACHE / f"library-v{VERSION}-{count}"
    places = Places.under(root)
    if (root / "ready").exists():
        return places, model_dir
    shutil.rmtree(root, ignore_errors=True)
    log.info("Making a library of %d photos in %s", count, root)
    model = ClipModel(model_dir)
    hashes = _thumbnails(ThumbnailCache(places.thumbnails))
    with Library(places) as library:
        library.use_model(model.folder)
        _rows(library.catalogue, model, count, hashes)
        library.index(model)  # the folder is missing: this only builds the vector index
    (root / "ready").write_text("ok")
    return places, model_dir


def _thumbnails(cache: ThumbnailCache) -> list[bytes]:
    """Distinct JPEG thumbnails in the cache, by content hash."""
    rng = np.random.default_rng(1)
    hashes = []
    for i in range(DISTINCT_THUMBNAILS):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        image = Image.new("RGB", (320, 240) if i % 3 else (240, 320), colour)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=82)
        digest = content_hash(f"photo {i}".encode())
        cache.store(digest, buffer.getvalue())
        hashes.append(digest)
    return hashes


def _rows(catalogue: Catalogue, model: ClipModel, count: int, hashes: list[bytes]) -> None:
    folder = catalogue.add_folder(CACHE / "offline-drive")
    model_id = catalogue.model_id(model.key, model.dim)
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((count, model.dim)).astype(np.float32)
    with catalogue.transaction():
        for i in range(count):
            path = f"{folder.path}/{i // 1000:03d}/photo-{i:06d}.jpg"
            photo_id = catalogue.add_photo(folder.id, path, 3_000_000, 1_600_000_000 + i)
            # Photos share the distinct thumbnails through their content hash.
            digest = hashes[i % len(hashes)]
            details = PhotoDetails(digest, 4000, 3000, None)
            catalogue.store_embedding(model_id, photo_id, details, vectors[i])
