"""Open311 GeoReport v2 over Shequ's service requests, mounted at ``/open311/v2``.

``services.{fmt}``, ``services/{service_code}.{fmt}``, ``requests.{fmt}`` (GET list, POST
form-encoded with ``api_key``), ``requests/{id}.{fmt}``, ``tokens/{token}.{fmt}``; ``fmt`` is
``xml`` (the standard's mandatory format) or ``json``.  Errors are 400/403/404 with
``[{"code", "description"}]``.  Extensions: ``division_code`` on POST (route to a division
instead of a point), photos uploaded on POST as ``multipart/form-data`` files ``media``
(and ``keep_location=true`` to keep their GPS position; see
:mod:`shequ.services.requests.media`), ``lang`` (zh-CN default, en).  A request's
``media_url`` is the absolute URL of its first photo, else the URL its client gave.
Requests of non-public kinds (help for an elderly resident, health referrals) are listed
only to their submitter and to staff over their division; contact data is never part of
a GeoReport response.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from shequ.context import Context
from shequ.errors import AccessDenied, NotFoundError, Problem, ShequError, ValidationError
from shequ.http.caller import OptionalUser, RateLimit
from shequ.http.deps import SessionDep
from shequ.http.problems import error_responses
from shequ.http.urls import photo_url
from shequ.i18n import normalise_language
from shequ.registry.models import Division
from shequ.services.accounts import User, resolve_api_key
from shequ.services.requests import ServiceRequest, load_request_catalog, media
from shequ.services.requests import open311 as shapes
from shequ.services.requests import service as requests_service
from shequ.services.requests.definitions import RequestCatalog

Format = Literal["json", "xml"]
MAX_REQUESTS = 1000
DEFAULT_WINDOW_DAYS = 90

router = APIRouter(tags=["open311"])


class Open311Error(BaseModel):
    """A GeoReport error."""

    code: int
    description: str


class ServiceOut(BaseModel):
    """An entry of the service list."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class AttributeValueOut(BaseModel):
    """An allowed answer."""

    key: str
    name: str


class AttributeOut(BaseModel):
    """A question of a service."""

    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValueOut]


class DefinitionOut(BaseModel):
    """A service definition."""

    service_code: str
    attributes: list[AttributeOut]


class RequestOut(BaseModel):
    """A service request as GeoReport shows it."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class CreatedOut(BaseModel):
    """The answer to a new request."""

    service_request_id: str
    token: str
    service_notice: str | None
    account_id: str | None


class TokenOut(BaseModel):
    """A token's request id."""

    service_request_id: str
    token: str


def _xml_doc(description: str) -> dict[int | str, dict[str, Any]]:
    errors = {"description": "GeoReport error list",
              "content": {"application/json": {"schema": {"type": "array", "items": {
                  "$ref": "#/components/schemas/Open311Error"}}},
                          "application/xml": {"schema": {"type": "string"}}}}
    # 422: a parameter Shequ refuses before the route runs (a NUL character, say), in
    # Shequ's error body or FastAPI's, as on every other router.
    return {200: {"description": description,
                  "content": {"application/xml": {"schema": {"type": "string"}}}},
            400: errors, 403: errors, 404: errors, **error_responses(422)}


async def _catalog(request: Request) -> RequestCatalog:
    # async and straight from the app: no thread-pool hop for a cached, immutable catalog
    ctx: Context = request.app.state.ctx
    return load_request_catalog(ctx.settings.catalog_dir)


CatalogDep = Annotated[RequestCatalog, Depends(_catalog)]
Lang = Annotated[str | None, Query(max_length=10, description="zh-CN (default) or en")]


def _respond(fmt: str, body: Any, *, root: str, item: str | None, status: int = 200
             ) -> Response:
    if fmt == "xml":
        return Response(shapes.to_xml(root, item, body), status_code=status,
                        media_type="application/xml")
    return JSONResponse(body, status_code=status)


def _error(fmt: str, exc: ShequError) -> Response:
    status = 404 if isinstance(exc, NotFoundError) else 403 if isinstance(
        exc, AccessDenied) else 400
    messages = ([str(p) for p in exc.problems] if isinstance(exc, ValidationError)
                and exc.problems else [str(exc)])
    return _respond(fmt, shapes.error_records(status, messages), root="errors",
                    item="error", status=status)


