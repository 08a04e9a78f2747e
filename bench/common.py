"""What the benchmarks share: camera-size test photos, the models they run, and
a description of the machine, all made on demand and cached under bench/.cache/.

The photos cost what camera JPEGs cost to read: 4000×3000 pixels, quality 92,
about 3 MB each, with sensor-like grain and the EXIF a camera writes. Each is
made from one of scikit-image's public-domain and CC0 sample photos (the
`bench` extra installs it; only its data files are read), cropped, flipped and
tinted by a fixed seed per photo, so every run and every machine decodes the
same bytes. Without scikit-image they are drawn instead (colour fields and
shapes), and the reports say which.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

log = logging.getLogger("bench")

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CACHE = BENCH / ".cache"

PHOTO_SIZE = (4000, 3000)
PHOTO_QUALITY = 92
# Bump when the generator changes, so that cached photos are made again.
PHOTO_VERSION = 2
GRAIN = 4.0  # standard deviation of the per-pixel noise, in 8-bit levels
# scikit-image's sample photos that are public domain or CC0 (see the notes in
# skimage/data/_fetchers.py): NASA, SpaceX, and photographers' CC0 dedications.
SAMPLE_PHOTOS = (
    "astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
    "retina.jpg", "rocket.jpg",
)  # fmt: skip

EXIF_MAKE, EXIF_MODEL, EXIF_ORIENTATION, EXIF_DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
EXIF_IFD, EXIF_DATETIME_ORIGINAL = 0x8769, 0x9003

VIT_B_32 = ("ViT-B-32", "openai")


# Photos


def sample_photos() -> list[Path]:
    """scikit-image's sample photos, found without importing it (which would
    import scipy and more); empty when it is not installed."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    return [data / name for name in SAMPLE_PHOTOS if (data / name).is_file()]


def photo_source() -> str:
    if sample_photos():
        return "scikit-image sample photos, cropped, tinted, enlarged, with grain"
    return "drawn colour fields and shapes with grain (scikit-image is not installed)"


def camera_photos(count: int) -> list[Path]:
    """`count` camera-size JPEGs, made once and then taken from the cache."""
    kind = "samples" if sample_photos() else "drawn"
    size = f"{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}"
    folder = CACHE / "photos" / f"v{PHOTO_VERSION}-{kind}-{size}-q{PHOTO_QUALITY}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo-{index:04d}.jpg" for index in range(count)]
    missing = [(index, path) for index, path in enumerate(paths) if not path.exists()]
    if missing:
        log.info("Making %d test photos in %s", len(missing), folder)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=context) as pool:
            list(pool.map(_write_photo, *zip(*missing, strict=True)))
    return paths


def _write_photo(index: int, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(synthetic_photo(index))
    os.replace(temporary, path)


def synthetic_photo(seed: int) -> bytes:
    """A 12-megapixel camera JPEG: a sample photo (or, without scikit-image, a
    drawn scene), mottled texture and fine grain, and camera EXIF."""
    rng = np.random.default_rng(seed)
    samples = sample_photos()
    scene = _from_sample(samples[seed % len(samples)], rng) if samples else _drawn(rng)
    return _camera_jpeg(scene, rng, seed)


def _from_sample(path: Path, rng: np.random.Generator) -> Image.Image:
    """A 4:3 crop of the sample (60-100% of its shorter side), maybe mirrored,
    tinted per channel, and enlarged to the photo size."""
    with Image.open(path) as opened:
        sample = opened.convert("RGB")
    width, height = sample.size
    crop_height = int(min(height, width * 3 / 4) * rng.uniform(0.6, 1.0))
    crop_width = crop_height * 4 // 3
    left = int(rng.integers(0, width - crop_width + 1))
    top = int(rng.integers(0, height - crop_height + 1))
    scene = sample.crop((left, top, left + crop_width, top + crop_height))
    if rng.random() < 0.5:
        scene = scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    tint = rng.uniform(0.85, 1.15, 3)
    tinted = np.clip(np.asarray(scene, dtype=np.float32) * tint, 0, 255).astype(np.uint8)
    return Image.fromarray(tinted).resize(PHOTO_SIZE, Image.Resampling.BICUBIC)


def _drawn(rng: np.random.Generator) -> Image.Image:
    """A smooth colour field with a scatter of soft-edged shapes."""
    width, height = PHOTO_SIZE

    colours = (rng.random((4, 5, 3)) * 255).astype(np.uint8)
    canvas = Image.fromarray(colours).resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(8, 20))):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = (int(v) for v in rng.integers(100, 1500, 2))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + w, y + h), fill=fill)
        else:
            corners = int(rng.integers(3, 7))
            points = [
                (x + int(rng.integers(-w, w)), y + int(rng.integers(-h, h))) for _ in range(corners)
            ]
            draw.polygon(points, fill=fill)
    return canvas.filter(ImageFilter.GaussianBlur(3))


