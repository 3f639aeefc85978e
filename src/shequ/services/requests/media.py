"""Photos of service requests: checked, stripped, turned upright, thumbnailed and stored.

A photo is accepted when its *bytes* are a JPEG or PNG image (the name and the declared
type are not trusted) of at most ``max_bytes`` bytes and :data:`MAX_PIXELS` pixels (a
small file that decodes into a huge image — a decompression bomb — is refused before it
is decoded); a request holds at most :data:`MAX_PHOTOS_PER_REQUEST`.  Every photo is
re-encoded as a JPEG: its EXIF orientation is applied to the pixels, and nothing of its
metadata survives (camera, time, comments, XMP) except, when the sender asks, its GPS
position.  A thumbnail of :data:`THUMBNAIL_PX` pixels on the long side goes beside it.

Files live under the data folder, ``media/requests/<request id>/<token>.jpg`` and
``<token>.thumb.jpg``, where the token is random (192 bits) and is the only name a URL
gives; each file is served only to those who may see its request (a public kind's
photos are public like the request), see :func:`photo_file`.

Layers: :func:`prepare_photo` is pure (bytes in, bytes out); :class:`PhotoStore` and
:func:`add_photos` write the files and the rows (files of a transaction that rolls back
are removed); :func:`attach_photos` adds the permission rules of the request.  Callers
hand in plain :class:`PhotoUpload` values (bytes, file name, declared type) and get
:class:`Photo` values back, so a page handler calls them as the JSON API does.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from sqlalchemy import Select, event, exists, func, select
from sqlalchemy.orm import Session, SessionTransaction

from shequ.errors import AccessDenied, ConflictError, NotFoundError, Problem, ValidationError
from shequ.services.accounts import User, audit, can_handle
from shequ.services.requests.definitions import RequestCatalog
from shequ.services.requests.models import RequestStatus, ServiceRequest, ServiceRequestPhoto
from shequ.services.requests.service import (
    aware,
    can_view,
    get_request,
    require_view,
    utcnow,
)
from shequ.settings import Settings

MAX_PHOTOS_PER_REQUEST = 4
# A 50-megapixel phone photo (8160 × 6120) passes; decoding one takes about 150 MB.
MAX_PIXELS = 50_000_000
THUMBNAIL_PX = 320
JPEG_QUALITY = 85
THUMBNAIL_QUALITY = 80
STORED_TYPE = "image/jpeg"
# Pillow's names of what the bytes are; its JPEG reader calls the multi-picture JPEG of
# many phones MPO.
ACCEPTED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG"}
TOKEN_BYTES = 24  # 32 URL-safe characters
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{32}$"  # noqa: S105 (the shape of a photo token, not a secret)
_FORMAT_HINT = "send a JPEG or PNG photo (the file name's extension is not enough)"
_PIXELS_HINT = f"send a photo of at most {MAX_PIXELS // 1_000_000} megapixels"


@dataclass(frozen=True, slots=True)
class PhotoUpload:
    """A file as a client sent it; only ``content`` is trusted, after checking."""

    content: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedPhoto:
    """A checked photo re-encoded for storage, and its thumbnail (both JPEG)."""

    image: bytes
    thumbnail: bytes
    width: int
    height: int
    source_format: str  # JPEG or PNG, as the bytes said
    kept_location: bool  # the stored image carries the sender's GPS position


@dataclass(frozen=True, slots=True)
class Photo:
    """A stored photo of a request."""

    id: int
    request_id: int
    token: str
    content_type: str
    bytes: int
    width: int
    height: int
    kept_location: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, row: ServiceRequestPhoto) -> Photo:
        """The photo a table row describes."""
        return cls(id=row.id, request_id=row.request_id, token=row.token,
                   content_type=row.content_type, bytes=row.bytes, width=row.width,
                   height=row.height, kept_location=row.kept_location,
                   created_at=aware(row.created_at))


@dataclass(frozen=True, slots=True)
class PhotoFile:
    """A photo's file to send, and whether anyone may see it (caching: public or not)."""

    path: Path
    content_type: str
    public: bool


def _where(upload: PhotoUpload, number: int) -> str:
    return f"photo {number}" + (f" ({upload.filename})" if upload.filename else "")


def _megabytes(limit: int) -> str:
    return f"{limit / (1 << 20):g} MB"


