"""The int8 visual encoder against the float one: speed, and how closely it agrees.

One run, on the same decoded photos and the same session options:

- float and int8: onnxruntime alone on ready input tensors (the photos decoded
  once beforehand), batch after batch as the indexer feeds them, in photos per
  second; rounds alternate the two so a busy neighbour slows both alike, and the
  median is reported;
- agreement: the cosine similarity between the float and the int8 embedding of
  each photo (mean and minimum);
- quantise_seconds and the sizes of both files.

On a random-init export (the default, made by models/export.py) the agreement
is a numerical check of the quantisation, not a statement about search quality
with real weights. The report is one JSON object on standard output.

    python bench/int8.py [--model DIR] [--count 32] [--batch 16] [--threads N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import CACHE, camera_photos, machine, toy_model
from lookalike.core.clip import VISUAL_VARIANTS, ClipModel
from lookalike.core.imaging import decode, read_photo_file
from lookalike.core.model_store import quantize_visual

log = logging.getLogger("bench")

DEFAULT_MODEL = CACHE / "models" / "ViT-B-32-openai-random"


def prepared_batches(model: ClipModel, count: int, batch: int) -> list[np.ndarray[Any, Any]]:
    spec = model.input_spec
    pixels = [decode(read_photo_file(path), spec).pixels for path in camera_photos(count)]
    return [np.stack(pixels[i : i + batch]) for i in range(0, len(pixels), batch)]


def photos_per_second(model: ClipModel, batches: list[np.ndarray[Any, Any]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        model.encode_images(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="a model folder")
    parser.add_argument("--count", type=int, default=32, help="photos")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

    folder = args.model or (DEFAULT_MODEL if (DEFAULT_MODEL / "config.json").is_file() else None)
    if folder is None:
        log.info("No ViT-B-32 export in %s; using the toy model", DEFAULT_MODEL)
        folder = toy_model()
    started_on = machine()

    started = time.perf_counter()
    int8_path = quantize_visual(folder)
    quantise_seconds = time.perf_counter() - started

    exact = ClipModel(folder, threads=args.threads)
    fast = ClipModel(folder, threads=args.threads, visual_variant="int8")
    batches = prepared_batches(exact, args.count, args.batch)
    log.info("Warming up both sessions")
    reference = exact.encode_images(batches[0][:1])
    fast.encode_images(batches[0][:1])

    rates: dict[str, list[float]] = {"float": [], "int8": []}
    for round_number in range(args.repeat):
        for name, model in (("float", exact), ("int8", fast)):
            rates[name].append(photos_per_second(model, batches))
        log.info("Round %d: %s", round_number + 1, {k: round(v[-1], 2) for k, v in rates.items()})

    cosines = np.concatenate([
        np.sum(exact.encode_images(b) * fast.encode_images(b), axis=1) for b in batches
    ])  # fmt: skip
    float_rate, int8_rate = (statistics.median(rates[k]) for k in ("float", "int8"))
    report = {
        "benchmark": "int8",
        "model": str(folder),
        "random_init": "random" in folder.name,
        "embedding_dim": int(reference.shape[1]),
        "photos": sum(len(b) for b in batches),
        "batch": args.batch,
        "threads": args.threads,
        "repeat": args.repeat,
        "float": {"photos_per_s": round(float_rate, 2), "rounds": rates["float"]},
        "int8": {"photos_per_s": round(int8_rate, 2), "rounds": rates["int8"]},
        "speedup": round(int8_rate / float_rate, 3),
        "agreement": {
            "mean_cosine": round(float(cosines.mean()), 5),
            "min_cosine": round(float(cosines.min()), 5),
            "photos": int(cosines.size),
        },
        "quantise_seconds": round(quantise_seconds, 1),
        "size_mb": {
            "float": round((folder / VISUAL_VARIANTS["float"]).stat().st_size / 1e6, 1),
            "int8": round(int8_path.stat().st_size / 1e6, 1),
        },
        "note": (
            "random-init weights: the agreement checks the quantisation numerically; "
            "search quality with real weights needs a real export"
            if "random" in folder.name
            else ""
        ),
        "machine": started_on,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
