"""Search at scale: the vector index and the whole query path on a large library.

One run, on N synthetic CLIP-like embeddings (a mixture of a few thousand
Gaussian clusters on the unit sphere around a shared mean direction, from a
fixed seed), measures:

- index: for each usearch dtype (f16, the app's; i8; f32 with --f32) and
  connectivity (16, and 32 with --connectivity 16 32): build time, file size,
  memory per photo (usearch's own count and the process's RSS growth when the
  file is loaded), recall@10 against exact float32 search by numpy, and
  single-query latency for HNSW at several expansion_search values, for a
  1000-result search (what the window asks for) and for exact=True;
- exact_threshold: brute-force latency at smaller library sizes, to place
  vectors.EXACT_SEARCH_LIMIT against HNSW's latency;
- end_to_end: a real catalogue with N photos and their embeddings, the f16
  index under Library, ClipModel on a ViT-B-32 export and Searcher: the text
  encoder alone against Searcher.search for new and repeated queries (limit 20
  and 1000), where the rest of the time goes, an image query against the visual
  encoder alone, and the time to open the library for searching.

HNSW builds are slow on a small machine (minutes per 100,000 photos on two
cores), so a build is done in chunks that are saved as they finish: a run that
reaches --build-budget stops building, reports the index as incomplete, and the
next run carries on from there. Finished indexes, the ground truth and the
catalogue are cached in bench/.cache/search_scale/. The report is one JSON
object on standard output; progress goes to standard error.

    python bench/search_scale.py [--count 1000000] [--dtypes f16 i8] [--f32]
                                 [--connectivity 16] [--build-budget 600] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime  # noqa: F401  (before usearch: the other order crashes on import here)
import usearch
from usearch.index import Index
from usearch.index import search as brute_force

from common import (
    CACHE,
    VIT_B_32,
    Stopwatch,
    camera_photos,
    default_export_python,
    exported_model,
    machine,
    machine_cpu_seconds,
)
from lookalike.core import vectors as vectors_module
from lookalike.core.catalogue import Catalogue
from lookalike.core.clip import ClipModel
from lookalike.core.imaging import decode, read_photo_file
from lookalike.core.library import Library
from lookalike.core.places import Places
from lookalike.core.search import Query, Searcher, Term, TermKind
from lookalike.gui import searching

log = logging.getLogger("bench")

DIM = 512
SEED = 20261203
# Bump when the generator changes, so that cached indexes are built again.
DATA_VERSION = 2
CLUSTERS = 4096
MEAN_WEIGHT = 1.0  # pulls subjects together, as in CLIP: cosine ~0.35 between unrelated photos
STYLES = 48  # directions of variation within a subject
STYLE_SPREAD = 0.35  # the largest; cosine ~0.8 between a photo and its subject
NOISE = 0.01  # per-dimension noise in every direction
QUERY_COUNT = 500
CHUNK = 25_000
EXPANSIONS = (32, 64, 128, 256, 512)
APP_EXPANSION = vectors_module.EXPANSION_SEARCH
APP_CONNECTIVITY = vectors_module.CONNECTIVITY
LATENCY_QUERIES = 200
EXACT_QUERIES = 20
THRESHOLD_SIZES = (10_000, 20_000, 50_000, 100_000, 200_000)
WINDOW_LIMIT = 1000
WINDOW_FIRST = searching.FIRST_RESULTS  # what the window asks for first
TEXT_QUERIES = 30
RECALL_TARGET = 0.95
HOME = CACHE / "search_scale"


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("lookalike").setLevel(logging.WARNING)
    HOME.mkdir(parents=True, exist_ok=True)
    started, cpu_at_start, wall_at_start = machine(), machine_cpu_seconds(), time.perf_counter()
    started["usearch"] = usearch.__version__

    embeddings = synthetic_embeddings(args.count)
    queries = held_out_queries()
    truth = ground_truth(embeddings, queries)

    dtypes = [*args.dtypes, *(["f32"] if args.f32 else [])]
    deadline = time.monotonic() + args.build_budget
    indexes = [
        measure_index(embeddings, queries, truth, dtype, connectivity, deadline)
        for connectivity in args.connectivity
        for dtype in dtypes
    ]
    threshold = measure_exact_threshold(embeddings, queries, indexes)
    end_to_end = None
    if not args.no_end_to_end:
        model_dir = args.model or exported_model(*VIT_B_32, args.export_python)
        end_to_end = measure_end_to_end(embeddings, model_dir)

    wall = time.perf_counter() - wall_at_start
    busy = machine_cpu_seconds() - cpu_at_start
    report = {
        "benchmark": "search_scale",
        "machine": started,
        "data": {
            "count": args.count,
            "dim": DIM,
            "clusters": CLUSTERS,
            "seed": SEED,
            "queries": QUERY_COUNT,
            "source": "clusters around a shared mean direction, varying along 48 style axes",
        },
        "index": indexes,
        "exact_threshold": threshold,
        "end_to_end": end_to_end,
        "recommendation": recommend(indexes, threshold, end_to_end),
        "seconds": round(wall, 1),
        # All cores' busy time over the run, this process included: 2.0 is a full 2-core box.
        "machine_cores_busy_mean": round(busy / wall, 2),
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    print(json.dumps(report, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="photos (default 1000000)")
    parser.add_argument("--dtypes", nargs="+", default=["f16", "i8"], choices=["f16", "i8", "f32"])
    parser.add_argument("--f32", action="store_true", help="also measure f32, as a reference")
    parser.add_argument("--connectivity", nargs="+", type=int, default=[16])
    parser.add_argument(
        "--build-budget",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="stop building indexes after this long; the next run carries on (default 600)",
    )
    parser.add_argument("--model", type=Path, help="model folder (default: ViT-B-32 export)")
    parser.add_argument("--no-end-to-end", action="store_true", help="the index part only")
    parser.add_argument("--export-python", default=default_export_python())
    args = parser.parse_args()
    if args.count < max(THRESHOLD_SIZES[0], WINDOW_LIMIT):
        parser.error(f"--count must be at least {THRESHOLD_SIZES[0]}")
    return args


# Data


def synthetic_embeddings(count: int) -> npt.NDArray[np.float32]:
    """Unit vectors in clusters of uneven size, the same for every run."""
    log.info("Making %d embeddings", count)
    rng = np.random.default_rng(SEED)
    centres, styles = cluster_centres(rng), style_axes(rng)
    # Uneven cluster sizes: some subjects fill a library, most appear a few times.
    weights = rng.pareto(1.2, CLUSTERS) + 0.05
    labels = rng.choice(CLUSTERS, size=count, p=weights / weights.sum())
    embeddings = np.empty((count, DIM), np.float32)
    for start in range(0, count, 100_000):
        part = labels[start : start + 100_000]
        embeddings[start : start + len(part)] = around(centres[part], styles, rng, 1.0)
    return embeddings


def cluster_centres(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    mean = unit(rng.standard_normal(DIM).astype(np.float32))
    scatter = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32) / np.sqrt(DIM)
    return unit(MEAN_WEIGHT * mean + scatter)


def style_axes(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Directions along which photos of one subject differ (light, framing,
    colour...), with a decaying spectrum: real embeddings vary along a few
    dozen directions far more than along the rest."""
    scales = STYLE_SPREAD * np.arange(1, STYLES + 1, dtype=np.float32) ** -0.5
    axes = rng.standard_normal((STYLES, DIM)).astype(np.float32) / np.sqrt(DIM)
    return axes * scales[:, None]


