"""Indexing rate: how close `lookalike index` comes to what the model alone allows.

One run measures, on the same camera-size JPEGs and the same model:

- model_only: onnxruntime alone on ready input tensors, with the batch size and
  session options the indexer uses: the ceiling, in photos per second;
- pipeline: the whole of `lookalike index` in-process (scan, read, hash, decode,
  thumbnail, inference, catalogue, vector index) on a fresh data folder;
- pipeline_over_model: the share of the ceiling that indexing reaches;
- decode_only: reading and decoding the same files on as many threads as the
  indexer uses, and where the pipeline's time goes.

Each measurement is repeated (rounds interleave them, so a busy neighbour slows
all of them alike) and the median is reported. The report is one JSON object on
standard output; progress goes to standard error.

    python bench/index_rate.py [--count 64] [--repeat 3] [--model DIR | --toy]
                               [--workers N] [--threads N] [--export-python PYTHON]

Without --model or --toy, a random-init ViT-B-32 is exported once with
models/export.py (which needs torch: see --export-python) and cached in
bench/.cache/, as are the photos.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from common import (
    CACHE,
    VIT_B_32,
    Stopwatch,
    camera_photos,
    default_export_python,
    exported_model,
    machine,
    photo_folder,
    photo_source,
    toy_model,
    wait_for_quiet,
)
from lookalike.core import indexer as indexer_module
from lookalike.core.clip import ClipModel, create_session
from lookalike.core.imaging import THUMBNAIL_SIZE, InputSpec, decode, read_photo_file
from lookalike.core.library import Library
from lookalike.core.places import Places

log = logging.getLogger("bench")

MIN_MODEL_SECONDS = 1.0
QUIET_CORES = 0.3  # other processes' load under which a round counts as undisturbed


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("lookalike").setLevel(logging.WARNING)

    photos = camera_photos(args.count)
    if args.toy:
        model_dir = toy_model()
    elif args.model:
        model_dir = args.model.expanduser().resolve()
    else:
        model_dir = exported_model(*VIT_B_32, args.export_python)

    report = run(photos, model_dir, args.repeat, args.workers, args.threads, args.wait_quiet)
    report["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    print(json.dumps(report, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=64, help="photos to index (default 64)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each measurement")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path, help="an existing model folder")
    which.add_argument("--toy", action="store_true", help="the tiny model of models/toy_clip.py")
    parser.add_argument(
        "--workers", type=int, help="decode threads (default: what the indexer picks)"
    )
    parser.add_argument(
        "--threads", type=int, help="onnxruntime intra-op threads (default: what the app uses)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="before each round, wait up to this long for other processes to leave "
        "the cores alone (default 120; 0 to not wait)",
    )
    parser.add_argument(
        "--export-python",
        default=default_export_python(),
        help="a python with the export extra, to make the ViT-B-32 export "
        "(default: $LOOKALIKE_EXPORT_PYTHON, else this python)",
    )
    args = parser.parse_args()
    if args.count < 1 or args.repeat < 1:
        parser.error("--count and --repeat must be at least 1")
    return args


def run(
    photos: list[Path],
    model_dir: Path,
    repeat: int,
    workers: int | None,
    threads: int | None,
    quiet_s: float = 0.0,
) -> dict[str, Any]:
    started_on = machine()
    model = ClipModel(model_dir, threads=threads)
    spec, batch_size = model.input_spec, model.batch_size
    inputs = prepared_inputs(photos, spec, batch_size)
    facts = {
        "folder": str(model.folder),
        "visual_input": [model.visual_input.name, list(model.visual_input.shape)],
        "visual_onnx_mb": round((model.folder / "visual/model.onnx").stat().st_size / 1e6, 1),
        "batch_size": batch_size,
        "intra_op_threads": model.threads or "onnxruntime default",
        "provider": model.provider,
    }
    name = model.visual_input.name
    model.close()  # the measurements make their own sessions

    rounds: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="run-", dir=CACHE) as scratch:
        folder = photo_folder(photos, Path(scratch))
        for number in range(1, repeat + 1):
            if quiet_s:
                wait_for_quiet(quiet_s)
            log.info("Round %d of %d", number, repeat)
            pipeline = measure_pipeline(folder, model_dir, threads, workers, len(photos))
            # Decoding alone uses as many threads as the indexer just did.
            decode_threads = workers or pipeline["decode_threads"]
            rounds.append(
                {
                    "pipeline": pipeline,
                    "model_only": measure_model(model_dir, threads, name, inputs, batch_size),
                    "decode_only": measure_decode(photos, spec, decode_threads),
                }
            )
    return summarise(rounds, photos, started_on, facts)


def summarise(
    rounds: list[dict[str, dict[str, Any]]],
    photos: list[Path],
    started_on: dict[str, Any],
    model: dict[str, Any],
) -> dict[str, Any]:
    # Rounds that other processes slowed down are left out while any is left.
    skewed = [r for r in rounds if interference(r) > QUIET_CORES]
    used = [r for r in rounds if r not in skewed] or rounds
    model_only, decode_only, pipeline = (
        median_of(used, part) for part in ("model_only", "decode_only", "pipeline")
    )
    ratios = [r["pipeline"]["photos_per_s"] / r["model_only"]["photos_per_s"] for r in used]
    steady = [r["pipeline"]["steady_photos_per_s"] / r["model_only"]["photos_per_s"] for r in used]
    sizes = [photo.stat().st_size for photo in photos]
    with Image.open(photos[0]) as first:
        dimensions = list(first.size)
    return {
        "benchmark": "index_rate",
        "machine": started_on,
        "photos": {
            "count": len(photos),
            "size": dimensions,
            "mean_file_mb": round(statistics.mean(sizes) / 1e6, 2),
            "source": f"{photo_source()}, from bench/common.py, warm in the page cache",
        },
        "model": model,
        "rounds": len(rounds),
        "rounds_used": len(used),
        "model_only": model_only,
        "pipeline": pipeline,
        "pipeline_over_model": float(f"{statistics.median(ratios):.3g}"),
        "steady_pipeline_over_model": float(f"{statistics.median(steady):.3g}"),
        "decode_only": decode_only,
        "where_the_time_goes": time_split(model_only, decode_only, pipeline),
        # Above a few tenths of a core, other work on the machine skewed the numbers.
        "other_processes_max_cores": max(interference(r) for r in used),
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
    }


def prepared_inputs(photos: list[Path], spec: InputSpec, batch_size: int) -> np.ndarray:
    """Model inputs for as many photos as were given, decoded from the first
    batch's worth of them and repeated."""
    first = [decode(read_photo_file(p), spec, None).pixels for p in photos[:batch_size]]
    return np.stack([first[i % len(first)] for i in range(len(photos))])


