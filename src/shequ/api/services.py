"""JSON API of the community services for residents and staff, under ``/api/v1``:
service requests (submit, follow, queue, act, rate, escalate), residents' records
(masked unless the policy allows, every read audited), assignable workers, audit log.

Every route takes the caller from :mod:`shequ.http.caller` and hands the decision to
:mod:`shequ.services.accounts.policy` through the service functions; no route compares
codes itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select

from shequ.api.media import PhotoOut, photo_out
from shequ.context import Context
from shequ.errors import AccessDenied
from shequ.http.caller import CurrentUser, RateLimit, require_roles
from shequ.http.deps import ContextDep, IdPath, SessionDep, one_trip
from shequ.http.problems import error_responses
from shequ.registry.codes import code_prefix, level_of, normalise_code
from shequ.services.accounts import (
    HANDLER_ROLES,
    PriorityGroup,
    Resident,
    Role,
    User,
    audit,
    can_handle,
    create_resident,
    get_resident,
    jurisdiction_prefix,
    mask_identity_number,
    mask_phone,
    require_role,
    view_resident,
)
from shequ.services.accounts.models import AuditLog
from shequ.services.accounts.policy import STAFF_ROLES
from shequ.services.requests import ServiceRequest, load_request_catalog, media
from shequ.services.requests import service as rs
from shequ.services.requests.definitions import RequestCatalog
from shequ.services.requests.open311 import attributes_of, w3c
from shequ.services.requests.workflow import is_overdue

router = APIRouter(tags=["services"])
ERRORS = error_responses(401, 403, 404, 409, 422, 429)


async def _catalog(request: Request) -> RequestCatalog:
    # async and straight from the app: no thread-pool hop for a cached, immutable catalog
    ctx: Context = request.app.state.ctx
    return load_request_catalog(ctx.settings.catalog_dir)


CatalogDep = Annotated[RequestCatalog, Depends(_catalog)]


class RequestIn(BaseModel):
    """A new service request from a signed-in user."""

    service_code: str = Field(max_length=48)
    description: str | None = Field(default=None, max_length=4000)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=300)
    division_code: str | None = Field(default=None, pattern=r"^\d{12}$")
    facility_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    attributes: dict[str, str] = Field(default_factory=dict)
    contact_phone: str | None = Field(default=None, max_length=30)


class EventOut(BaseModel):
    """One step of a request's history."""

    at: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None


class RequestOut(BaseModel):
    """A service request as its submitter and staff see it."""

    id: int
    service_code: str
    service_name: str
    status: str
    status_notes: str | None
    description: str | None
    latitude: float | None
    longitude: float | None
    address: str | None
    division_code: str
    responsible_code: str
    escalation_level: int
    requested_at: str
    updated_at: str
    deadline_at: str
    overdue: bool
    assigned_to_id: int | None
    rating: int | None
    rating_comment: str | None
    reopen_count: int
    attributes: dict[str, str]
    mine: bool
    can_handle: bool
    contact_phone: str | None = None
    token: str | None = None
    events: list[EventOut] = Field(default_factory=list)
    possible_duplicate_ids: list[int] = Field(default_factory=list)
    photos: list[PhotoOut] = Field(default_factory=list)


class ActionIn(BaseModel):
    """A workflow step."""

    action: Literal["accept", "assign", "start", "update", "resolve", "close", "reopen"]
    note: str | None = Field(default=None, max_length=2000)
    assignee_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class RatingIn(BaseModel):
    """The submitter's satisfaction rating."""

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


class DuplicateOut(BaseModel):
    """An open request nearby of the same kind."""

    id: int
    status: str
    description: str | None
    requested_at: str


class WorkerOut(BaseModel):
    """A user who may be assigned a request."""

    id: int
    display_name: str
    role: str
    jurisdiction_code: str | None


class ResidentIn(BaseModel):
    """A resident's record, entered by staff of the resident's community or street."""

    name: str = Field(min_length=1, max_length=100)
    division_code: str = Field(pattern=r"^\d{12}$")
    identity_number: str | None = Field(default=None, max_length=18)
    phone: str | None = Field(default=None, max_length=30)
    address: str | None = Field(default=None, max_length=300)
    priority_groups: list[PriorityGroup] = Field(default_factory=list)


class ResidentOut(BaseModel):
    """A resident's record; numbers masked unless ``whole``."""

    id: int
    name: str
    identity_number: str | None
    phone: str | None
    address: str | None
    division_code: str
    priority_groups: list[str]
    whole: bool


class AuditOut(BaseModel):
    """One audit log row."""

    id: int
    at: str
    user_id: int | None
    username: str | None
    action: str
    entity: str
    entity_id: str | None
    detail: str | None