def around(
    centres: npt.NDArray[np.float32],
    styles: npt.NDArray[np.float32],
    rng: np.random.Generator,
    spread: float,
) -> npt.NDArray[np.float32]:
    """A photo per centre: the centre, moved along the style axes, plus a
    little noise in every direction."""
    count = len(centres)
    moves = rng.standard_normal((count, STYLES), dtype=np.float32) @ styles
    noise = rng.standard_normal((count, DIM), dtype=np.float32) * NOISE
    return unit(centres + spread * (moves + noise))


def held_out_queries() -> npt.NDArray[np.float32]:
    """Queries near the data but not in it: other members of the same clusters,
    a little further out, drawn from their own seed."""
    rng = np.random.default_rng(SEED)
    centres, styles = cluster_centres(rng), style_axes(rng)
    rng = np.random.default_rng(SEED + 1)
    labels = rng.integers(0, CLUSTERS, QUERY_COUNT)
    return around(centres[labels], styles, rng, 1.2)


def unit(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    result: npt.NDArray[np.float32] = (vectors / norms).astype(np.float32)
    return result


def ground_truth(
    embeddings: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], k: int = 10
) -> npt.NDArray[np.int64]:
    """The exact 10 nearest photos of each query (row numbers), by float32 matmul."""
    path = HOME / f"truth-v{DATA_VERSION}-{len(embeddings)}.npy"
    if path.exists():
        cached: npt.NDArray[np.int64] = np.load(path)
        return cached
    log.info("Exact search for %d queries over %d embeddings", len(queries), len(embeddings))
    best_scores = np.full((len(queries), k), -np.inf, np.float32)
    best_rows = np.zeros((len(queries), k), np.int64)
    for start in range(0, len(embeddings), 100_000):
        scores = queries @ embeddings[start : start + 100_000].T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], 1)
        merged_rows = np.concatenate([best_rows, top + start], 1)
        keep = np.argsort(-merged_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, keep, 1)
        best_rows = np.take_along_axis(merged_rows, keep, 1)
    np.save(path, best_rows)
    return best_rows


