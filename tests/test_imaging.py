"""One decode per photo: formats, orientation, odd pixel modes, limits, and a
model input that matches the reference preprocessing."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import make_photo, photo_pixels
from lookalike.core import imaging
from lookalike.core.imaging import InputSpec, PhotoError, decode, read_photo_file

SPEC = InputSpec(size=224, mean=(0.48, 0.46, 0.41), std=(0.27, 0.26, 0.28))
FORMATS = ["jpg", "png", "webp", "gif", "bmp", "tiff", "heic", "avif"]


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_supported_format_decodes(tmp_path, suffix):
    path = make_photo(tmp_path / f"photo.{suffix}", "green", size=(300, 200))
    decoded = decode(read_photo_file(path), SPEC)
    assert (decoded.width, decoded.height) == (300, 200)
    assert decoded.pixels.shape == (3, 224, 224)
    assert decoded.pixels.dtype == np.float32
    thumbnail = Image.open(io.BytesIO(decoded.thumbnail))
    assert thumbnail.format == "JPEG" and thumbnail.size == (300, 200)

    green = np.array(thumbnail).reshape(-1, 3).mean(axis=0)
    assert green[1] > green[0] + 60 and green[1] > green[2] + 60


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_before_anything_else(tmp_path, orientation):
    # Left half red, right half blue, as stored; EXIF says how to show it.
    pixels = np.zeros((200, 400, 3), np.uint8)
    pixels[:, :200] = (220, 20, 20)
    pixels[:, 200:] = (20, 20, 220)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "turned.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)

    decoded = decode(read_photo_file(path), SPEC)
    thumb = np.asarray(Image.open(io.BytesIO(decoded.thumbnail)), dtype=np.float64)
    if orientation == 3:  # turned half way: blue now on the left
        assert (decoded.width, decoded.height) == (400, 200)
        assert thumb[:, :10, 2].mean() > thumb[:, :10, 0].mean()
    else:  # a quarter turn: portrait, red at the top (6) or the bottom (8)
        assert (decoded.width, decoded.height) == (200, 400)
        top, bottom = thumb[:10], thumb[-10:]
        red_end, blue_end = (top, bottom) if orientation == 6 else (bottom, top)
        assert red_end[..., 0].mean() > red_end[..., 2].mean()
        assert blue_end[..., 2].mean() > blue_end[..., 0].mean()


def test_large_jpegs_are_decoded_at_a_reduced_scale(tmp_path, monkeypatch):
    path = tmp_path / "camera.jpg"
    Image.fromarray(photo_pixels("blue", (4000, 3000))).save(path, quality=85)
    sizes = []
    real = imaging._as_rgb

    def spy(image: Image.Image) -> Image.Image:
        sizes.append(image.size)
        return real(image)

    monkeypatch.setattr(imaging, "_as_rgb", spy)
    decoded = decode(read_photo_file(path), SPEC)
    assert (decoded.width, decoded.height) == (4000, 3000)
    assert sizes == [(500, 375)]  # 1/8 scale still covers 224 and the 320 thumbnail


def test_model_input_matches_the_reference_preprocessing(tmp_path):
    """Resize the short side with bicubic, cut the centre, scale, normalise."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 255, (180, 260, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(pixels).save(path)

    got = decode(read_photo_file(path), SPEC).pixels

    resized = Image.fromarray(pixels).resize((323, 224), Image.Resampling.BICUBIC)
    left = round((323 - 224) / 2)
    cut = np.asarray(resized.crop((left, 0, left + 224, 224)), np.float32) / 255.0
    want = ((cut - np.array(SPEC.mean)) / np.array(SPEC.std)).transpose(2, 0, 1)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_squash_and_longest_resize_modes(tmp_path):
    path = make_photo(tmp_path / "wide.png", "red", size=(400, 100))
    data = read_photo_file(path)
    squash = InputSpec(64, (0.5,) * 3, (0.5,) * 3, resize_mode="squash", pixel_type="uint8")
    assert decode(data, squash).pixels.shape == (64, 64, 3)
    longest = InputSpec(64, (0.5,) * 3, (0.5,) * 3, resize_mode="longest", pixel_type="uint8")
    padded = decode(data, longest).pixels
    assert padded.shape == (64, 64, 3)
    assert padded[0, 0].tolist() == [0, 0, 0]  # the fill above the photo
    assert padded[32, 32, 0] > 150  # the photo itself