def prepare_photo(upload: PhotoUpload, *, max_bytes: int, keep_location: bool = False,
                  number: int = 1) -> PreparedPhoto:
    """Check ``upload`` and re-encode it for storage (see the module docstring).

    ``number`` names the photo in problems (``photo 2 (IMG_0001.jpg)``).  Raises
    ValidationError with one Problem (column ``photo``) saying what is wrong and how to
    send a photo that is accepted.
    """
    where = _where(upload, number)
    named = {"photo": upload.filename or f"#{number}"}

    def refuse(code: str, reason: str, hint: str, **params: object) -> ValidationError:
        return ValidationError([Problem(where, reason, column="photo", hint=hint,
                                        code=f"photo_{code}", params={**named, **params})],
                               summary="photo rejected")

    data = upload.content
    if not data:
        raise refuse("empty", "is empty", _FORMAT_HINT)
    if len(data) > max_bytes:
        raise refuse("too_large",
                     f"is larger than {_megabytes(max_bytes)}, the most a photo may have",
                     f"send a photo of at most {_megabytes(max_bytes)} (a phone's "
                     "'large' or 'medium' size is enough)",
                     limit_mb=f"{max_bytes / (1 << 20):g}")
    try:
        # Only the header is read here: the pixels are decoded by load(), after the check.
        image = Image.open(io.BytesIO(data), formats=("JPEG", "PNG"))
    except UnidentifiedImageError:
        raise refuse("not_jpeg_or_png", "is not a JPEG or PNG image", _FORMAT_HINT) from None
    except Image.DecompressionBombError:
        raise refuse("too_many_pixels", f"would decode into more than {MAX_PIXELS:,} pixels",
                     _PIXELS_HINT, max_megapixels=MAX_PIXELS // 1_000_000) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise refuse("damaged", f"cannot be read as an image ({exc})", _FORMAT_HINT) from None
    with image:
        source_format = ACCEPTED_FORMATS.get(image.format or "")
        if source_format is None:
            raise refuse("not_jpeg_or_png", "is not a JPEG or PNG image", _FORMAT_HINT)
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise refuse("too_many_pixels", f"is {width} × {height} pixels, more than the "
                         f"{MAX_PIXELS:,} accepted", _PIXELS_HINT,
                         max_megapixels=MAX_PIXELS // 1_000_000)
        try:
            image.load()
            return _reencode(image, source_format, keep_location=keep_location)
        except (OSError, SyntaxError, ValueError) as exc:
            raise refuse("damaged", f"is damaged or incomplete ({exc})",
                         "send the photo again, as the camera saved it") from None


def _reencode(image: Image.Image, source_format: str, *, keep_location: bool
              ) -> PreparedPhoto:
    """``image`` upright, in RGB, without metadata (GPS kept when asked), as JPEG bytes,
    and its thumbnail."""
    gps = dict(image.getexif().get_ifd(ExifTags.IFD.GPSInfo)) if keep_location else {}
    icc = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA") else None
    upright = ImageOps.exif_transpose(image) or image
    rgb = _flatten(upright)
    # convert() copies ``info`` (EXIF, XMP, comments), and the JPEG writer would take
    # the comment from it: the stored image starts with none.
    rgb.info = {}
    extra: dict[str, Any] = {"icc_profile": icc} if icc else {}
    exif = Image.Exif()
    if gps:
        exif[ExifTags.Base.Orientation] = 1  # the pixels are upright now
        exif[ExifTags.IFD.GPSInfo] = gps
    stored = io.BytesIO()
    rgb.save(stored, "JPEG", quality=JPEG_QUALITY, optimize=True,
             exif=exif.tobytes() if gps else b"", **extra)
    thumb = rgb.copy()
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS, reducing_gap=3.0)
    small = io.BytesIO()
    thumb.save(small, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True, **extra)
    return PreparedPhoto(image=stored.getvalue(), thumbnail=small.getvalue(),
                         width=rgb.width, height=rgb.height, source_format=source_format,
                         kept_location=bool(gps))


def _flatten(image: Image.Image) -> Image.Image:
    """RGB pixels of ``image``; transparent parts become white (JPEG has no alpha)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P"
                                               and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey (scientific PNGs): scaled to 8 bits, not clipped.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    return image.convert("RGB")


def prepare_photos(uploads: Sequence[PhotoUpload], *, max_bytes: int,
                   keep_location: bool = False, already: int = 0) -> list[PreparedPhoto]:
    """:func:`prepare_photo` for each upload; one ValidationError names every refused
    photo, and too many photos (``already`` stored plus these) are refused first."""
    if not uploads:
        raise ValidationError([Problem("photos", "no photo was sent", column="photo",
                                       hint="attach JPEG or PNG files in the field "
                                       "'photos'", code="photo_none")],
                              summary="photo rejected")
    if already + len(uploads) > MAX_PHOTOS_PER_REQUEST:
        room = max(0, MAX_PHOTOS_PER_REQUEST - already)
        raise ValidationError([Problem(
            "photos", f"a request has at most {MAX_PHOTOS_PER_REQUEST} photos; it has "
            f"{already} and {len(uploads)} more were sent", column="photo",
            hint=f"send at most {room} more" if room else "it has all the photos it may "
            "have", code="photo_too_many", params={
                "max": MAX_PHOTOS_PER_REQUEST, "existing": already, "sent": len(uploads)})],
            summary="photo rejected")
    prepared: list[PreparedPhoto] = []
    problems: list[Problem] = []
    for number, upload in enumerate(uploads, start=1):
        try:
            prepared.append(prepare_photo(upload, max_bytes=max_bytes,
                                          keep_location=keep_location, number=number))
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValidationError(problems, summary="photo rejected")
    return prepared


@dataclass(frozen=True, slots=True)
class PhotoStore:
    """Where photos are written and how many and how large they may be."""

    root: Path  # <data folder>/media/requests
    max_bytes: int = 8 << 20
    max_photos: int = MAX_PHOTOS_PER_REQUEST

    @classmethod
    def of(cls, settings: Settings) -> PhotoStore:
        """The store of a deployment: under its data folder, its size limit."""
        return cls(root=settings.data_dir / "media" / "requests",
                   max_bytes=settings.max_photo_bytes)

    def path(self, request_id: int, token: str, *, thumbnail: bool = False) -> Path:
        """The file of a photo (or of its thumbnail)."""
        return self.root / str(request_id) / (f"{token}.thumb.jpg" if thumbnail
                                              else f"{token}.jpg")


_UNCOMMITTED = "shequ.requests.media.uncommitted"


def _remember_until_commit(session: Session, paths: Sequence[Path]) -> None:
    """Remove ``paths`` if the session's transaction ends without committing."""
    if not event.contains(session, "after_transaction_end", _remove_uncommitted):
        event.listen(session, "after_commit", _forget_committed)
        event.listen(session, "after_transaction_end", _remove_uncommitted)
    session.info.setdefault(_UNCOMMITTED, []).extend(paths)


def _forget_committed(session: Session) -> None:
    session.info.pop(_UNCOMMITTED, None)


def _remove_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint: the outer transaction may still commit
    for path in session.info.pop(_UNCOMMITTED, []):
        path.unlink(missing_ok=True)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)  # readers never see half a file


