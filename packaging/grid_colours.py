"""Name the colours of the thumbnails in the first row of a screenshot of the
window, left to right: `python grid_colours.py window.png` prints
`red red yellow blue`. packaging/smoke-test uses it to see that a search for
"red" put the red photos first, without knowing the grid's layout."""

from __future__ import annotations

import sys

from PIL import Image

NAMES = {
    "red": (220, 30, 30), "green": (40, 170, 50), "blue": (40, 70, 220),
    "yellow": (240, 215, 40), "purple": (130, 50, 170), "orange": (245, 140, 30),
}  # fmt: skip
MIN_WIDTH = 32  # narrower coloured runs are icons, text or the focus frame


def is_coloured(pixel: tuple[int, int, int]) -> bool:
    return max(pixel) - min(pixel) > 90


def coloured_runs(image: Image.Image, y: int) -> list[tuple[int, int]]:
    """The stretches of strongly coloured pixels along one row of the image."""
    runs, start = [], None
    for x in range(image.width):
        inside = is_coloured(image.getpixel((x, y)))
        if inside and start is None:
            start = x
        if start is not None and (not inside or x == image.width - 1):
            if x - start >= MIN_WIDTH:
                runs.append((start, x))
            start = None
    return runs


def name(image: Image.Image, y: int, run: tuple[int, int]) -> str:
    pixels = [image.getpixel((x, y)) for x in range(*run)]
    mean = [sum(channel) / len(pixels) for channel in zip(*pixels, strict=True)]
    return min(
        NAMES,
        key=lambda colour: sum((a - b) ** 2 for a, b in zip(mean, NAMES[colour], strict=True)),
    )


def first_row(image: Image.Image) -> list[str]:
    """The colours across the first row that has at least two thumbnails,
    read a few pixels below its top edge."""
    for y in range(image.height):
        if len(coloured_runs(image, y)) >= 2:
            middle = min(y + 8, image.height - 1)
            return [name(image, middle, run) for run in coloured_runs(image, middle)]
    return []


def main() -> int:
    with Image.open(sys.argv[1]) as screenshot:
        print(" ".join(first_row(screenshot.convert("RGB"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
