"""Render the desktop icons in resources/icons from the window's SVG icon:
`QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/render_icons.py`.

The window's drawing (app/lookalike/gui/icons/lookalike.svg) stays the one
source; run this again whenever it changes and commit the results."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

REPO = Path(__file__).resolve().parent.parent
DRAWING = REPO / "app" / "lookalike" / "gui" / "icons" / "lookalike.svg"
ICONS = REPO / "resources" / "icons"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def render(renderer: QSvgRenderer, side: int) -> QImage:
    image = QImage(side, side, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt's painting needs one
    renderer = QSvgRenderer(str(DRAWING))
    if not renderer.isValid():
        print(f"cannot read {DRAWING}", file=sys.stderr)
        return 1
    ICONS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DRAWING, ICONS / "lookalike.svg")
    for side in SIZES:
        target = ICONS / f"lookalike-{side}.png"
        if not render(renderer, side).save(str(target)):
            print(f"cannot write {target}", file=sys.stderr)
            return 1
        print(target.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