def _request_out(ctx: ContextDep, session: SessionDep, catalog: RequestCatalog,
                 request: ServiceRequest, user: User, *, detail: bool = False,
                 duplicates: list[int] | None = None,
                 photos: Sequence[PhotoOut] = ()) -> RequestOut:
    definition = catalog.service(request.service_code)
    mine = request.submitter_id is not None and request.submitter_id == user.id
    out = RequestOut(
        id=request.id, service_code=request.service_code,
        service_name=definition.name_zh, status=request.status,
        status_notes=request.status_notes, description=request.description,
        latitude=request.latitude, longitude=request.longitude, address=request.address,
        division_code=request.division_code, responsible_code=request.responsible_code,
        escalation_level=request.escalation_level,
        requested_at=w3c(request.requested_at) or "", updated_at=w3c(request.updated_at) or "",
        deadline_at=w3c(request.deadline_at) or "",
        overdue=is_overdue(request.status, rs.aware(request.deadline_at), rs.utcnow()),
        assigned_to_id=request.assigned_to_id, rating=request.rating,
        rating_comment=request.rating_comment, reopen_count=request.reopen_count,
        attributes=attributes_of(request), mine=mine,
        can_handle=can_handle(user, request.responsible_code),
        token=request.token if mine else None,
        possible_duplicate_ids=duplicates or [], photos=list(photos))
    if detail:
        out.contact_phone = rs.contact_phone(request, user=user, session=session)
        out.description = rs.whole_description(request, user=user, session=session)
        out.events = [EventOut(at=w3c(e.at) or "", action=e.action, from_status=e.from_status,
                               to_status=e.to_status, note=e.note)
                      for e in rs.events(session, request)]
    return out


def _photos(http: Request, session: SessionDep, request_ids: Sequence[int]
            ) -> dict[int, list[PhotoOut]]:
    # The requests are visible to the caller: so are their photos.
    return {rid: [photo_out(http, p) for p in photos]
            for rid, photos in media.photos_of(session, request_ids).items()}


def _visible(session: SessionDep, catalog: RequestCatalog, user: User,
             request_id: int) -> ServiceRequest:
    request = rs.get_request(session, request_id)
    rs.require_view(user, request, catalog.service(request.service_code))
    return request


@router.post("/service-requests", response_model=RequestOut, status_code=201,
             responses=ERRORS, dependencies=[Depends(RateLimit("service-requests", 30, 60))])
@one_trip
def submit(body: RequestIn, *, ctx: ContextDep, session: SessionDep, catalog: CatalogDep,
           user: CurrentUser) -> RequestOut:
    """Submit a request as the signed-in user; nearby open duplicates are listed."""
    draft = rs.RequestDraft(
        service_code=body.service_code, description=body.description,
        longitude=body.longitude, latitude=body.latitude, address=body.address,
        division_code=body.division_code, attributes=body.attributes,
        contact_phone=body.contact_phone, facility_id=body.facility_id,
        contact_name=user.display_name)
    result = rs.retry_when_busy(session, lambda: rs.submit_request(
        session, catalog, draft, submitter=user))
    return _request_out(ctx, session, catalog, result.request, user, detail=True,
                        duplicates=[r.id for r in result.possible_duplicates])


