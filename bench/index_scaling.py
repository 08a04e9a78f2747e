"""How indexing time grows with the number of photos: 100, 1,000 and 5,000.

Each size is indexed into a fresh library, and a straight line is fitted to
seconds against photos. A linear cost shows as a good fit (R² near 1) and a
per-photo cost that does not rise with size. The photos are 1600×1200 JPEGs,
so that 5,000 of them stay quick to make; the model is the toy model unless
--model names another, so what is measured is the pipeline around the model.

    python bench/index_scaling.py [--sizes 100 1000 5000] [--model DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))

import toy_clip
from common import CACHE, Stopwatch, machine
from lookalike.core.library import Library
from lookalike.core.places import Places

SIZE = (1600, 1200)


def photo(index: int) -> bytes:
    rng = np.random.default_rng(index)
    base = (rng.random((3, 4, 3)) * 255).astype(np.uint8)
    image = Image.fromarray(base).resize(SIZE, Image.Resampling.BICUBIC)
    grain = rng.normal(0, 6, (SIZE[1], SIZE[0], 3))
    pixels = np.clip(np.asarray(image, np.float32) + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def write(index: int, path: Path) -> None:
    path.write_bytes(photo(index))


def photos(count: int) -> list[Path]:
    folder = CACHE / f"scaling-{SIZE[0]}x{SIZE[1]}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"p{index:05d}.jpg" for index in range(count)]
    missing = [(i, p) for i, p in enumerate(paths) if not p.exists()]
    if missing:
        with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(write, *zip(*missing, strict=True)))
    return paths


def index_once(paths: list[Path], model_dir: Path, scratch: Path) -> dict[str, float]:
    library_dir = scratch / f"library-{len(paths)}"
    library_dir.mkdir()
    for path in paths:
        os.link(path, library_dir / path.name)
    with Library(Places.under(scratch / f"data-{len(paths)}")) as library:
        library.add_folders([library_dir])
        model = library.load_model(model_dir)
        with Stopwatch() as clock:
            report = library.index(model)
    assert report.encoded == len(paths), report
    return {"photos": len(paths), "seconds": round(clock.wall, 3),
            "ms_per_photo": round(1000 * clock.wall / len(paths), 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()

    report: dict[str, object] = {"benchmark": "index_scaling", "machine": machine()}
    every = photos(max(args.sizes))
    with tempfile.TemporaryDirectory(prefix="scaling-") as scratch_name:
        scratch = Path(scratch_name)
        model_dir = args.model or toy_clip.build(scratch / "toy")
        runs = [index_once(every[:size], model_dir, scratch) for size in args.sizes]

    counts = np.array([r["photos"] for r in runs], dtype=np.float64)
    seconds = np.array([r["seconds"] for r in runs], dtype=np.float64)
    slope, intercept = np.polyfit(counts, seconds, 1)
    fitted = slope * counts + intercept
    spread = float(np.sum((seconds - seconds.mean()) ** 2))
    r_squared = 1.0 - float(np.sum((seconds - fitted) ** 2)) / spread if spread else 1.0
    report.update(
        model=str(model_dir.name if args.model else "toy"),
        photo_size=list(SIZE),
        runs=runs,
        slope_ms_per_photo=round(1000 * slope, 2),
        intercept_s=round(float(intercept), 3),
        r_squared=round(r_squared, 5),
        load_average_at_end=[round(v, 2) for v in os.getloadavg()],
        command="python bench/index_scaling.py " + " ".join(sys.argv[1:]),
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