@pytest.mark.parametrize(
    "mode, fill",
    [("CMYK", (0, 255, 255, 0)), ("I;16", 40000), ("LA", (128, 255)), ("L", 200), ("1", 1)],
)
def test_unusual_pixel_modes_become_rgb(tmp_path, mode, fill):
    path = tmp_path / f"mode.{'tiff' if mode in ('CMYK', 'I;16') else 'png'}"
    Image.new(mode, (64, 48), fill).save(path)
    decoded = decode(read_photo_file(path), SPEC)
    thumbnail = np.asarray(Image.open(io.BytesIO(decoded.thumbnail)))
    assert thumbnail.shape == (48, 64, 3)
    if mode == "I;16":  # scaled into 8 bits rather than clipped to white
        assert 140 < thumbnail.mean() < 170


def test_transparency_is_laid_over_white(tmp_path):
    image = Image.new("P", (32, 32), 0)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.info["transparency"] = 0
    path = tmp_path / "clear.png"
    image.save(path, transparency=0)
    thumbnail = np.asarray(Image.open(io.BytesIO(decode(read_photo_file(path), SPEC).thumbnail)))
    assert thumbnail.min() > 240


def test_animated_images_use_their_first_frame(tmp_path):
    frames = [Image.new("RGB", (40, 40), c) for c in ((230, 20, 20), (20, 20, 230))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    thumbnail = np.asarray(Image.open(io.BytesIO(decode(read_photo_file(path), SPEC).thumbnail)))
    assert thumbnail[..., 0].mean() > thumbnail[..., 2].mean()


def test_taken_at_comes_from_exif(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2019:07:14 18:30:05"
    path = tmp_path / "dated.jpg"
    Image.fromarray(photo_pixels("white", (64, 64))).save(path, exif=exif)
    assert decode(read_photo_file(path), SPEC).taken_at == "2019-07-14T18:30:05"
    plain = make_photo(tmp_path / "plain.jpg", "white")
    assert decode(read_photo_file(plain), SPEC).taken_at is None


def test_reading_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(PhotoError, match="not a regular file"):
        read_photo_file(tmp_path / "pipe.jpg")
    with pytest.raises(PhotoError, match="disappeared"):
        read_photo_file(tmp_path / "gone.jpg")
    with pytest.raises(PhotoError, match="not a regular file"):
        read_photo_file(tmp_path)


def test_thumbnail_cache_is_keyed_by_content(tmp_path):
    cache = imaging.ThumbnailCache(tmp_path / "thumbs")
    key = imaging.content_hash(b"photo bytes")
    assert key not in cache
    stored = cache.store(key, b"jpeg")
    assert key in cache and stored.read_bytes() == b"jpeg"
    assert imaging.content_hash(b"edited bytes") not in cache
    assert not list(stored.parent.glob("*.tmp"))


@pytest.fixture(scope="module")
def seed_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo_pixels("orange", (96, 64))).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_files_never_escape_as_anything_but_photo_errors(seed_jpeg, data):
    """Flipped, cut and spliced bytes either decode or raise PhotoError."""
    raw = bytearray(seed_jpeg)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(raw)))
    mutated = bytes(raw[:cut])
    try:
        decoded = decode(mutated, SPEC)
    except PhotoError as error:
        assert str(error)
    else:
        assert decoded.pixels.shape == (3, 224, 224)
        assert np.isfinite(decoded.pixels).all()


def test_input_spec_from_config_validates():
    spec = InputSpec.from_config({"size": [256, 256], "mean": [0.1] * 3, "std": [0.2] * 3})
    assert spec.size == 256 and spec.resize_mode == "shortest"
    with pytest.raises(ValueError, match="interpolation"):
        InputSpec.from_config({"interpolation": "magic"})
    with pytest.raises(ValueError, match="three non-zero"):
        InputSpec.from_config({"std": [0, 1, 1]})


def test_a_huge_panorama_is_decoded_small(tmp_path):
    path = tmp_path / "panorama.jpg"
    Image.fromarray(photo_pixels("blue", (16000, 1200))).save(path, quality=80)
    decoded = decode(read_photo_file(path), SPEC)
    assert (decoded.width, decoded.height) == (16000, 1200)
    assert decoded.pixels.shape == (3, 224, 224)
    assert Image.open(io.BytesIO(decoded.thumbnail)).size == (320, 24)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file whatever its mode")
def test_an_unreadable_file_says_permission_denied(tmp_path):
    path = make_photo(tmp_path / "private.jpg", "red")
    path.chmod(0)
    with pytest.raises(PhotoError, match="permission denied"):
        read_photo_file(path)