def _first_photos(http: Request, session: Session, requests: list[ServiceRequest]
                  ) -> dict[int, str]:
    """The absolute URL of each request's first photo (GeoReport has one ``media_url``)."""
    photos = media.photos_of(session, [r.id for r in requests])
    return {rid: photo_url(http, found[0].token) for rid, found in photos.items()}


def _records(http: Request, session: Session, catalog: RequestCatalog,
             requests: list[ServiceRequest], language: str, *,
             with_photos: list[ServiceRequest] | None = None) -> list[dict[str, Any]]:
    """The GeoReport records of ``requests`` (visible to the caller), agency and photo
    included (``with_photos``: those of them known to have one, when known)."""
    agencies = _agencies(session, requests)
    photos = _first_photos(http, session, requests if with_photos is None else with_photos)
    records = []
    for r in requests:
        if r.service_code not in catalog.services:
            continue
        record = shapes.request_record(r, catalog.service(r.service_code), language,
                                       agency=agencies.get(r.responsible_code))
        record["media_url"] = photos.get(r.id) or record["media_url"]
        records.append(record)
    return records


def _agencies(session: Session, requests: list[ServiceRequest]) -> dict[str, str]:
    codes = sorted({r.responsible_code for r in requests})
    if not codes:
        return {}
    rows = session.execute(select(Division.code, Division.name)
                           .where(Division.code.in_(codes)))
    return {code: f"{name} ({code})" for code, name in rows}


@router.get("/services.{fmt}", response_model=list[ServiceOut],
            responses=_xml_doc("the service list"))
def list_services(fmt: Format, catalog: CatalogDep, lang: Lang = None,
                  jurisdiction_id: Annotated[str | None, Query(max_length=64)] = None
                  ) -> Response:
    """The kinds of request residents can make."""
    language = normalise_language(lang)
    body = [shapes.service_record(d, language) for d in catalog.services.values()]
    return _respond(fmt, body, root="services", item="service")


@router.get("/services/{service_code}.{fmt}", response_model=DefinitionOut,
            responses=_xml_doc("the service definition"))
def service_definition(service_code: str, fmt: Format, catalog: CatalogDep,
                       lang: Lang = None,
                       jurisdiction_id: Annotated[str | None, Query(max_length=64)] = None
                       ) -> Response:
    """The questions a kind of request asks."""
    definition = catalog.services.get(service_code)
    if definition is None:
        return _error(fmt, NotFoundError(f"no service {service_code!r}"))
    return _respond(fmt, shapes.definition_record(definition, normalise_language(lang)),
                    root="service_definition", item=None)


def _parse_time(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError([Problem(name, f"{value!r} is not an ISO 8601 date-time",
                                       hint="e.g. 2026-01-01T00:00:00Z")]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@router.get("/requests.{fmt}", response_model=list[RequestOut],
            responses=_xml_doc("service requests"))
def list_requests(
    fmt: Format, http: Request, session: SessionDep, catalog: CatalogDep, user: OptionalUser,
    *,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=500)] = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    jurisdiction_id: Annotated[str | None, Query(max_length=64)] = None,
    lang: Lang = None,
) -> Response:
    """Requests, newest first: by ids, or by kind, status and date (default: 90 days)."""
    language = normalise_language(lang)
    try:
        query = requests_service.visible_query(user, catalog)
        if service_request_id:
            ids = [int(x) for x in service_request_id.split(",") if x.strip().isdigit()]
            query = query.where(ServiceRequest.id.in_(ids))
        else:
            end = _parse_time(end_date, "end_date") or requests_service.utcnow()
            start = _parse_time(start_date, "start_date") or end - dt.timedelta(
                days=DEFAULT_WINDOW_DAYS)
            query = query.where(ServiceRequest.requested_at >= start,
                                ServiceRequest.requested_at <= end)
            if service_code:
                query = query.where(ServiceRequest.service_code.in_(
                    [c.strip() for c in service_code.split(",")]))
            if status:
                wanted = {s.strip() for s in status.split(",")}
                if wanted == {"closed"}:
                    query = query.where(ServiceRequest.status == "closed")
                elif wanted == {"open"}:
                    query = query.where(ServiceRequest.status != "closed")
        found = list(session.execute(media.with_photo_flag(
            requests_service.listed(query)
            .order_by(ServiceRequest.requested_at.desc(), ServiceRequest.id.desc())
            .limit(MAX_REQUESTS))))
    except ShequError as exc:
        return _error(fmt, exc)
    rows = [r for r, _ in found]
    with_photos = [r for r, has_photo in found if has_photo]
    return _respond(fmt, _records(http, session, catalog, rows, language,
                                  with_photos=with_photos),
                    root="service_requests", item="request")


