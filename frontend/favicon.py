"""Draw ``favicon.ico`` from ``favicon.svg`` (16, 32 and 48 pixels) with Debian Chromium.

``.venv/bin/python frontend/favicon.py`` after changing the SVG: browsers and feed readers
still ask for ``/favicon.ico`` first, and older ones cannot read an SVG icon.  Each size is
the SVG rasterised by Chromium (through Playwright, as in the browser tests) on a
transparent background and stored as PNG inside the ICO (allowed since Windows Vista).
"""

from __future__ import annotations

import base64
import struct
import sys
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "src" / "shequ" / "web" / "static"
CHROMIUM = "/usr/bin/chromium"
SIZES = (16, 32, 48)


def ico(pngs: dict[int, bytes]) -> bytes:
    """An ICO file holding each ``{size: PNG}`` image (32-bit, square)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))  # reserved, type 1 = icon, count
    offset = len(header) + 16 * len(pngs)
    entries, images = b"", b""
    for size, png in sorted(pngs.items()):
        # width, height (0 means 256), palette size, reserved, planes, bits per pixel
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(png),
                               offset + len(images))
        images += png
    return header + entries + images


def rasterise(svg: bytes, sizes: tuple[int, ...] = SIZES) -> dict[int, bytes]:
    """``svg`` drawn by Chromium at each size, as PNG with a transparent background."""
    from playwright.sync_api import sync_playwright

    source = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
    out: dict[int, bytes] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for size in sizes:
            page = browser.new_page(viewport={"width": size, "height": size})
            page.set_content(f'<body style="margin:0"><img src="{source}" width="{size}" '
                             f'height="{size}" style="display:block"></body>')
            page.wait_for_function("document.images[0].complete")
            out[size] = page.screenshot(omit_background=True)
            page.close()
        browser.close()
    return out


def main() -> int:
    """Write ``static/favicon.ico`` from ``static/favicon.svg``."""
    svg = (STATIC / "favicon.svg").read_bytes()
    (STATIC / "favicon.ico").write_bytes(ico(rasterise(svg)))
    print(f"favicon: wrote {STATIC / 'favicon.ico'} ({', '.join(map(str, SIZES))} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