# The index alone


def index_path(count: int, dtype: str, connectivity: int) -> Path:
    return HOME / f"index-v{DATA_VERSION}-{count}-{dtype}-c{connectivity}.usearch"


def keys_of(start: int, stop: int) -> npt.NDArray[np.uint64]:
    """Photo ids for rows start..stop: ids start at 1, as in the catalogue."""
    return np.arange(start + 1, stop + 1, dtype=np.uint64)


def build(
    embeddings: npt.NDArray[np.float32], dtype: str, connectivity: int, deadline: float
) -> dict[str, Any]:
    """Build (or carry on building) the index file in saved chunks; returns the
    build record: photos added so far and the seconds they took in all runs."""
    path = index_path(len(embeddings), dtype, connectivity)
    record_path = path.with_suffix(".json")
    partial = path.with_suffix(".partial")
    if path.exists() and record_path.exists():
        record: dict[str, Any] = json.loads(record_path.read_text())
        return record
    record = {"added": 0, "seconds": 0.0, "cpu_seconds": 0.0, "other_cores_busy": []}
    index = Index(ndim=DIM, metric="cos", dtype=dtype, connectivity=connectivity)
    if partial.exists() and record_path.exists():
        record = json.loads(record_path.read_text())
        index.load(str(partial))
    while record["added"] < len(embeddings) and time.monotonic() < deadline:
        start = record["added"]
        stop = min(start + CHUNK, len(embeddings))
        with Stopwatch() as watch:
            index.add(keys_of(start, stop), embeddings[start:stop])
        record["added"] = stop
        record["seconds"] += watch.wall
        record["cpu_seconds"] += watch.cpu
        record["other_cores_busy"].append(round(watch.other_cores_busy, 2))
        log.info(
            "%s c%d: %d of %d added, %.0f photos/s (others busy %.1f cores)",
            dtype, connectivity, stop, len(embeddings), (stop - start) / watch.wall,
            watch.other_cores_busy,
        )  # fmt: skip
        index.save(str(partial))
        record_path.write_text(json.dumps(record))
    if record["added"] == len(embeddings):
        os.replace(partial, path)
    return record