def add_photos(session: Session, store: PhotoStore, request_id: int,
               photos: Sequence[PreparedPhoto], *, created_by: User | None,
               now: dt.datetime | None = None) -> list[Photo]:
    """Write prepared photos of a request and their rows, with no permission check (the
    caller decided: :func:`attach_photos`, or the submission that creates the request).

    The files are removed again if the session's transaction does not commit.
    """
    when = now or utcnow()
    rows = []
    for photo in photos:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        image, thumbnail = (store.path(request_id, token),
                            store.path(request_id, token, thumbnail=True))
        _remember_until_commit(session, [image, thumbnail])
        _write(image, photo.image)
        _write(thumbnail, photo.thumbnail)
        row = ServiceRequestPhoto(
            request_id=request_id, token=token, content_type=STORED_TYPE,
            bytes=len(photo.image), width=photo.width, height=photo.height,
            kept_location=photo.kept_location, created_at=when,
            created_by_id=created_by.id if created_by else None)
        session.add(row)
        rows.append(row)
    session.flush()
    return [Photo.of(r) for r in rows]


def photo_count(session: Session, request_id: int) -> int:
    """How many photos a request has."""
    return session.scalar(select(func.count()).select_from(ServiceRequestPhoto).where(
        ServiceRequestPhoto.request_id == request_id)) or 0