@router.get("/service-requests", response_model=list[RequestOut], responses=ERRORS)
@one_trip
def list_requests(http: Request, ctx: ContextDep, session: SessionDep, catalog: CatalogDep,
                  user: CurrentUser, *,
                  queue: Annotated[bool, Query(description="only requests I answer for, "
                                               "unclosed, earliest deadline first")] = False,
                  mine: bool = False,
                  status: Annotated[str | None, Query(max_length=16)] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[RequestOut]:
    """Requests the caller may see: their own, their queue, or their jurisdiction's."""
    if queue:
        query = rs.queue_query(user)
    else:
        query = rs.visible_query(user, catalog).order_by(ServiceRequest.requested_at.desc(),
                                                         ServiceRequest.id.desc())
        if mine:
            query = query.where(ServiceRequest.submitter_id == user.id)
    if status:
        query = query.where(ServiceRequest.status == status)
    found = [(r, has_photo) for r, has_photo in session.execute(
        media.with_photo_flag(rs.listed(query).offset(offset).limit(limit)))
        if r.service_code in catalog.services]
    rows = [r for r, _ in found]
    photos = _photos(http, session, [r.id for r, has_photo in found if has_photo])
    return [_request_out(ctx, session, catalog, r, user, photos=photos.get(r.id, ()))
            for r in rows]


@router.get("/service-requests/duplicates", response_model=list[DuplicateOut],
            responses=ERRORS)
def duplicates(session: SessionDep, catalog: CatalogDep, *,
               service_code: Annotated[str, Query(max_length=48)],
               latitude: Annotated[float, Query(ge=-90, le=90)],
               longitude: Annotated[float, Query(ge=-180, le=180)]) -> list[DuplicateOut]:
    """Open requests of this kind near the point, to offer before submitting a new one
    (public kinds only)."""
    definition = catalog.service(service_code)
    if not definition.public:
        return []
    return [DuplicateOut(id=r.id, status=r.status, description=r.description,
                         requested_at=w3c(r.requested_at) or "")
            for r in rs.possible_duplicates(session, definition, longitude, latitude)[:10]]


@router.post("/service-requests/escalate", responses=ERRORS)
def escalate(session: SessionDep, catalog: CatalogDep,
             user: Annotated[User, Depends(require_roles(Role.ADMIN))]) -> dict[str, int]:
    """Escalate every overdue request one level up (also run by ``shequ services escalate``)."""
    moved = rs.escalate_overdue(session, catalog)
    audit(session, user=user, action="escalate_run", entity="service_request", entity_id=None,
          detail={"escalated": len(moved)})
    return {"escalated": len(moved)}


@router.get("/service-requests/{request_id}", response_model=RequestOut, responses=ERRORS)
def get_request(request_id: IdPath, http: Request, *, ctx: ContextDep, session: SessionDep,
                catalog: CatalogDep, user: CurrentUser) -> RequestOut:
    """One request with its history and photos (contact phone masked unless allowed;
    audited)."""
    request = _visible(session, catalog, user, request_id)
    return _request_out(ctx, session, catalog, request, user, detail=True,
                        photos=_photos(http, session, [request.id]).get(request.id, ()))


@router.post("/service-requests/{request_id}/actions", response_model=RequestOut,
             responses=ERRORS)
def act(request_id: IdPath, body: ActionIn, http: Request, *, ctx: ContextDep,
        session: SessionDep, catalog: CatalogDep, user: CurrentUser) -> RequestOut:
    """A workflow step: accept, assign, start, update, resolve, close, or reopen."""
    def work() -> ServiceRequest:
        request = _visible(session, catalog, user, request_id)
        rs.act(session, catalog, request, user=user, action=body.action, note=body.note,
               assignee_id=body.assignee_id)
        session.flush()  # take the write lock inside the retry
        return request

    request = rs.retry_when_busy(session, work)
    return _request_out(ctx, session, catalog, request, user, detail=True,
                        photos=_photos(http, session, [request.id]).get(request.id, ()))


@router.post("/service-requests/{request_id}/rating", response_model=RequestOut,
             responses=ERRORS)
def rate(request_id: IdPath, body: RatingIn, http: Request, *, ctx: ContextDep,
         session: SessionDep, catalog: CatalogDep, user: CurrentUser) -> RequestOut:
    """The submitter rates a closed request (once)."""
    def work() -> ServiceRequest:
        request = _visible(session, catalog, user, request_id)
        rs.rate(session, request, user=user, rating=body.rating, comment=body.comment)
        session.flush()  # take the write lock inside the retry
        return request

    request = rs.retry_when_busy(session, work)
    return _request_out(ctx, session, catalog, request, user, detail=True,
                        photos=_photos(http, session, [request.id]).get(request.id, ()))


def _read_photo(upload: UploadFile, limit: int) -> media.PhotoUpload:
    # One byte past the limit is enough for the service to say the photo is too large.
    return media.PhotoUpload(content=upload.file.read(limit + 1), filename=upload.filename,
                             content_type=upload.content_type)


@router.post("/service-requests/{request_id}/photos", response_model=RequestOut,
             status_code=201, responses=ERRORS,
             dependencies=[Depends(RateLimit("service-request-photos", 30, 60))])
def attach_photos(request_id: IdPath, http: Request,
                  photos: Annotated[list[UploadFile], File(description=(
                      f"JPEG or PNG photos, at most {media.MAX_PHOTOS_PER_REQUEST} a request"))],
                  *, ctx: ContextDep, session: SessionDep, catalog: CatalogDep,
                  user: CurrentUser,
                  keep_location: Annotated[bool, Form(description=(
                      "keep the photos' GPS position (stripped otherwise, with every other "
                      "metadata)"))] = False) -> RequestOut:
    """Add photos to a request (its reporter, or staff handling it, until it is closed):
    each re-encoded upright without metadata, with a thumbnail."""
    store = media.PhotoStore.of(ctx.settings)
    uploads = [_read_photo(p, store.max_bytes) for p in photos]

    def work() -> ServiceRequest:
        media.attach_photos(session, user, request_id, uploads, keep_location,
                            catalog=catalog, store=store)
        return rs.get_request(session, request_id)

    request = rs.retry_when_busy(session, work)
    return _request_out(ctx, session, catalog, request, user, detail=True,
                        photos=_photos(http, session, [request.id]).get(request.id, ()))


@router.get("/service-requests/{request_id}/assignees", response_model=list[WorkerOut],
            responses=ERRORS)
def assignees(request_id: IdPath, session: SessionDep, catalog: CatalogDep,
              user: CurrentUser) -> list[WorkerOut]:
    """Workers who may be assigned this request (for handlers of it)."""
    request = _visible(session, catalog, user, request_id)
    if not can_handle(user, request.responsible_code):
        raise AccessDenied(f"user {user.id} does not handle requests of "
                           f"{request.responsible_code}")
    candidates = session.scalars(select(User).where(
        User.role.in_([r.value for r in HANDLER_ROLES if r is not Role.ADMIN]),
        User.active.is_(True)).order_by(User.id)).all()
    return [WorkerOut(id=u.id, display_name=u.display_name, role=u.role,
                      jurisdiction_code=u.jurisdiction_code)
            for u in candidates if can_handle(u, request.responsible_code)]


def _resident_out(view: Any) -> ResidentOut:
    return ResidentOut(id=view.id, name=view.name, identity_number=view.identity_number,
                       phone=view.phone, address=view.address,
                       division_code=view.division_code,
                       priority_groups=view.priority_groups, whole=view.whole)


@router.post("/residents", response_model=ResidentOut, status_code=201, responses=ERRORS)
def add_resident(body: ResidentIn, ctx: ContextDep, session: SessionDep,
                 user: Annotated[User, Depends(require_roles(Role.COMMUNITY_WORKER,
                                                             Role.STREET_OFFICER))]
                 ) -> ResidentOut:
    """Register a resident of the caller's jurisdiction (numbers encrypted at rest)."""
    resident = create_resident(
        session, name=body.name, division_code=body.division_code,
        identity_number=body.identity_number, phone=body.phone, address=body.address,
        priority_groups=[g.value for g in body.priority_groups], actor=user)
    return _resident_out(view_resident(session, resident, user=user))


@router.get("/residents", response_model=list[ResidentOut], responses=ERRORS)
def list_residents(ctx: ContextDep, session: SessionDep, user: CurrentUser, *,
                   division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100,
                   offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0
                   ) -> list[ResidentOut]:
    """Residents in the caller's jurisdiction, numbers always masked (the list is audited)."""
    require_role(user, *STAFF_ROLES)
    prefix = jurisdiction_prefix(user) or ""
    query = select(Resident).where(Resident.division_code.startswith(prefix))
    if division:
        code = normalise_code(division, where="division")
        query = query.where(Resident.division_code.startswith(code_prefix(code,
                                                                          level_of(code))))
    rows = session.scalars(query.order_by(Resident.id).offset(offset).limit(limit)).all()
    out = [ResidentOut(
        id=r.id, name=r.name_masked,
        identity_number=mask_identity_number(r.identity_number_enc)
        if r.identity_number_enc else None,
        phone=mask_phone(r.phone_enc) if r.phone_enc else None,
        address=None, division_code=r.division_code,
        priority_groups=r.priority_group_list, whole=False) for r in rows]
    audit(session, user=user, action="list_masked", entity="resident", entity_id=None,
          detail={"ids": [r.id for r in rows]})
    return out


@router.get("/residents/{resident_id}", response_model=ResidentOut, responses=ERRORS)
def read_resident(resident_id: IdPath, ctx: ContextDep, session: SessionDep,
                  user: CurrentUser) -> ResidentOut:
    """One resident: whole numbers for the resident and case workers in the jurisdiction,
    masked for everyone else; 403 outside the jurisdiction; audited."""
    resident = get_resident(session, resident_id)
    return _resident_out(view_resident(session, resident, user=user))


@router.get("/audit-log", response_model=list[AuditOut], responses=ERRORS)
def audit_log(session: SessionDep,
              user: Annotated[User, Depends(require_roles(Role.ADMIN))], *,
              entity: Annotated[str | None, Query(max_length=48)] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[AuditOut]:
    """The audit log, newest first (administrators)."""
    query = select(AuditLog)
    if entity:
        query = query.where(AuditLog.entity == entity)
    rows = session.scalars(query.order_by(AuditLog.id.desc()).offset(offset).limit(limit))
    return [AuditOut(id=r.id, at=w3c(r.at) or "", user_id=r.user_id, username=r.username,
                     action=r.action, entity=r.entity, entity_id=r.entity_id, detail=r.detail)
            for r in rows]

