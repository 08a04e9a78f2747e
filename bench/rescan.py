"""How long re-checking an unchanged library takes, at 100,000 photos.

The library is 100,000 small files in 100 folders (the file contents do not
matter, only that each is a file the scan has to look at), and a catalogue
that already holds every one of them with an embedding of its current
content. An indexing run then has nothing to encode: its whole cost is the
scan, the comparison with the catalogue and the search for pending photos.
The baseline is a bare walk that stats every file, the least any rescan does.

    python bench/rescan.py [--count 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))

import toy_clip
from common import CACHE, machine
from lookalike.core.catalogue import Catalogue, encode_path
from lookalike.core.clip import ClipModel
from lookalike.core.library import Library
from lookalike.core.places import Places

PER_FOLDER = 1000


def make_tree(count: int) -> Path:
    root = CACHE / f"rescan-{count}"
    done = root / ".complete"
    if done.exists():
        return root
    for index in range(count):
        folder = root / f"folder-{index // PER_FOLDER:03d}"
        if index % PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{index:06d}.jpg").write_bytes(b"photo %d" % index)
    done.write_text("")
    return root


def fill_catalogue(places: Places, root: Path, model: ClipModel) -> int:
    """Every file of the tree, recorded as indexed with its current content."""
    rng = np.random.default_rng(0)
    with Catalogue(places.catalogue) as catalogue:
        folder = catalogue.add_folder(root)
        model_id = catalogue.model_id(model.key, model.dim)
        rows = []
        for dirpath, _, names in os.walk(root):
            for name in names:
                if name.startswith("."):
                    continue
                path = os.path.join(dirpath, name)
                info = os.stat(path)
                with open(path, "rb") as stream:
                    content = hashlib.blake2b(stream.read(), digest_size=16).digest()
                rows.append((path, info.st_size, info.st_mtime_ns, content))
        with catalogue.transaction() as db:
            db.executemany(
                "INSERT INTO photos(folder_id, path, size, mtime_ns, hash) VALUES (?, ?, ?, ?, ?)",
                ((folder.id, encode_path(p), s, m, h) for p, s, m, h in rows),
            )
            vectors = rng.standard_normal((len(rows), model.dim)).astype(np.float16)
            db.executemany(
                "INSERT INTO embeddings(photo_id, model_id, hash, vector) "
                "SELECT id, ?, hash, ? FROM photos WHERE path = ?",
                (
                    (model_id, vectors[i].tobytes(), encode_path(p))
                    for i, (p, *_) in enumerate(rows)
                ),
            )
        return len(rows)


def bare_walk(root: Path) -> int:
    seen = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            os.stat(os.path.join(dirpath, name))
            seen += 1
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    report: dict[str, object] = {"benchmark": "rescan", "machine": machine()}
    root = make_tree(args.count)
    with tempfile.TemporaryDirectory(prefix="rescan-") as scratch:
        model = ClipModel(toy_clip.build(Path(scratch) / "toy"))
        places = Places.under(Path(scratch) / "data")
        places.create()
        filled = fill_catalogue(places, root, model)

        walks, rescans = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            bare_walk(root)
            walks.append(time.perf_counter() - started)

            with Library(places) as library:
                started = time.perf_counter()
                result = library.index(model)
                rescans.append(time.perf_counter() - started)
            assert result.encoded == 0 and result.scanned == filled, result

    walk, rescan = statistics.median(walks), statistics.median(rescans)
    report.update(
        photos=filled,
        bare_walk_s=round(walk, 3),
        rescan_s=round(rescan, 3),
        rescan_over_walk=round(rescan / walk, 2),
        target_s=5.0,
        rounds={"walk": [round(w, 3) for w in walks], "rescan": [round(r, 3) for r in rescans]},
        load_average_at_end=[round(v, 2) for v in os.getloadavg()],
        command=f"python bench/rescan.py --count {args.count}",
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