def measure_index(
    embeddings: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    truth: npt.NDArray[np.int64],
    dtype: str,
    connectivity: int,
    deadline: float,
) -> dict[str, Any]:
    count = len(embeddings)
    record = build(embeddings, dtype, connectivity, deadline)
    rate = record["added"] / record["seconds"] if record["seconds"] else None
    result: dict[str, Any] = {
        "dtype": dtype,
        "connectivity": connectivity,
        "build_photos_per_s": round(rate, 1) if rate else None,
        "build_seconds": round(record["seconds"], 1),
        "build_cpu_seconds": round(record["cpu_seconds"], 1),
        "build_other_cores_busy_median": statistics.median(record["other_cores_busy"] or [0]),
    }
    path = index_path(count, dtype, connectivity)
    if not path.exists():
        result["incomplete"] = f"built {record['added']} of {count}; run again to carry on"
        result["projected_build_seconds"] = round(count / rate) if rate else None
        return result

    rss_before = rss_bytes()
    with Stopwatch() as load:
        index = Index.restore(str(path))
    assert index is not None
    result |= {
        "load_seconds": round(load.wall, 2),
        "file_bytes_per_photo": round(path.stat().st_size / count, 1),
        "memory_usage_bytes_per_photo": round(index.memory_usage / count, 1),
        "rss_growth_bytes_per_photo": round((rss_bytes() - rss_before) / count, 1),
        "hnsw": [],
    }
    log.info("Measuring %s c%d", dtype, connectivity)
    for expansion in EXPANSIONS:
        index.expansion_search = expansion
        found = index.search(queries, 10).keys.astype(np.int64) - 1
        latency = latencies(lambda q: index.search(q, 10), queries[:LATENCY_QUERIES])
        result["hnsw"].append(
            {"expansion_search": expansion, "recall_at_10": recall(found, truth)} | latency
        )
    index.expansion_search = APP_EXPANSION
    result["hnsw_by_limit"] = [
        by_limit(index, embeddings, queries, limit) for limit in (20, 100, 200, WINDOW_LIMIT)
    ]
    result["hnsw_limit_1000"] = result["hnsw_by_limit"][-1]
    exact_found = index.search(queries[:EXACT_QUERIES], 10, exact=True).keys.astype(np.int64) - 1
    result["exact"] = {"recall_at_10": recall(exact_found, truth[:EXACT_QUERIES])} | latencies(
        lambda q: index.search(q, 10, exact=True), queries[:EXACT_QUERIES]
    )
    return result


def by_limit(
    index: Index, embeddings: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], limit: int
) -> dict[str, Any]:
    """Latency and recall of a `limit`-result HNSW search at the app's
    expansion_search (usearch widens the search to at least `limit`)."""
    sample = queries[:EXACT_QUERIES]
    scores = sample @ embeddings.T
    truth = np.argpartition(-scores, limit, axis=1)[:, :limit]
    found = index.search(sample, limit).keys.astype(np.int64) - 1
    timing = latencies(lambda q: index.search(q, limit), queries[:LATENCY_QUERIES])
    return {"limit": limit, f"recall_at_{limit}": recall(found, truth)} | timing


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def recall(found: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> float:
    hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True))
    return round(hits / truth.size, 4)


def latencies(search: Callable[[Any], Any], queries: npt.NDArray[np.float32]) -> dict[str, Any]:
    """Single-query wall time in milliseconds: median and 95th percentile,
    after one warm-up query."""
    search(queries[0])
    times = []
    for query in queries:
        begun = time.perf_counter()
        search(query)
        times.append((time.perf_counter() - begun) * 1000)
    return milliseconds(times)


def milliseconds(times: list[float]) -> dict[str, Any]:
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(float(np.percentile(times, 95)), 3),
        "n": len(times),
    }


def measure_exact_threshold(
    embeddings: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    indexes: list[dict[str, Any]],
) -> dict[str, Any]:
    """Brute-force latency over the first N photos as f16 (the app's storage),
    for 10 and for 1000 results, against HNSW on the full library."""
    log.info("Measuring exact search at smaller sizes")
    sizes = [size for size in THRESHOLD_SIZES if size <= len(embeddings)]
    exact = []
    for size in sizes:
        # Index.search(exact=True) scans the stored vectors; so does this, without
        # the HNSW build that adding them to an index would cost.
        stored = embeddings[:size].astype(np.float16)
        row: dict[str, Any] = {"count": size}
        for limit in (10, WINDOW_LIMIT):
            timing = latencies(
                lambda q, s=stored, n=limit: brute_force(s, q, n, "cos", exact=True),
                queries[:EXACT_QUERIES],
            )
            row[f"limit_{limit}"] = timing
        exact.append(row)
    per_100k = (
        statistics.median(
            row["limit_10"]["p50_ms"] / row["count"] * 100_000
            for row in exact
            if row["count"] >= 50_000
        )
        if any(row["count"] >= 50_000 for row in exact)
        else None
    )
    hnsw = next((i for i in indexes if i["dtype"] == "f16" and "hnsw" in i), None)
    result: dict[str, Any] = {"dtype": "f16", "exact": exact, "exact_ms_per_100k_photos": per_100k}
    if hnsw is not None and per_100k:
        at_app = next(h for h in hnsw["hnsw"] if h["expansion_search"] == APP_EXPANSION)
        result["hnsw_at_full_count"] = {
            "limit_10_p50_ms": at_app["p50_ms"],
            "limit_1000_p50_ms": hnsw["hnsw_limit_1000"]["p50_ms"],
        }
        # HNSW latency grows slowly with size, so its latency on the full
        # library overstates it for smaller ones: the true even point is lower.
        result["crossover_limit_10"] = round(at_app["p50_ms"] / per_100k * 100_000)
        per_100k_1000 = statistics.median(
            row[f"limit_{WINDOW_LIMIT}"]["p50_ms"] / row["count"] * 100_000
            for row in exact
            if row["count"] >= 50_000
        )
        result["crossover_limit_1000"] = round(
            hnsw["hnsw_limit_1000"]["p50_ms"] / per_100k_1000 * 100_000
        )
    return result


