"""Files browsers ask for at fixed addresses: ``/favicon.ico``.

The icon is Shequ's mark (a house, in the brand red): ``/static/favicon.svg`` for pages'
``<link rel="icon">``, and ``favicon.ico`` (drawn from the SVG by ``frontend/favicon.py``)
at the root, where browsers look when a page names none.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).with_name("static")
FAVICON_ICO = STATIC_DIR / "favicon.ico"
FAVICON_SVG_URL = "/static/favicon.svg"
ICO_MEDIA_TYPE = "image/vnd.microsoft.icon"  # IANA's registered type for ICO

router = APIRouter(include_in_schema=False)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The ICO icon (16, 32 and 48 px), cached for a day."""
    return FileResponse(FAVICON_ICO, media_type=ICO_MEDIA_TYPE,
                        headers={"Cache-Control": "public, max-age=86400"})
