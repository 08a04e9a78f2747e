"""Turning a photo file into what the indexer needs, from one decode.

A photo is read once into memory (which also gives its content hash), decoded
once at the smallest scale that still covers both the model input and the grid
thumbnail (JPEG draft mode makes that 1/2 to 1/8 of full size), turned upright
by its EXIF orientation, and then cut into the model's input tensor and a
thumbnail. Everything that goes wrong becomes a `PhotoError` whose message a
person can act on.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pillow_heif
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

pillow_heif.register_heif_opener()

# Pillow's own bomb check counts header pixels, which would refuse large JPEGs
# that draft mode decodes cheaply; `decode` applies its own limits instead.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

MAX_FILE_BYTES = 1 << 30
# Pixels we are willing to hold decoded in memory (about 360 MB as RGB).
MAX_DECODED_PIXELS = 120_000_000
# Pixels a header may claim for formats that cannot be decoded at a reduced scale.
MAX_HEADER_PIXELS = 200_000_000

THUMBNAIL_SIZE = 320
THUMBNAIL_QUALITY = 82

EXIF_ORIENTATION = 0x0112
EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 0x9003
EXIF_DATETIME = 0x0132

RESAMPLING = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}

Pixels = npt.NDArray[Any]


class PhotoError(Exception):
    """A photo that cannot be used, with a reason in plain words."""


@dataclass(frozen=True)
class InputSpec:
    """How a model wants its image: from `preprocess_cfg.json` and the ONNX input."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    fill_color: int = 0
    # "float" for normalised NCHW float32; "uint8" for raw NHWC bytes, for
    # exports that normalise inside the graph.
    pixel_type: str = "float"

    @classmethod
    def from_config(cls, config: dict[str, Any], pixel_type: str = "float") -> InputSpec:
        size = config.get("size", 224)
        side = int(size[0] if isinstance(size, list) else size)
        mean = tuple(float(v) for v in config.get("mean", (0.0, 0.0, 0.0)))
        std = tuple(float(v) for v in config.get("std", (1.0, 1.0, 1.0)))
        if len(mean) != 3 or len(std) != 3 or not all(std):
            raise ValueError("mean and std must each have three non-zero values")
        interpolation = str(config.get("interpolation", "bicubic"))
        if interpolation not in RESAMPLING:
            raise ValueError(f"unknown interpolation {interpolation!r}")
        resize_mode = str(config.get("resize_mode", "shortest"))
        if resize_mode not in ("shortest", "longest", "squash"):
            raise ValueError(f"unknown resize_mode {resize_mode!r}")
        return cls(
            size=side,
            mean=(mean[0], mean[1], mean[2]),
            std=(std[0], std[1], std[2]),
            interpolation=interpolation,
            resize_mode=resize_mode,
            fill_color=int(config.get("fill_color", 0)),
            pixel_type=pixel_type,
        )


@dataclass(frozen=True)
class Decoded:
    """One decoded photo: its model input, thumbnail and facts."""

    hash: bytes
    width: int
    height: int
    taken_at: str | None
    pixels: Pixels
    thumbnail: bytes | None


