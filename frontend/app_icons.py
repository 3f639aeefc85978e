"""Draw the installed app's icons (``static/icon-192.png``, ``static/icon-512.png``) from
Shequ's mark in ``favicon.svg``: the white house on the brand red.

``.venv/bin/python frontend/app_icons.py`` after changing the mark.  The icons are
*maskable*: the red fills the whole square (a phone cuts its own shape from it) and the
house stays inside the central circle of 80 % that every mask keeps.  Drawn with Pillow,
four times larger then reduced, so the edges are smooth.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

STATIC = Path(__file__).resolve().parent.parent / "src" / "shequ" / "web" / "static"
RED = "#b42318"
WHITE = "#ffffff"
SIZES = (192, 512)
# favicon.svg's shapes on its 64-unit square: the house, its door and its two windows.
HOUSE = [(32, 9), (56, 30), (49, 30), (49, 54), (15, 54), (15, 30), (8, 30)]
HOLES = [[(27, 54), (27, 40), (37, 40), (37, 54)],
         [(19, 35), (25, 35), (25, 41), (19, 41)],
         [(39, 35), (45, 35), (45, 41), (39, 41)]]
HOUSE_SHARE = 0.55  # of the icon's side: inside the maskable safe circle


def icon(size: int) -> Image.Image:
    """The icon ``size`` pixels square."""
    big = size * 4
    image = Image.new("RGB", (big, big), RED)
    draw = ImageDraw.Draw(image)
    scale = HOUSE_SHARE * big / 48  # the house is 48 units wide (8 to 56)
    dx, dy = big / 2 - 32 * scale, big / 2 - 31.5 * scale  # its centre on the icon's

    def placed(points: list[tuple[int, int]]) -> list[tuple[float, float]]:
        return [(dx + x * scale, dy + y * scale) for x, y in points]

    draw.polygon(placed(HOUSE), fill=WHITE)
    for hole in HOLES:
        draw.polygon(placed(hole), fill=RED)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    """Write each size's PNG."""
    for size in SIZES:
        icon(size).save(STATIC / f"icon-{size}.png", optimize=True)


if __name__ == "__main__":
    main()