@router.get("/requests/{service_request_id}.{fmt}", response_model=list[RequestOut],
            responses=_xml_doc("one service request"))
def get_request(service_request_id: str, fmt: Format, http: Request, *, session: SessionDep,
                catalog: CatalogDep, user: OptionalUser, lang: Lang = None,
                jurisdiction_id: Annotated[str | None, Query(max_length=64)] = None
                ) -> Response:
    """One request (an array of one, as the standard says)."""
    try:
        if not service_request_id.isdigit() or len(service_request_id) > 12:
            raise NotFoundError(f"no service request {service_request_id!r}")
        request = requests_service.get_request(session, int(service_request_id))
        definition = catalog.service(request.service_code)
        requests_service.require_view(user, request, definition)
    except ShequError as exc:
        return _error(fmt, exc)
    return _respond(fmt, _records(http, session, catalog, [request], normalise_language(lang)),
                    root="service_requests", item="request")


@router.get("/tokens/{token}.{fmt}", response_model=list[TokenOut],
            responses=_xml_doc("the request a token belongs to"))
def get_token(token: str, fmt: Format, session: SessionDep,
              jurisdiction_id: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """The request id a submission token was given."""
    try:
        request = requests_service.request_by_token(session, token)
    except ShequError as exc:
        return _error(fmt, exc)
    return _respond(fmt, [{"service_request_id": str(request.id), "token": request.token}],
                    root="service_requests", item="request")


class RequestForm(BaseModel):
    """The form of a new request (GeoReport v2 fields, plus ``division_code``).

    ``attribute[code]`` fields are read separately (their names are not fixed).
    """

    model_config = ConfigDict(extra="ignore")

    api_key: str = Field(max_length=200)
    service_code: str = Field(max_length=48)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(default=None, max_length=300)
    address_id: str | None = Field(default=None, max_length=64)
    division_code: str | None = Field(default=None, max_length=12)
    email: str | None = Field(default=None, max_length=200)
    device_id: str | None = Field(default=None, max_length=100)
    account_id: str | None = Field(default=None, max_length=100)
    first_name: str | None = Field(default=None, max_length=50)
    last_name: str | None = Field(default=None, max_length=50)
    phone: str | None = Field(default=None, max_length=30)
    description: str | None = Field(default=None, max_length=4000)
    media_url: str | None = Field(default=None, max_length=500)
    keep_location: bool = False  # of the photos in ``media``


def read_request_form(form: FormData) -> tuple[RequestForm, dict[str, str]]:
    """The validated fields of a submission form and its ``attribute[code]=value`` answers
    (repeated keys joined by commas); ValidationError names each bad field.

    Empty fields count as absent, as HTML forms send them.
    """
    fields = {k: v for k, v in form.items() if isinstance(v, str) and v != ""}
    try:
        checked = RequestForm.model_validate(fields)
    except PydanticError as exc:
        raise ValidationError([
            Problem(".".join(str(part) for part in e["loc"]) or "form", e["msg"],
                    hint="see GET /open311/v2/services/{service_code}.json")
            for e in exc.errors(include_url=False)], summary="request rejected") from None
    answers: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key.startswith("attribute[") and key.endswith("]") and isinstance(value, str):
            answers.setdefault(key[10:-1], []).append(value)
    return checked, {k: ",".join(v) for k, v in answers.items()}


_PUBLIC_WRITES = RateLimit("open311-post", 600, 60)
_FORM_SCHEMA = RequestForm.model_json_schema()
_FORM_BODY = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
    # Shequ's extension: the same fields with photos as files ``media``.
    "multipart/form-data": {"schema": {**_FORM_SCHEMA, "properties": {
        **_FORM_SCHEMA["properties"],
        "media": {"type": "array", "maxItems": media.MAX_PHOTOS_PER_REQUEST,
                  "items": {"type": "string", "format": "binary"},
                  "description": "JPEG or PNG photos of the problem"}}}}}}}


