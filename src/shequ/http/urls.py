"""Addresses of this server's own resources, as the caller reaches it (for JSON answers
and pages alike)."""

from __future__ import annotations

from fastapi import Request


def photo_url(http: Request, token: str, *, thumbnail: bool = False) -> str:
    """The absolute URL of a photo (or of its thumbnail), as this server is reached."""
    return str(http.url_for("request_photo_thumbnail" if thumbnail else "request_photo",
                            token=token))