# The whole query path


def measure_end_to_end(embeddings: npt.NDArray[np.float32], model_dir: Path) -> dict[str, Any]:
    count = len(embeddings)
    root = HOME / f"library-v{DATA_VERSION}-{count}"
    places = Places.under(root)
    model = ClipModel(model_dir)
    index_file = index_path(count, "f16", APP_CONNECTIVITY)
    result: dict[str, Any] = {"model": model.name}
    if not index_file.exists():
        # Rebuilding it through VectorIndex.add while the library opens would
        # take as long as the build itself: measure once the build is done.
        result["skipped"] = "the f16 index is not built yet; run again"
        return result
    if not (root / "complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        result["catalogue_insert_seconds"] = make_catalogue(places, model, embeddings)
        (root / "complete").touch()
    result["catalogue_bytes_per_photo"] = round(places.catalogue.stat().st_size / count, 1)

    target = places.indexes / f"{model.key}.usearch"
    target.unlink(missing_ok=True)
    os.link(index_file, target)
    result["index"] = f"f16, connectivity {APP_CONNECTIVITY}, from the cached build"

    rss_before = rss_bytes()
    with Stopwatch() as opening:
        library = Library(places)
        vectors = library.vectors(model)
    result["open_library"] = {
        "seconds": round(opening.wall, 2),
        "rss_growth_mb": round((rss_bytes() - rss_before) / 1e6, 1),
        "photos_in_index": len(vectors),
        "other_cores_busy": round(opening.other_cores_busy, 2),
    }
    with Stopwatch() as ids:
        wanted = library.catalogue.embedding_ids(library.catalogue.model_id(model.key, model.dim))
    result["open_library"]["embedding_ids_seconds"] = round(ids.wall, 2)
    del wanted

    searcher = library.searcher(model)
    model._run_text(["warm up"])
    for limit in (20, WINDOW_FIRST, WINDOW_LIMIT):
        result[f"text_query_limit_{limit}"] = measure_text_queries(model, searcher, limit)
        result[f"where_the_time_goes_limit_{limit}"] = search_steps(searcher, limit)
    first = result[f"text_query_limit_{WINDOW_FIRST}"]
    result["window"] = {
        "what": (
            f"the window shows the first {WINDOW_FIRST} matches at once and adds the rest "
            f"of its {WINDOW_LIMIT}, searched on another thread, after a paint"
        ),
        "new_query_over_text_encoder_ms": {
            "paired_median": first["overhead_paired_median_ms"],
            "without_encoder_p50": first["overhead_without_encoder_ms"],
        },
        "new_query_over_text_encoder_target_ms": 15,
        "repeated_query_ms": first["search_repeated_query"]["p50_ms"],
        "repeated_query_target_ms": 5,
        "rest_of_the_limit_ms": result[f"where_the_time_goes_limit_{WINDOW_LIMIT}"][
            "whole_search_new_answer"
        ],
    }
    result["image_query"] = measure_image_query(model, searcher)
    result["provider"] = model.provider
    library.close()
    model.close()
    return result


def measure_text_queries(model: ClipModel, searcher: Searcher, limit: int) -> dict[str, Any]:
    """The text encoder alone against Searcher.search for a new query, in pairs
    (encoder, then search, on different words of the same length) so that a
    busy neighbour slows both alike; then the same queries again (answers kept
    by the Searcher), and once more through a fresh Searcher, which has the
    words' embeddings cached in the model but must search the index and the
    catalogue again: all of a new query but the encoder."""
    words = [
        f"a photo of {SUBJECTS[n % len(SUBJECTS)]} number {n:04d}"
        for n in range(limit, limit + 2 * TEXT_QUERIES)
    ]
    encoder, new = [], []
    for alone, searched in zip(words[0::2], words[1::2], strict=True):
        encoder.append(timed(lambda w=alone: model._run_text([w])))
        new.append(timed(lambda w=searched, n=limit: searcher.search(text_query(w), n)))
    repeated = [timed(lambda w=w, n=limit: searcher.search(text_query(w), n)) for w in words[1::2]]
    fresh = Searcher(searcher.catalogue, searcher.model, searcher.model_id, searcher.vectors)
    unkept = [timed(lambda w=w, n=limit: fresh.search(text_query(w), n)) for w in words[1::2]]
    return {
        "text_encoder": milliseconds(encoder),
        "search_new_query": milliseconds(new),
        "search_repeated_query": milliseconds(repeated),
        # Two estimates of what Searcher adds to the encoder: paired
        # differences (noisy: the encoder's own spread is larger than this),
        # and the same words through a Searcher that has not kept the answer.
        "overhead_paired_median_ms": round(
            statistics.median(b - a for a, b in zip(encoder, new, strict=True)), 2
        ),
        "overhead_without_encoder_ms": milliseconds(unkept)["p50_ms"],
    }


SUBJECTS = ["dog", "beach at sunset", "birthday cake", "mountain lake", "red car", "old church"]


def text_query(words: str) -> Query:
    return Query([Term(TermKind.TEXT, words)])


def timed(step: Callable[[], Any]) -> float:
    begun = time.perf_counter()
    step()
    return (time.perf_counter() - begun) * 1000


def search_steps(searcher: Searcher, limit: int) -> dict[str, float]:
    """Searcher.search's steps one by one, and faster ways to do the slow ones,
    median of 20 runs each, in ms."""
    query = text_query("a photo of a dog on a beach")
    vector = searcher.query_vector(query)
    keys, scores = searcher.vectors.search(vector, limit)
    ids = [int(k) for k in keys]
    paths = searcher.catalogue.photo_paths(ids)
    db = searcher.catalogue.db
    steps: dict[str, Callable[[], Any]] = {
        "whole_search_kept_answer": lambda: searcher.search(query, limit),
        "whole_search_new_answer": lambda: Searcher(
            searcher.catalogue, searcher.model, searcher.model_id, searcher.vectors
        ).search(query, limit),
        "query_vector_cached_text": lambda: searcher.query_vector(query),
        "vector_index_search": lambda: searcher.vectors.search(vector, limit),
        "catalogue_photo_paths": lambda: searcher.catalogue.photo_paths(ids),
        "path_exists_checks": lambda: [os.path.exists(p) for p in paths.values()],
        "results_without_exists": lambda: [
            (int(k), paths[int(k)], float(s)) for k, s in zip(keys, scores, strict=True)
        ],
        # Alternatives: one statement for all ids instead of one per 500, and
        # one existence check per folder instead of per photo.
        "alternative_photo_paths_one_statement": lambda: dict(
            db.execute(
                "SELECT id, path FROM photos WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            ).fetchall()
        ),
        "alternative_exists_per_folder": lambda: {
            folder: os.path.isdir(folder) for folder in {os.path.dirname(p) for p in paths.values()}
        },
    }
    return {
        name: round(statistics.median(timed(step) for _ in range(20)), 3)
        for name, step in steps.items()
    }


def measure_image_query(model: ClipModel, searcher: Searcher) -> dict[str, Any]:
    """A photo from disk as the query (not in the catalogue, so it is decoded
    and encoded), against the visual encoder alone on the prepared input."""
    photo = camera_photos(1)[0]
    decoded = decode(read_photo_file(str(photo)), model.input_spec, thumbnail_size=None)
    model.encode_images([decoded.pixels])
    encoder = [timed(lambda: model.encode_images([decoded.pixels])) for _ in range(10)]
    preparing = [
        timed(lambda: decode(read_photo_file(str(photo)), model.input_spec, thumbnail_size=None))
        for _ in range(10)
    ]
    query = Query([Term(TermKind.IMAGE, str(photo))])
    search = [timed(lambda: searcher.search(query, WINDOW_FIRST)) for _ in range(10)]
    return {
        "photo": "one 4000x3000 JPEG from bench/common.py, read, hashed and decoded each time",
        "visual_encoder": milliseconds(encoder),
        "read_hash_decode": milliseconds(preparing),
        f"search_limit_{WINDOW_FIRST}": milliseconds(search),
        "over_encoder_and_decode_ms": round(
            statistics.median(search) - statistics.median(encoder) - statistics.median(preparing),
            2,
        ),
    }


def make_catalogue(places: Places, model: ClipModel, embeddings: npt.NDArray[np.float32]) -> float:
    """N photos with f16 embeddings, written in one transaction."""
    log.info("Writing a catalogue of %d photos", len(embeddings))
    begun = time.perf_counter()
    places.create()
    with Catalogue(places.catalogue) as catalogue:
        model_id = catalogue.model_id(model.key, model.dim)
        folder = catalogue.add_folder(places.data.parent / "Pictures")
        with catalogue.transaction() as db:
            for start in range(0, len(embeddings), 50_000):
                stop = min(start + 50_000, len(embeddings))
                ids = range(start + 1, stop + 1)
                db.executemany(
                    "INSERT INTO photos(id, folder_id, path, size, mtime_ns, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        (i, folder.id, photo_path(folder.path, i), 3_000_000, i, digest(i))
                        for i in ids
                    ),
                )
                blobs = embeddings[start:stop].astype(np.float16)
                rows = zip(ids, blobs, strict=True)
                db.executemany(
                    "INSERT INTO embeddings(photo_id, model_id, hash, vector) VALUES (?, ?, ?, ?)",
                    ((i, model_id, digest(i), blob.tobytes()) for i, blob in rows),
                )
    return round(time.perf_counter() - begun, 1)


def photo_path(folder: str, photo_id: int) -> bytes:
    return os.fsencode(f"{folder}/{photo_id // 1000:04d}/IMG_{photo_id:07d}.jpg")


def digest(photo_id: int) -> bytes:
    return photo_id.to_bytes(8, "little") * 4


# The verdict


def recommend(
    indexes: list[dict[str, Any]], threshold: dict[str, Any], end_to_end: dict[str, Any] | None
) -> dict[str, Any]:
    measured = [i for i in indexes if "hnsw" in i]
    advice: dict[str, Any] = {"current": {
        "dtype": "f16", "connectivity": APP_CONNECTIVITY, "expansion_search": APP_EXPANSION,
        "exact_search_limit": vectors_module.EXACT_SEARCH_LIMIT,
    }}  # fmt: skip
    if measured:
        choices = []
        for index in measured:
            good = [h for h in index["hnsw"] if h["recall_at_10"] >= RECALL_TARGET]
            best = good[0] if good else index["hnsw"][-1]
            choices.append((index, best))
        # The least memory among those reaching the recall target, then the
        # fastest; when none reaches it, the best recall.
        reaching = [c for c in choices if c[1]["recall_at_10"] >= RECALL_TARGET]
        if reaching:
            ranked = sorted(
                reaching, key=lambda c: (c[0]["rss_growth_bytes_per_photo"], c[1]["p50_ms"])
            )
        else:
            ranked = sorted(choices, key=lambda c: -c[1]["recall_at_10"])
        index, best = ranked[0]
        advice |= {
            "dtype": index["dtype"],
            "connectivity": index["connectivity"],
            "expansion_search": best["expansion_search"],
            "why": (
                f"recall@10 {best['recall_at_10']} (target {RECALL_TARGET}) at "
                f"{best['p50_ms']} ms p50 with the least memory "
                f"({index['rss_growth_bytes_per_photo']} B/photo RSS once loaded)"
            ),
        }
    crossover = threshold.get("crossover_limit_1000")
    if crossover:
        # The window asks for 1000 results, which makes HNSW search at least
        # 1000 wide: below this size a scan is as fast, and exact.
        advice["exact_search_limit"] = max(10_000, round(crossover, -4))
        advice["exact_search_limit_why"] = (
            f"exact search for {WINDOW_LIMIT} results costs as much as HNSW at about "
            f"{crossover} photos (HNSW's latency measured at the full count)"
        )
    return advice


if __name__ == "__main__":
    main()