# The three measurements


def measure_model(
    model_dir: Path, threads: int | None, name: str, inputs: np.ndarray, batch_size: int
) -> dict[str, Any]:
    """onnxruntime alone, created the way the app creates it, after one warm-up batch."""
    with Stopwatch() as loading:
        session, _ = create_session(model_dir / "visual" / "model.onnx", threads)
    batches = [inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)]
    session.run(None, {name: batches[0]})
    passes = 0
    with Stopwatch() as watch:
        # A small model needs several passes over the photos to be timed at all.
        deadline = time.perf_counter() + MIN_MODEL_SECONDS
        while passes == 0 or time.perf_counter() < deadline:
            for batch in batches:
                session.run(None, {name: batch})
            passes += 1
    del session
    photos = passes * len(inputs)
    return {
        "photos_per_s": round(photos / watch.wall, 2),
        "seconds": round(watch.wall, 3),
        "ms_per_batch": round(1000 * watch.wall / (passes * len(batches)), 2),
        "cpu_ms_per_photo": round(1000 * watch.cpu / photos, 2),
        "cores_busy": round(watch.cores_busy, 2),
        "other_cores_busy": round(watch.other_cores_busy, 2),
        "session_load_s": round(loading.wall, 3),
    }


def measure_decode(photos: list[Path], spec: InputSpec, workers: int) -> dict[str, Any]:
    """What the indexer's decode threads do for a new photo (read, hash, decode,
    model input, thumbnail), with nothing else running."""

    def one(path: Path) -> float:
        started = time.perf_counter()
        decode(read_photo_file(path), spec, THUMBNAIL_SIZE)
        return time.perf_counter() - started

    with Stopwatch() as watch, ThreadPoolExecutor(workers) as pool:
        seconds = list(pool.map(one, photos))
    return {
        "photos_per_s": round(len(photos) / watch.wall, 2),
        "workers": workers,
        "ms_per_photo": round(1000 * statistics.mean(seconds), 1),
        "cpu_ms_per_photo": round(1000 * watch.cpu / len(photos), 1),
        "cores_busy": round(watch.cores_busy, 2),
        "other_cores_busy": round(watch.other_cores_busy, 2),
    }


