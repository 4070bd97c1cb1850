"""A PNG picture of the library map: one dot per track, coloured by mix (Pillow)."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.errors import ParameterError

WIDTH, HEIGHT, LEGEND = 1000, 1000, 320
MARGIN = 24
LEGEND_ROWS = 40


def palette(count: int) -> np.ndarray:
    """``count`` distinct RGB colours ``(count, 3)`` uint8 (golden-ratio hues)."""
    hues = (np.arange(count) * 0.618033988749895) % 1.0
    rows = [colorsys.hsv_to_rgb(h, 0.75 if i % 2 else 0.55, 0.85 if i % 3 else 0.65)
            for i, h in enumerate(hues)]
    return (np.asarray(rows).reshape(-1, 3) * 255).astype(np.uint8)


def render_map(path: Path, xy: np.ndarray, labels: np.ndarray, names: Sequence[str], *,
               radius: int = 2) -> Path:
    """Draw points ``xy`` ``(n, 2)`` in ``[-1, 1]`` coloured by ``labels`` into a PNG.

    ``names[i]`` is the legend entry of label ``i``.
    """
    from PIL import Image, ImageDraw, ImageFont

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ParameterError("the map picture is written as PNG: give a .png file")
    image = Image.new("RGB", (WIDTH + LEGEND, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    colours = palette(max(1, len(names)))
    span = np.array([WIDTH, HEIGHT]) / 2 - MARGIN
    pixels = np.round((np.asarray(xy, np.float64) * [1, -1] + 1) * span + MARGIN).astype(int)
    for (x, y), label in zip(pixels, labels, strict=True):
        draw.ellipse((x - radius, y - radius, x + radius, y + radius),
                     fill=tuple(int(c) for c in colours[int(label)]))
    font = ImageFont.load_default(size=14)
    for row, name in enumerate(names[:LEGEND_ROWS]):
        top = MARGIN + row * 24
        draw.rectangle((WIDTH + 8, top + 3, WIDTH + 20, top + 15),
                       fill=tuple(int(c) for c in colours[row]))
        draw.text((WIDTH + 28, top), name[:36], fill="black", font=font)
    if len(names) > LEGEND_ROWS:
        draw.text((WIDTH + 28, MARGIN + LEGEND_ROWS * 24),
                  f"... and {len(names) - LEGEND_ROWS} more", fill="black", font=font)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG")
    except OSError as exc:
        raise ParameterError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path
