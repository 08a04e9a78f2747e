"""Every benchmark of issue #5 in one run, and one JSON report of their figures.

Runs each script of this folder in a process of its own, one after another
(they would skew each other side by side), keeps each one's report whole, and
puts the figures the targets name at the top, each beside its target:

- index_rate.py: `lookalike index` against onnxruntime alone (ViT-B-32);
- int8.py: the int8 visual encoder's speed beside the float one's, and agreement;
- rescan.py: re-checking an unchanged library of 100,000 photos;
- search_scale.py: the vector index at 1,000,000 photos (f16 and i8), and the
  window's query path on it;
- gui_startup.py: time to first window with 100,000 photos;
- index_scaling.py: indexing 100, 1,000 and 5,000 photos, and the slope.

The first run takes over an hour on two cores (the ViT-B-32 export, the photos,
and above all the million-photo HNSW builds); they are cached in bench/.cache/
and a rerun takes about half an hour. `--only` runs some of them; `--quick`
makes every size small, to check that the scripts run.

    python bench/all.py [--only index_rate search_scale ...] [--quick] > report.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import default_export_python, machine

HERE = Path(__file__).resolve().parent

# Script, its arguments, and the arguments that make it quick.
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "index_rate": ([], ["--count", "16", "--repeat", "1", "--wait-quiet", "0"]),
    "int8": ([], ["--count", "16", "--repeat", "1"]),
    "rescan": (["--count", "100000"], ["--count", "2000", "--rounds", "1"]),
    "search_scale": (
        ["--count", "1000000", "--connectivity", "32", "--build-budget", "7200"],
        ["--count", "20000", "--connectivity", "32"],
    ),
    "gui_startup": (["--photos", "100000"], ["--photos", "2000", "--rounds", "2"]),
    "index_scaling": ([], ["--sizes", "20", "40", "80"]),
}


def main() -> None:
    args = parse_args()
    reports: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name in args.only or list(BENCHMARKS):
        full, quick = BENCHMARKS[name]
        command = [sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else full)]
        if name in ("index_rate", "search_scale"):
            command += ["--export-python", args.export_python]
        print(f"== {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
        begun = time.perf_counter()
        finished = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        seconds[name] = round(time.perf_counter() - begun, 1)
        try:
            reports[name] = json.loads(finished.stdout)
        except ValueError:
            reports[name] = {"failed": f"exit status {finished.returncode}, no JSON report"}
    print(json.dumps({
        "benchmark": "all",
        "machine": machine(),
        "quick": args.quick,
        "targets": targets(reports),
        "seconds": seconds,
        "reports": reports,
    }, indent=2))  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the scripts")
    parser.add_argument("--export-python", default=default_export_python())
    return parser.parse_args()


def targets(reports: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue sets targets for, each with its target; None where
    the report lacks it (a benchmark not run, or one that failed)."""
    found: dict[str, Any] = {}

    def pick(report: str, *path: str | int) -> Any:
        value: Any = reports.get(report)
        for step in path:
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    found["indexing_over_model_ceiling"] = {
        "value": pick("index_rate", "pipeline_over_model"),
        "steady": pick("index_rate", "steady_pipeline_over_model"),
        "target": ">= 0.90",
    }
    found["int8_over_float_model_speed"] = {
        "value": pick("int8", "speedup"),
        "float_photos_per_s": pick("int8", "float", "photos_per_s"),
        "int8_photos_per_s": pick("int8", "int8", "photos_per_s"),
        "cosine_mean": pick("int8", "agreement", "mean_cosine"),
        "cosine_min": pick("int8", "agreement", "min_cosine"),
    }
    found["rescan_seconds"] = {
        "photos": pick("rescan", "photos"),
        "value": pick("rescan", "rescan_s"),
        "target": "< 5 at 100,000",
    }
    window = pick("search_scale", "end_to_end", "window") or {}
    found["text_query_over_encoder_ms_at_1M"] = {
        "value": window.get("new_query_over_text_encoder_ms"),
        "target": "<= 15",
    }
    found["repeated_query_ms_at_1M"] = {"value": window.get("repeated_query_ms"), "target": "< 5"}
    found["image_query"] = pick("search_scale", "end_to_end", "image_query")
    found["index_memory_and_recall_at_1M"] = [
        {
            "dtype": index.get("dtype"),
            "connectivity": index.get("connectivity"),
            "bytes_per_photo_rss": index.get("rss_growth_bytes_per_photo"),
            "bytes_per_photo_file": index.get("file_bytes_per_photo"),
            "recall_at_10": {
                h["expansion_search"]: h["recall_at_10"] for h in index.get("hnsw", ())
            },
            "exact_recall_at_10": (index.get("exact") or {}).get("recall_at_10"),
        }
        for index in pick("search_scale", "index") or []
    ]
    found["first_window_seconds_100k"] = {
        "value": pick("gui_startup", "median_s", "first_window"),
        "target": "< 1",
    }
    found["indexing_growth"] = {
        "slope_ms_per_photo": pick("index_scaling", "slope_ms_per_photo"),
        "r_squared": pick("index_scaling", "r_squared"),
        "target": "linear",
    }
    return found


if __name__ == "__main__":
    main()