def measure_pipeline(
    folder: Path, model_dir: Path, threads: int | None, workers: int | None, count: int
) -> dict[str, Any]:
    """`lookalike index FOLDER --model DIR` on a fresh data folder, in-process,
    with probes timing the decode threads' work and each batch's inference."""
    ticks: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="data-", dir=CACHE) as data,
        Library(Places.under(Path(data))) as library,
    ):
        library.add_folders([folder])
        model = library.load_model(model_dir, threads=threads)
        with probes(model) as timings, Stopwatch() as watch:
            result = library.index(
                model, progress=lambda _: ticks.append(time.perf_counter()), workers=workers
            )
        model.close()
    if result.encoded != count or result.failed:
        raise SystemExit(f"indexing went wrong: {result.encoded} of {count} photos encoded, "
                         f"failures: {result.failed[:3]}")  # fmt: skip

    # From the first photo ready to the last one stored: without the session's
    # creation and the first decode, which a long run spreads thin.
    steady = (len(ticks) - 1) / (ticks[-1] - ticks[0]) if len(ticks) > 1 else 0.0
    decode_seconds = timings["decode"]
    return {
        "photos_per_s": round(count / watch.wall, 2),
        "steady_photos_per_s": round(steady, 2),
        "seconds": round(watch.wall, 3),
        "cpu_ms_per_photo": round(1000 * watch.cpu / count, 1),
        "cores_busy": round(watch.cores_busy, 2),
        "other_cores_busy": round(watch.other_cores_busy, 2),
        "inference_seconds": round(sum(timings["inference"]), 3),
        "inference_ms_per_photo": round(1000 * sum(timings["inference"]) / count, 1),
        "decode_ms_per_photo": round(1000 * statistics.mean(decode_seconds), 1),
        "decode_threads": len(timings["threads"]),
    }


@contextmanager
def probes(model: ClipModel) -> Iterator[dict[str, Any]]:
    """Time every batch the model encodes and every photo the decode threads
    decode, by wrapping the calls the indexer makes (core code is untouched)."""
    timings: dict[str, Any] = {"inference": [], "decode": [], "threads": set()}
    lock = threading.Lock()
    original_decode = indexer_module.decode

    def timed(function: Callable[..., Any], kind: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with lock:
                    timings[kind].append(time.perf_counter() - started)
                    if kind == "decode":
                        timings["threads"].add(threading.get_ident())

        return call

    model.encode_images = timed(model.encode_images, "inference")  # type: ignore[method-assign]
    indexer_module.decode = timed(original_decode, "decode")
    try:
        yield timings
    finally:
        indexer_module.decode = original_decode
        del model.encode_images


def interference(round_: dict[str, dict[str, Any]]) -> float:
    """The most cores other processes kept busy during any part of a round."""
    return max(float(part["other_cores_busy"]) for part in round_.values())


def median_of(rounds: list[dict[str, dict[str, Any]]], part: str) -> dict[str, Any]:
    """Each number's median over the rounds, keyed as in one round."""
    summary: dict[str, Any] = {}
    for key, value in rounds[0][part].items():
        values = [r[part][key] for r in rounds]
        if isinstance(value, bool) or not isinstance(value, int | float):
            summary[key] = value
        elif isinstance(value, int):
            summary[key] = statistics.median_low(values)
        else:
            summary[key] = round(statistics.median(values), 3)
    return summary


def time_split(
    model_only: dict[str, Any], decode_only: dict[str, Any], pipeline: dict[str, Any]
) -> dict[str, Any]:
    """Per photo: what decoding and inference cost alone and inside the pipeline.

    Where both stages can use every core, the best a pipeline can do is the two
    run back to back at full speed, or, counting CPU time, every core busy with
    nothing but their work; both are fairer targets than the model's ceiling.
    """
    model_ms = 1000 / model_only["photos_per_s"]
    decode_ms = 1000 / decode_only["photos_per_s"]
    cpu_ms = model_only["cpu_ms_per_photo"] + decode_only["cpu_ms_per_photo"]
    return {
        "model_ms_per_photo_alone": round(model_ms, 1),
        "model_ms_per_photo_in_pipeline": pipeline["inference_ms_per_photo"],
        "decode_ms_per_photo_alone": round(decode_ms, 1),
        "decode_thread_ms_per_photo_alone": decode_only["ms_per_photo"],
        "decode_thread_ms_per_photo_in_pipeline": pipeline["decode_ms_per_photo"],
        "pipeline_ms_per_photo": round(1000 / pipeline["photos_per_s"], 1),
        "share_of_pipeline_in_inference": round(
            pipeline["inference_seconds"] / pipeline["seconds"], 3
        ),
        "back_to_back_photos_per_s": round(1000 / (model_ms + decode_ms), 2),
        "cpu_ms_per_photo": {
            "model": model_only["cpu_ms_per_photo"],
            "decode": decode_only["cpu_ms_per_photo"],
            "pipeline": pipeline["cpu_ms_per_photo"],
        },
        "all_cores_busy_photos_per_s": round((os.cpu_count() or 1) * 1000 / cpu_ms, 2),
    }


if __name__ == "__main__":
    main()