def _store(ctx: Context, catalog: RequestCatalog, form: RequestForm,
           attributes: dict[str, str], photos: list[media.PreparedPhoto]
           ) -> requests_service.StoredRequest | ShequError:
    """Check the key, then store the request and its photos in one transaction (retried
    when SQLite refuses a write); a ShequError is returned, not raised, to be answered in
    GeoReport form."""
    name = " ".join(p for p in (form.last_name, form.first_name) if p) or None
    with ctx.sessions() as session:

        def submit() -> requests_service.StoredRequest | ShequError:
            key = resolve_api_key(session, form.api_key)
            if key is None:
                return AccessDenied("api_key is missing or not valid; ask the administrator "
                                    "for a key")
            submitter = session.get(User, key.user_id) if key.user_id else None
            try:
                draft = requests_service.RequestDraft(
                    service_code=form.service_code, description=form.description,
                    longitude=form.long, latitude=form.lat, address=form.address_string,
                    division_code=form.division_code, attributes=attributes,
                    contact_name=name, contact_email=form.email, contact_phone=form.phone,
                    media_url=form.media_url)
                stored = requests_service.store_request(
                    session, catalog, draft, submitter=submitter,
                    api_key_id=key.id)
                if photos:
                    media.add_photos(session, media.PhotoStore.of(ctx.settings), stored.id,
                                     photos, created_by=submitter)
            except ShequError as exc:
                session.rollback()
                return exc
            session.commit()
            return stored

        return requests_service.retry_when_busy(session, submit)


FormParts = tuple[RequestForm, dict[str, str], list[media.PhotoUpload]]


async def _submission(request: Request) -> FormParts | ShequError:
    """The submission form, its answers and its photos (files ``media``), read without
    blocking the event loop and checked (no database work); a ShequError is returned, to
    be answered in GeoReport form."""
    ctx: Context = request.app.state.ctx
    try:
        form = await request.form()
        checked, answers = read_request_form(form)
    except ShequError as exc:
        return exc
    # One byte past the limit is enough for the photo to be refused as too large.
    limit = ctx.settings.max_photo_bytes + 1
    photos = [media.PhotoUpload(content=await f.read(limit), filename=f.filename,
                                content_type=f.content_type)
              for f in form.getlist("media") if isinstance(f, UploadFile)]
    return checked, answers, photos


Submission = Annotated[FormParts | ShequError, Depends(_submission)]


@router.post("/requests.{fmt}", response_model=list[CreatedOut], openapi_extra=_FORM_BODY,
             responses=_xml_doc("the new request's id and token"),
             dependencies=[Depends(_PUBLIC_WRITES)])
def create_request(fmt: Format, request: Request, submission: Submission,
                   lang: Lang = None) -> Response:
    """Submit a request (form-encoded, with the client's ``api_key``; the key's user, if
    any, is the submitter — residents signed in to Shequ use ``/api/v1/service-requests``).
    """
    # The form is read by an async dependency and stored here, in the thread pool: the
    # database work (and a retry's wait when SQLite refuses a write) never runs on the
    # event loop.
    if isinstance(submission, ShequError):
        return _error(fmt, submission)
    form, attributes, uploads = submission
    ctx: Context = request.app.state.ctx
    if uploads:
        # Photos cost work to check: only a client with a valid key gets that far.
        with ctx.sessions() as session:
            if resolve_api_key(session, form.api_key) is None:
                return _error(fmt, AccessDenied("api_key is missing or not valid; ask the "
                                                "administrator for a key"))
    try:
        photos = media.prepare_photos(uploads, max_bytes=ctx.settings.max_photo_bytes,
                                      keep_location=form.keep_location) if uploads else []
    except ShequError as exc:
        return _error(fmt, exc)
    result = _store(ctx, load_request_catalog(ctx.settings.catalog_dir), form, attributes,
                    photos)
    if isinstance(result, ShequError):
        return _error(fmt, result)
    language = normalise_language(lang)
    notice = None
    if result.duplicate_ids:
        ids = ", ".join(str(i) for i in result.duplicate_ids[:5])
        notice = (f"附近已有同类未办结诉求：{ids}" if language.startswith("zh")
                  else f"open requests of the same kind nearby: {ids}")
    body = [{"service_request_id": str(result.id), "token": result.token,
             "service_notice": notice, "account_id": form.account_id}]
    return _respond(fmt, body, root="service_requests", item="request")