def _camera_jpeg(canvas: Image.Image, rng: np.random.Generator, seed: int) -> bytes:
    width, height = PHOTO_SIZE
    mottle = (rng.random((height // 8, width // 8)) * 255).astype(np.uint8)
    mottle_image = Image.fromarray(mottle).resize(PHOTO_SIZE, Image.Resampling.BILINEAR)
    texture = (np.asarray(mottle_image, dtype=np.int16) - 128) // 5
    texture += rng.normal(0.0, GRAIN, (height, width)).astype(np.int16)
    pixels = np.asarray(canvas, dtype=np.int16) + texture[..., None]
    photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))

    exif = Image.Exif()
    exif[EXIF_MAKE], exif[EXIF_MODEL] = "Lookalike", "Benchmark camera"
    exif[EXIF_ORIENTATION] = 1
    taken = f"2024:06:{1 + seed % 28:02d} {seed % 24:02d}:{seed % 60:02d}:00"
    exif[EXIF_DATETIME] = taken
    exif.get_ifd(EXIF_IFD)[EXIF_DATETIME_ORIGINAL] = taken
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=PHOTO_QUALITY, exif=exif.tobytes())
    return buffer.getvalue()


def photo_folder(photos: list[Path], scratch: Path) -> Path:
    """A folder holding exactly these photos (hard links where the file system
    allows), so the photo cache can hold more than one run uses."""
    folder = scratch / "photos"
    folder.mkdir(parents=True)
    for photo in photos:
        try:
            os.link(photo, folder / photo.name)
        except OSError:
            shutil.copyfile(photo, folder / photo.name)
    return folder


# Models


def toy_model() -> Path:
    """models/toy_clip.py's model, built fresh into the cache (it takes a moment)."""
    spec = importlib.util.spec_from_file_location("toy_clip", ROOT / "models" / "toy_clip.py")
    assert spec is not None and spec.loader is not None
    toy_clip = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toy_clip)
    folder = CACHE / "models" / "toy"
    shutil.rmtree(folder, ignore_errors=True)
    built: Path = toy_clip.build(folder)
    return built


def exported_model(architecture: str, pretrained: str, export_python: str) -> Path:
    """A random-init export made by models/export.py, cached by name.

    The export needs torch and open_clip, which the app's environment lacks on
    purpose, so it runs in `export_python` (an environment with the `export`
    extra installed) and writes to a scratch folder that is renamed when done.
    """
    folder = CACHE / "models" / f"{architecture}-{pretrained}-random"
    if (folder / "visual" / "model.onnx").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    command = [
        export_python, str(ROOT / "models" / "export.py"), architecture,
        "--pretrained", pretrained, str(scratch / "model"), "--random-init",
    ]  # fmt: skip
    log.info("Exporting %s with random weights: %s", architecture, " ".join(command))
    try:
        # Its progress goes to standard error: standard output carries the report.
        subprocess.run(command, check=True, stdout=sys.stderr)
        os.replace(scratch / "model", folder)
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(
            f"could not export {architecture} ({error}). Make an environment with the "
            "export extra (`pip install -e .[export]`) and pass its python with "
            "--export-python, or give an existing export with --model DIR"
        ) from error
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


# The machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    import onnxruntime
    import PIL

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime_providers": onnxruntime.get_available_providers(),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


class Stopwatch:
    """Wall and CPU seconds over a `with` block: this process's, and the whole
    machine's, so a run can tell when something else was using the cores."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self._machine = machine_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        self._machine = machine_cpu_seconds() - self._machine

    @property
    def cores_busy(self) -> float:
        """How many cores this process kept busy on average."""
        return self.cpu / self.wall if self.wall > 0 else 0.0

    @property
    def other_cores_busy(self) -> float:
        """How many cores everything else on the machine kept busy meanwhile."""
        if self.wall <= 0 or self._machine < 0:
            return 0.0
        return max(0.0, (self._machine - self.cpu) / self.wall)


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (counting time the
    hypervisor gave to others), or -1 where /proc/stat is missing."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return -1.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(limit_s: float, threshold: float = 0.25) -> float:
    """Wait up to `limit_s` for three seconds in a row in which other processes
    keep less than `threshold` cores busy; return how busy the last second was."""
    deadline = time.monotonic() + limit_s
    calm = 0
    while True:
        with Stopwatch() as second:
            time.sleep(1.0)
        others = second.other_cores_busy
        calm = calm + 1 if others < threshold else 0
        if calm >= 3 or time.monotonic() > deadline:
            if calm < 3:
                log.warning("The machine is busy (%.1f other cores); measuring anyway", others)
            return others


def default_export_python() -> str:
    return os.environ.get("LOOKALIKE_EXPORT_PYTHON", sys.executable)