def attach_photos(session: Session, user: User, request_id: int,
                  files: Sequence[PhotoUpload], keep_location: bool = False, *,
                  catalog: RequestCatalog, store: PhotoStore,
                  now: dt.datetime | None = None) -> list[Photo]:
    """Add photos to a request as ``user``: its reporter or a handler over its
    responsible division, while it is not closed; audited.

    NotFoundError when ``user`` may not see the request (its existence is private),
    AccessDenied when they may see it but not add to it, ConflictError once it is
    closed, ValidationError for the photos themselves (:func:`prepare_photos`).
    """
    request = get_request(session, request_id)
    definition = catalog.service(request.service_code)
    require_view(user, request, definition)
    reporter = request.submitter_id is not None and request.submitter_id == user.id
    if not reporter and not can_handle(user, request.responsible_code):
        raise AccessDenied("only the resident who reported a request and the staff "
                           "handling it may add photos to it", code="photo_not_allowed")
    if request.status == RequestStatus.CLOSED.value:
        raise ConflictError(f"request {request_id} is closed; reopen it to add photos",
                            code="photo_request_closed", params={"request_id": request_id})
    prepared = prepare_photos(files, max_bytes=store.max_bytes, keep_location=keep_location,
                              already=photo_count(session, request_id))
    photos = add_photos(session, store, request_id, prepared, created_by=user, now=now)
    audit(session, user=user, action="attach_photos", entity="service_request",
          entity_id=request_id, detail={
              "photo_ids": [p.id for p in photos], "kept_location": keep_location,
              "declared_types": [f.content_type for f in files]})
    return photos


def with_photo_flag(query: Select[Any]) -> Select[Any]:
    """``query`` (of requests) with one more column: whether the request has a photo.

    Lists read it so that they ask for photos only when some row has one: most have
    none, and the second query would cost a round trip on every page of the list.
    """
    return query.add_columns(exists().where(ServiceRequestPhoto.request_id
                                            == ServiceRequest.id).label("has_photo"))


def photos_of(session: Session, request_ids: Sequence[int]) -> dict[int, list[Photo]]:
    """The photos of each request, oldest first (requests without any are left out).

    The caller has checked that the requests may be seen.
    """
    if not request_ids:
        return {}
    found: dict[int, list[Photo]] = {}
    for row in session.scalars(select(ServiceRequestPhoto)
                               .where(ServiceRequestPhoto.request_id.in_(set(request_ids)))
                               .order_by(ServiceRequestPhoto.request_id,
                                         ServiceRequestPhoto.id)):
        found.setdefault(row.request_id, []).append(Photo.of(row))
    return found


def photo_file(session: Session, user: User | None, token: str, *,
               catalog: RequestCatalog, store: PhotoStore,
               thumbnail: bool = False) -> PhotoFile:
    """The file of the photo named ``token`` (or its thumbnail) for ``user``.

    Served when ``user`` may see the request (everyone, for public kinds); otherwise,
    and for unknown tokens, NotFoundError — the same answer, so a token reveals
    nothing.  A view of a photo of a non-public request is audited.
    """
    missing = NotFoundError("no such photo", code="photo_not_found")
    row = session.scalar(select(ServiceRequestPhoto)
                         .where(ServiceRequestPhoto.token == token))
    if row is None:
        raise missing
    request = session.get(ServiceRequest, row.request_id)
    definition = catalog.services.get(request.service_code) if request else None
    if request is None or definition is None or not can_view(user, request, definition):
        raise missing
    path = store.path(request.id, token, thumbnail=thumbnail)
    if not path.is_file():
        raise missing
    if not definition.public:
        audit(session, user=user, action="read_personal", entity="service_request",
              entity_id=request.id, detail={"field": "photo", "photo_id": row.id,
                                            "thumbnail": thumbnail})
    return PhotoFile(path=path, content_type=row.content_type, public=definition.public)


__all__ = [
    "MAX_PHOTOS_PER_REQUEST",
    "MAX_PIXELS",
    "THUMBNAIL_PX",
    "Photo",
    "PhotoFile",
    "PhotoStore",
    "PhotoUpload",
    "PreparedPhoto",
    "add_photos",
    "attach_photos",
    "photo_count",
    "photo_file",
    "photos_of",
    "prepare_photo",
    "prepare_photos",
]
