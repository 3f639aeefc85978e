"""Photos of service requests over HTTP: ``GET /media/requests/{token}.jpg`` and
``GET /media/requests/{token}/thumb.jpg``.

A photo is served to whoever may see its request (everyone, for public kinds: cached
publicly; otherwise the reporter and staff over its division: never cached by others).
Every other caller, and every unknown token, gets the same 404.  Uploads go through
``POST /api/v1/service-requests/{id}/photos`` (:mod:`shequ.api.services`) and Open311's
``media`` field (:mod:`shequ.api.open311`); both describe photos with :class:`PhotoOut`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from shequ.context import Context
from shequ.http.caller import OptionalUser
from shequ.http.deps import ContextDep, SessionDep
from shequ.http.problems import error_responses
from shequ.http.urls import photo_url
from shequ.services.requests import load_request_catalog, media
from shequ.services.requests.definitions import RequestCatalog
from shequ.services.requests.open311 import w3c

router = APIRouter(tags=["services"])

# A day in shared caches for public photos: a photo never changes under its token.
PUBLIC_CACHE = "public, max-age=86400"
PRIVATE_CACHE = "private, no-store"
Token = Annotated[str, Path(pattern=media.TOKEN_PATTERN, description="the photo's token")]
_IMAGE = {200: {"description": "the photo as JPEG",
                "content": {"image/jpeg": {"schema": {"type": "string",
                                                      "format": "binary"}}}},
          **error_responses(404, 422)}


class PhotoOut(BaseModel):
    """A photo of a request: where to fetch it and its thumbnail, and its size."""

    id: int
    url: str
    thumbnail_url: str
    content_type: str
    bytes: int
    width: int
    height: int
    kept_location: bool
    created_at: str


def photo_out(http: Request, photo: media.Photo) -> PhotoOut:
    """A stored photo as the JSON API describes it."""
    return PhotoOut(id=photo.id, url=photo_url(http, photo.token),
                    thumbnail_url=photo_url(http, photo.token, thumbnail=True),
                    content_type=photo.content_type, bytes=photo.bytes, width=photo.width,
                    height=photo.height, kept_location=photo.kept_location,
                    created_at=w3c(photo.created_at) or "")


async def _catalog(request: Request) -> RequestCatalog:
    # async and straight from the app: no thread-pool hop for a cached, immutable catalog
    ctx: Context = request.app.state.ctx
    return load_request_catalog(ctx.settings.catalog_dir)


def _serve(ctx: Context, session: SessionDep, catalog: RequestCatalog, user: OptionalUser,
           token: str, *, thumbnail: bool) -> FileResponse:
    found = media.photo_file(session, user, token, catalog=catalog,
                             store=media.PhotoStore.of(ctx.settings), thumbnail=thumbnail)
    return FileResponse(found.path, media_type=found.content_type, headers={
        "Cache-Control": PUBLIC_CACHE if found.public else PRIVATE_CACHE})


@router.get("/media/requests/{token}.jpg", name="request_photo", response_class=FileResponse,
            responses=_IMAGE)
def request_photo(token: Token, ctx: ContextDep, session: SessionDep,
                  catalog: Annotated[RequestCatalog, Depends(_catalog)],
                  user: OptionalUser) -> FileResponse:
    """A photo of a service request (metadata stripped, upright)."""
    return _serve(ctx, session, catalog, user, token, thumbnail=False)


@router.get("/media/requests/{token}/thumb.jpg", name="request_photo_thumbnail",
            response_class=FileResponse, responses=_IMAGE)
def request_photo_thumbnail(token: Token, ctx: ContextDep, session: SessionDep,
                            catalog: Annotated[RequestCatalog, Depends(_catalog)],
                            user: OptionalUser) -> FileResponse:
    """The thumbnail of a photo (320 pixels on its long side)."""
    return _serve(ctx, session, catalog, user, token, thumbnail=True)