def content_hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def read_photo_file(path: str | Path) -> bytes:
    """The whole file, refusing anything that is not a regular file.

    Opening without blocking and checking the open descriptor means a pipe or
    device that replaced a photo after the scan cannot hang the reader.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise PhotoError("the file disappeared before it could be read") from None
    except PermissionError:
        raise PhotoError("permission denied: Lookalike may not read this file") from None
    except OSError as error:
        raise PhotoError(f"cannot be opened: {error.strerror or error}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PhotoError("not a regular file (a pipe, socket or device)")
        if info.st_size == 0:
            raise PhotoError("the file is empty (0 bytes)")
        if info.st_size > MAX_FILE_BYTES:
            raise PhotoError(f"the file is too large ({info.st_size >> 20} MB)")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read()
    except OSError as error:
        raise PhotoError(f"cannot be read: {error.strerror or error}") from None
    finally:
        os.close(fd)


def open_image(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise PhotoError("not an image, or in a format Lookalike cannot read") from None
    except Exception as error:  # Pillow's plugins raise many types for bad headers
        raise PhotoError(f"the image header is damaged ({_describe(error)})") from None


def decode(
    data: bytes,
    spec: InputSpec | None,
    thumbnail_size: int | None = THUMBNAIL_SIZE,
    digest: bytes | None = None,
) -> Decoded:
    """Decode a photo's bytes into its model input and a JPEG thumbnail.

    Without a `spec` no model input is made; without a `thumbnail_size`, no
    thumbnail. `digest` is the content hash when the caller already has it, or
    b"" when nobody needs it (hashing a camera JPEG costs about 5 ms).
    """
    digest = content_hash(data) if digest is None else digest
    image = open_image(data)
    try:
        width, height = image.size
        taken_at = _taken_at(image)
        image, turned = _load_upright(image, _needed_side(spec, thumbnail_size))
        image = _as_rgb(image)
    except PhotoError:
        raise
    except MemoryError:
        raise PhotoError("the image is too large to decode in the memory available") from None
    except Exception as error:
        raise PhotoError(f"the image data is damaged or cut short ({_describe(error)})") from None

    pixels = model_input(image, spec) if spec is not None else np.empty(0, np.float32)
    thumbnail = make_thumbnail(image, thumbnail_size) if thumbnail_size else None
    if turned:
        width, height = height, width
    return Decoded(digest, width, height, taken_at, pixels, thumbnail)


def _needed_side(spec: InputSpec | None, thumbnail_size: int | None) -> int:
    return max(spec.size if spec else 0, thumbnail_size or 0, 1)


def _load_upright(image: Image.Image, side: int) -> tuple[Image.Image, bool]:
    """Decode at the smallest scale that keeps both sides at least `side` long,
    turned upright; also whether turning it swapped its width and height."""
    width, height = image.size
    if width <= 0 or height <= 0:
        raise PhotoError("the image has no pixels")
    if image.format == "JPEG":
        image.draft("RGB", (side, side))
    decoded_pixels = image.size[0] * image.size[1]
    limit = MAX_DECODED_PIXELS if image.format == "JPEG" else MAX_HEADER_PIXELS
    if decoded_pixels > limit:
        raise PhotoError(
            f"the image is too large ({width}×{height} pixels); it may be a decompression bomb"
        )
    image.load()
    orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    return ImageOps.exif_transpose(image), orientation in (5, 6, 7, 8)


def _as_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels, with transparency laid over white and 16-bit data scaled down."""
    if image.mode.startswith("I") or image.mode == "F":
        image = _as_8_bit_grey(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(backdrop, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def _as_8_bit_grey(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey scaled into 8 bits, instead of clipped to white."""
    values = np.asarray(image, dtype=np.float64)
    peak = float(values.max()) if values.size else 0.0
    scale = 255.0 / 65535.0 if peak > 255.0 else 1.0
    grey = np.clip(values * scale, 0, 255).astype(np.uint8)
    return Image.fromarray(grey, "L")


def model_input(image: Image.Image, spec: InputSpec) -> Pixels:
    """The model's input tensor for one upright RGB image, without the batch axis."""
    resized = _fit(image, spec)
    rgb = np.asarray(resized, dtype=np.uint8)
    if spec.pixel_type == "uint8":
        return np.ascontiguousarray(rgb)
    scale = np.array(spec.std, dtype=np.float32) * 255.0
    offset = np.array(spec.mean, dtype=np.float32) * 255.0
    normalised = (rgb.astype(np.float32) - offset) / scale
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def _fit(image: Image.Image, spec: InputSpec) -> Image.Image:
    side = spec.size
    resample = RESAMPLING[spec.interpolation]
    width, height = image.size
    if spec.resize_mode == "squash":
        return image.resize((side, side), resample)
    if spec.resize_mode == "longest":
        scale = side / max(width, height)
        inner = (max(1, round(width * scale)), max(1, round(height * scale)))
        fill = (spec.fill_color,) * 3
        canvas = Image.new("RGB", (side, side), fill)
        canvas.paste(
            image.resize(inner, resample), ((side - inner[0]) // 2, (side - inner[1]) // 2)
        )
        return canvas

    # "shortest": the short side becomes `side`, then the centre is cut out,
    # rounding the way torchvision's Resize and CenterCrop do.
    if width <= height:
        size = (side, max(side, int(side * height / width)))
    else:
        size = (max(side, int(side * width / height)), side)
    resized = image.resize(size, resample) if size != image.size else image
    left = round((size[0] - side) / 2.0)
    top = round((size[1] - side) / 2.0)
    return resized.crop((left, top, left + side, top + side))


def make_thumbnail(image: Image.Image, size: int) -> bytes:
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    buffer = io.BytesIO()
    thumb.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY, optimize=False)
    return buffer.getvalue()


def _taken_at(image: Image.Image) -> str | None:
    """When the photo was taken, from EXIF, as ISO 8601 local time."""
    try:
        exif = image.getexif()
        raw = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL) or exif.get(EXIF_DATETIME)
    except Exception:
        return None
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return text if text else type(error).__name__


class ThumbnailCache:
    """JPEG thumbnails on disk, named by the photo's content hash, so an edited
    photo gets a new one and identical copies share one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, content: bytes) -> Path:
        name = content.hex()
        return self.folder / name[:2] / f"{name}.jpg"

    def __contains__(self, content: bytes) -> bool:
        return self.path(content).exists()

    def store(self, content: bytes, jpeg: bytes) -> Path:
        target = self.path(content)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_bytes(jpeg)
        os.replace(temporary, target)
        return target
