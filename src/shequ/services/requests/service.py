"""Service requests in the database: submit, route, act, rate, escalate, list, find duplicates.

Routing: a request is about the community whose boundary holds its point, else (no
boundary holds it) the community nearest it (by the communities' representative points,
great-circle distance), or the division code given — the request records which rule
placed it (``placed_by``); it is answered
by that division's ancestor at the category's ``responsible_level`` and escalates one
level up each time its deadline passes unresolved.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    Table,
    and_,
    bindparam,
    insert,
    or_,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, defer, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from shequ.errors import AccessDenied, ConflictError, NotFoundError, Problem, ValidationError
from shequ.registry import queries
from shequ.registry.boundaries import locate_point
from shequ.registry.codes import code_prefix, level_of, normalise_code, parent_of
from shequ.registry.columns import get_or_not_found
from shequ.registry.geodesy import degree_box, great_circle_m
from shequ.registry.levels import PlacedBy
from shequ.registry.models import Division, Facility
from shequ.services.accounts import (
    HANDLER_ROLES,
    AuditLog,
    Role,
    User,
    audit,
    can_handle,
    in_jurisdiction,
    jurisdiction_prefix,
    require_handler,
)
from shequ.services.accounts.audit import audit_values
from shequ.services.accounts.crypto import mask_phone
from shequ.services.accounts.policy import Principal, may_see_whole_personal_numbers
from shequ.services.accounts.residents import normalise_phone
from shequ.services.notify.service import Kind, notify
from shequ.services.privacy import split_free_text
from shequ.services.requests import workflow
from shequ.services.requests.definitions import RequestCatalog, ServiceDefinition
from shequ.services.requests.models import RequestStatus, ServiceRequest, ServiceRequestEvent

DUPLICATE_WINDOW_DAYS = 30
# Bounding boxes tried in turn when looking for the nearest community (degrees).
SEARCH_BOXES_DEG = (0.02, 0.1, 0.5, 2.0)


T = TypeVar("T")


def retry_when_busy(session: Session, work: Callable[[], T], *, attempts: int = 6) -> T:
    """Run ``work`` (which writes with ``session``), retrying when SQLite refuses the write.

    In WAL mode a transaction that read first and then writes fails at once with
    "database is locked" (SQLITE_BUSY_SNAPSHOT) when another process committed in
    between; waiting cannot help, starting again does.  Other back-ends never retry.
    """
    for attempt in range(attempts):
        try:
            return work()
        except OperationalError as exc:
            session.rollback()
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.005 * 2 ** attempt)
    raise AssertionError("unreachable")  # the loop returns or raises


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


def aware(value: dt.datetime) -> dt.datetime:
    """``value`` with UTC attached when the database gave it back naive (SQLite)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def nearest_community(session: Session, lon: float, lat: float, *,
                      as_of: dt.date | None = None) -> Division:
    """The level-5 division whose representative point is nearest (lon, lat)."""
    when = as_of or queries.today()
    return queries.division(session, nearest_community_code(session.connection(), lon, lat,
                                                            as_of=when), as_of=when)


def nearest_community_code(connection: Connection, lon: float, lat: float, *,
                           as_of: dt.date | None = None) -> str:
    """The code of the level-5 division in force whose point is nearest (lon, lat)."""
    when = as_of or queries.today()
    for box in SEARCH_BOXES_DEG:
        dlon = box / max(math.cos(math.radians(lat)), 1e-6)
        rows = connection.execute(_COMMUNITIES_IN_BOX, {
            "when": when, "lon0": lon - dlon, "lon1": lon + dlon, "lat0": lat - box,
            "lat1": lat + box}).all()
        if rows:
            return str(min(rows, key=lambda r: (great_circle_m(lon, lat, r.longitude,
                                                               r.latitude), r.code)).code)
    raise ValidationError([Problem("lat/long", f"no community lies near ({lon}, {lat})",
                                   hint="give a point inside the served region, or a "
                                   "division_code", column="location",
                                   code="services.no_community_near")])


def community_at(connection: Connection, lon: float, lat: float, *,
                 as_of: dt.date | None = None) -> tuple[str, PlacedBy]:
    """The community a point lies in and the rule that found it: the level-5 boundary
    holding the point, else (no boundaries, or none holds it) the nearest community."""
    when = as_of or queries.today()
    code = locate_point(connection, lon, lat, level=5, as_of=when)
    if code is not None:
        return code, PlacedBy.BOUNDARY
    return nearest_community_code(connection, lon, lat, as_of=when), PlacedBy.NEAREST_POINT


# Built once with bound parameters and run on the session's connection: building
# statements and the ORM's per-statement work were most of a submission's database time.
_DIVISION = Division.__table__
_REQUEST = cast(Table, ServiceRequest.__table__)
_COMMUNITIES_IN_BOX = select(_DIVISION.c.code, _DIVISION.c.longitude, _DIVISION.c.latitude
                             ).where(
    _DIVISION.c.valid_from <= bindparam("when"),
    or_(_DIVISION.c.valid_to.is_(None), _DIVISION.c.valid_to > bindparam("when")),
    _DIVISION.c.level == 5,
    _DIVISION.c.longitude.between(bindparam("lon0"), bindparam("lon1")),
    _DIVISION.c.latitude.between(bindparam("lat0"), bindparam("lat1")))
_OPEN_NEAR = select(_REQUEST.c.id, _REQUEST.c.longitude, _REQUEST.c.latitude).where(
    _REQUEST.c.service_code == bindparam("code"),
    _REQUEST.c.status != RequestStatus.CLOSED.value,
    _REQUEST.c.requested_at >= bindparam("since"),
    _REQUEST.c.longitude.between(bindparam("lon0"), bindparam("lon1")),
    _REQUEST.c.latitude.between(bindparam("lat0"), bindparam("lat1")),
    _REQUEST.c.id != bindparam("exclude"))
_EVENT = cast(Table, ServiceRequestEvent.__table__)
_AUDIT = cast(Table, AuditLog.__table__)
_INSERT_REQUEST = insert(_REQUEST).returning(_REQUEST.c.id)
_INSERT_EVENT = insert(_EVENT)
_INSERT_AUDIT = insert(_AUDIT)
_EVENT_COLUMNS = ("at", "user_id", "action", "from_status", "to_status", "note")
_AUDIT_COLUMNS = ("at", "user_id", "username", "action", "entity", "detail")


def _typed(table: Table, prefix: str, name: str) -> ColumnElement[Any]:
    # Typed in the SQL: PostgreSQL cannot infer a parameter's type in a select list.
    return sql_cast(bindparam(prefix + name), table.c[name].type)


# PostgreSQL: the request, its first event and its audit row in one statement (data-
# modifying CTEs), two round trips fewer per submission.  SQLite has no such CTEs.
_NEW_REQUEST = (insert(_REQUEST)
                .values({c.name: bindparam(c.name) for c in _REQUEST.c if c.name != "id"})
                .returning(_REQUEST.c.id).cte("new_request"))
_NEW_EVENT = (insert(_EVENT).from_select(
    ["request_id", *_EVENT_COLUMNS],
    select(_NEW_REQUEST.c.id, *[_typed(_EVENT, "event_", n) for n in _EVENT_COLUMNS]))
    .cte("new_event"))
_SUBMIT_IN_ONE = (insert(_AUDIT).from_select(
    [*_AUDIT_COLUMNS, "entity_id"],
    select(*[_typed(_AUDIT, "audit_", n) for n in _AUDIT_COLUMNS],
           sql_cast(_NEW_REQUEST.c.id, String)))
    .returning(_AUDIT.c.entity_id).add_cte(_NEW_EVENT))


def responsible_for(division_code: str, level: int) -> str:
    """The 12-digit code of ``division_code``'s ancestor at ``level`` (itself if higher)."""
    own = level_of(division_code)
    return code_prefix(division_code, min(level, own)).ljust(12, "0")


def _route(session: Session, division_code: str | None, facility: Facility | None,
           longitude: float | None, latitude: float | None) -> tuple[str, PlacedBy]:
    """The division a new request is about and the rule that chose it: the code given,
    the facility's, or the community at its point (:func:`community_at`)."""
    if division_code:
        return queries.division(session, normalise_code(division_code,
                                                        where="division_code")).code, \
            PlacedBy.CODE
    if facility is not None:
        return facility.division_code, PlacedBy.CODE
    assert longitude is not None and latitude is not None  # checked by the caller
    return community_at(session.connection(), longitude, latitude)


@dataclass(frozen=True, slots=True)
class Handling:
    """Who will answer a request before it is sent, why, and by when.

    ``reason`` says how the request finds its place: ``division`` (the code given),
    ``facility`` (the chosen facility's community) or ``point`` (the community whose
    boundary holds the pin, else the nearest; ``placed_by`` says which).  The office is
    that place's division at the kind's ``responsible_level``; if the request is not
    resolved by ``deadline_at`` it goes up to ``escalates_to``.
    """

    service_code: str
    reason: str
    place_code: str
    place_name: str
    office_code: str
    office_name: str
    office_level: int
    deadline_hours: float
    deadline_at: dt.datetime
    facility_name: str | None = None
    escalates_to_code: str | None = None
    escalates_to_name: str | None = None
    placed_by: str = PlacedBy.CODE.value


def handling_for(session: Session, catalog: RequestCatalog, service_code: str, *,
                 facility_id: int | None = None, longitude: float | None = None,
                 latitude: float | None = None, division_code: str | None = None,
                 now: dt.datetime | None = None) -> Handling:
    """Who would answer a request of ``service_code`` placed so, and by when: the same
    routing and deadline :func:`store_request` applies, with nothing written."""
    definition = catalog.service(service_code)
    if (longitude is None) != (latitude is None):
        raise ValidationError([Problem("lat/long", "give both latitude and longitude, or "
                                       "neither", column="location",
                                       code="services.half_a_point")])
    if longitude is None and not division_code and facility_id is None:
        raise ValidationError([Problem("location", "a request needs lat/long, a "
                                       "division_code or a facility", column="location",
                                       code="services.no_location")])
    facility = None
    if facility_id is not None:
        facility = session.get(Facility, facility_id)
        if facility is None:
            raise NotFoundError(f"no facility with id {facility_id}",
                                code="services.facility_not_found", params={"id": facility_id})
    if division_code:
        reason = "division"
    elif facility is not None:
        reason = "facility"
    else:
        reason = "point"
    place, placed_by = _route(session, division_code, facility, longitude, latitude)
    office = responsible_for(place, definition.responsible_level)
    level = level_of(office)
    up = parent_of(office, level)
    when = now or utcnow()
    return Handling(
        service_code=definition.code, reason=reason, place_code=place,
        place_name=_division_name(session, place), office_code=office,
        office_name=_division_name(session, office), office_level=level,
        deadline_hours=definition.deadline_hours,
        deadline_at=workflow.deadline(when, definition.deadline_hours),
        facility_name=facility.name if facility is not None else None,
        escalates_to_code=up,
        escalates_to_name=_division_name(session, up) if up else None,
        placed_by=placed_by.value)


def _division_name(session: Session, code: str) -> str:
    try:
        return queries.division(session, code).name
    except NotFoundError:
        return code  # a code the registry does not hold (a level above the region)


@dataclass(frozen=True, slots=True)
class Submission:
    """A stored request and the open requests nearby that may be the same problem."""

    request: ServiceRequest
    possible_duplicates: list[ServiceRequest]


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """What :func:`store_request` wrote: the new row's values (``id`` included) and the ids
    of open requests nearby that may be the same problem, nearest first."""

    values: dict[str, Any]
    duplicate_ids: list[int]

    @property
    def id(self) -> int:
        """The new request's id."""
        return int(self.values["id"])

    @property
    def token(self) -> str:
        """The submission token given to the client."""
        return str(self.values["token"])


@dataclass(frozen=True, slots=True)
class RequestDraft:
    """A request as submitted: its category and the answers to the category's questions,
    where (a point, a division or a facility — at least one), and how to reach the
    submitter.  Checked by :func:`store_request`."""

    service_code: str
    description: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    address: str | None = None
    division_code: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    media_url: str | None = None
    facility_id: int | None = None


def store_request(session: Session, catalog: RequestCatalog,
                  draft: RequestDraft, *, submitter: User | None = None,
                  api_key_id: int | None = None, now: dt.datetime | None = None
                  ) -> StoredRequest:
    """Check, route and store a new request, its first event and its audit row; its
    deadline follows from its category.

    Core statements on the session's connection, in its transaction, and no objects: the
    path every submission takes.  :func:`submit_request` wraps it for callers that go on
    working with the request as an object.
    """
    definition = catalog.service(draft.service_code)
    answers = definition.check_answers(dict(draft.attributes))
    longitude, latitude = draft.longitude, draft.latitude
    description, division_code, facility_id = (draft.description, draft.division_code,
                                               draft.facility_id)
    problems: list[Problem] = []
    if (longitude is None) != (latitude is None):
        problems.append(Problem("lat/long", "give both latitude and longitude, or neither",
                                column="location", code="services.half_a_point"))
    if longitude is not None and not -180 <= longitude <= 180:
        problems.append(Problem("long", f"{longitude} is outside -180…180", column="longitude",
                                code="out_of_range",
                                params={"low": -180, "high": 180, "value": longitude}))
    if latitude is not None and not -90 <= latitude <= 90:
        problems.append(Problem("lat", f"{latitude} is outside -90…90", column="latitude",
                                code="out_of_range",
                                params={"low": -90, "high": 90, "value": latitude}))
    if longitude is None and not division_code and facility_id is None:
        problems.append(Problem("location", "a request needs lat/long, a division_code or a "
                                "facility", hint="Open311: send lat and long",
                                column="location", code="services.no_location"))
    if description is not None and len(description) > 4000:
        problems.append(Problem("description", "is longer than 4000 characters",
                                column="description", code="too_long",
                                params={"limit": 4000}))
    if problems:
        raise ValidationError(problems, summary="request rejected")
    facility = None
    if facility_id is not None:
        facility = get_or_not_found(session, Facility, facility_id, what="facility",
                                    hint="GET /api/v1/facilities?division=… lists them",
                                    code="services.no_facility", listed_on="/services")
        if longitude is None and facility.longitude is not None:
            longitude, latitude = facility.longitude, facility.latitude
    session.flush()  # earlier ORM work first: the Core statements below bypass autoflush
    connection = session.connection()
    code, placed_by = _route(session, division_code, facility, longitude, latitude)
    when = now or utcnow()
    submitter_id = submitter.id if submitter else None
    shown, whole = split_free_text(description)
    values: dict[str, Any] = {
        "token": secrets.token_urlsafe(16), "service_code": definition.code,
        "status": RequestStatus.SUBMITTED.value, "description": shown,
        "description_enc": whole,
        "longitude": longitude, "latitude": latitude, "address": draft.address,
        "division_code": code, "placed_by": placed_by.value,
        "responsible_code": responsible_for(code, definition.responsible_level),
        "escalation_level": 0, "facility_id": facility_id, "submitter_id": submitter_id,
        "api_key_id": api_key_id,
        # Contact details only encrypted: a worker reads them whole through contact_phone.
        "contact_name_enc": draft.contact_name or None,
        "contact_email_enc": draft.contact_email or None,
        "contact_phone_enc": (normalise_phone(draft.contact_phone)
                              if draft.contact_phone else None),
        "attributes": json.dumps(answers, ensure_ascii=False, sort_keys=True),
        "media_url": draft.media_url, "requested_at": when, "updated_at": when,
        "deadline_at": workflow.deadline(when, definition.deadline_hours),
        "reopen_count": 0, "assigned_to_id": None, "status_notes": None,
        "status_notes_enc": None, "closed_at": None, "rating": None, "rating_comment": None,
        "rating_comment_enc": None, "duplicate_of_id": None}
    event = {"at": when, "user_id": submitter_id, "action": "submit", "from_status": None,
             "to_status": values["status"], "note": None}
    audit_row = audit_values(user=submitter, action="create", entity="service_request",
                             entity_id=None, at=when,
                             detail={"service_code": definition.code, "division_code": code,
                                     "api_key_id": api_key_id})
    request_id = _write_submission(connection, values, event, audit_row)
    values["id"] = request_id
    duplicates = (duplicate_ids(connection, definition, longitude, latitude,
                                exclude_id=request_id, now=when)
                  if longitude is not None and latitude is not None else [])
    return StoredRequest(values, duplicates)


def _write_submission(connection: Connection, values: dict[str, Any], event: dict[str, Any],
                      audit_row: dict[str, Any]) -> int:
    """Insert a new request, its first event and its audit row; the request's id."""
    if connection.dialect.name == "postgresql":
        return int(connection.execute(_SUBMIT_IN_ONE, {
            **values, **{f"event_{k}": event[k] for k in _EVENT_COLUMNS},
            **{f"audit_{k}": audit_row[k] for k in _AUDIT_COLUMNS}}).scalar_one())
    request_id = int(connection.execute(_INSERT_REQUEST, values).scalar_one())
    connection.execute(_INSERT_EVENT, {**event, "request_id": request_id})
    connection.execute(_INSERT_AUDIT, {**audit_row, "entity_id": str(request_id)})
    return request_id


def submit_request(session: Session, catalog: RequestCatalog,
                   draft: RequestDraft, *, submitter: User | None = None,
                   api_key_id: int | None = None, now: dt.datetime | None = None
                   ) -> Submission:
    """:func:`store_request`, with the new request as an object of ``session`` and the
    possible duplicates loaded."""
    stored = store_request(session, catalog, draft, submitter=submitter,
                           api_key_id=api_key_id, now=now)
    request = ServiceRequest(**stored.values)
    make_transient_to_detached(request)  # loaded as it is stored: no flush, no select
    # An object under this id can only be left from a rolled-back attempt (retry_when_busy)
    # whose id SQLite handed out again.
    stale = session.identity_map.get(identity_key(ServiceRequest, stored.id))
    if stale is not None:
        session.expunge(stale)
    session.add(request)
    return Submission(request, _load_requests(session, stored.duplicate_ids))


def duplicate_ids(connection: Connection, definition: ServiceDefinition, longitude: float,
                  latitude: float, *, exclude_id: int | None = None,
                  now: dt.datetime | None = None) -> list[int]:
    """Ids of open requests of the same kind within the category's duplicate radius,
    nearest first (the composite index narrows to the kind and a small box)."""
    radius = definition.duplicate_radius_m
    if radius <= 0:
        return []
    when = now or utcnow()
    dlon, dlat = degree_box(longitude, latitude, radius)
    found = []
    for row in connection.execute(_OPEN_NEAR, {
            "code": definition.code,
            "since": when - dt.timedelta(days=DUPLICATE_WINDOW_DAYS),
            "lon0": longitude - dlon, "lon1": longitude + dlon,
            "lat0": latitude - dlat, "lat1": latitude + dlat,
            "exclude": exclude_id if exclude_id is not None else -1}):
        distance = great_circle_m(longitude, latitude, row.longitude or 0.0,
                                  row.latitude or 0.0)
        if distance <= radius:
            found.append((distance, int(row.id)))
    return [i for _, i in sorted(found)]


def possible_duplicates(session: Session, definition: ServiceDefinition, longitude: float,
                        latitude: float, *, exclude_id: int | None = None,
                        now: dt.datetime | None = None) -> list[ServiceRequest]:
    """Open requests of the same kind within the category's duplicate radius, nearest first."""
    session.flush()  # pending ORM changes (a request just closed) count; Core does not autoflush
    return _load_requests(session, duplicate_ids(session.connection(), definition, longitude,
                                                 latitude, exclude_id=exclude_id, now=now))


def _load_requests(session: Session, ids: list[int]) -> list[ServiceRequest]:
    if not ids:
        return []  # the usual case: nothing to load
    loaded = {r.id: r for r in session.scalars(select(ServiceRequest)
                                                .where(ServiceRequest.id.in_(ids)))}
    return [loaded[i] for i in ids if i in loaded]


def get_request(session: Session, request_id: int) -> ServiceRequest:
    """The request with ``request_id``."""
    found = session.get(ServiceRequest, request_id)
    if found is None:
        raise NotFoundError(f"no service request with id {request_id}; GET "
                            "/api/v1/service-requests lists those you may see",
                            code="services.request_not_found", params={"id": request_id})
    return found


def request_by_token(session: Session, token: str) -> ServiceRequest:
    """The request a submission token belongs to."""
    found = session.scalar(select(ServiceRequest).where(ServiceRequest.token == token))
    if found is None:
        raise NotFoundError(f"no service request with token {token!r}",
                            code="services.token_not_found")
    return found


def can_view(user: Principal | None, request: ServiceRequest, definition: ServiceDefinition
             ) -> bool:
    """Public kinds: everyone; others: the submitter and staff over its division."""
    if definition.public:
        return True
    if user is None:
        return False
    if request.submitter_id is not None and request.submitter_id == user.id:
        return True
    return in_jurisdiction(user, request.division_code)


def require_view(user: Principal | None, request: ServiceRequest,
                 definition: ServiceDefinition) -> None:
    """Raise NotFoundError (not 403: the request's existence is itself private)."""
    if not can_view(user, request, definition):
        raise NotFoundError(f"no service request {request.id}",
                            code="services.request_not_found", params={"id": request.id})


def visible_query(user: Principal | None, catalog: RequestCatalog) -> Select[ServiceRequest]:
    """A select of the requests ``user`` may see (the policy applied once, in SQL)."""
    public_codes = [c for c, d in catalog.services.items() if d.public]
    query = select(ServiceRequest)
    if user is None:
        return query.where(ServiceRequest.service_code.in_(public_codes))
    prefix = jurisdiction_prefix(user)
    conditions = [ServiceRequest.service_code.in_(public_codes),
                  ServiceRequest.submitter_id == user.id]
    if prefix is not None:
        conditions.append(ServiceRequest.division_code.startswith(prefix))
    return query.where(or_(*conditions))


# Encrypted whole texts and contact details: a request's detail reads them, a list never.
_WHOLE_TEXTS = (ServiceRequest.description_enc, ServiceRequest.contact_name_enc,
                ServiceRequest.contact_email_enc, ServiceRequest.contact_phone_enc,
                ServiceRequest.status_notes_enc, ServiceRequest.rating_comment_enc)


def listed(query: Select[Any]) -> Select[Any]:
    """``query`` of requests without the columns a list never shows, each of which would
    otherwise be decrypted as its row loads (read later, they load on access)."""
    return query.options(*(defer(column) for column in _WHOLE_TEXTS))


def queue_query(user: User) -> Select[ServiceRequest]:
    """Unclosed requests ``user`` answers for, earliest deadline first."""
    if Role(user.role) not in HANDLER_ROLES:
        raise AccessDenied(f"role {user.role} does not work a request queue")
    prefix = jurisdiction_prefix(user) or ""
    return (select(ServiceRequest)
            .where(ServiceRequest.responsible_code.startswith(prefix),
                   ServiceRequest.status != RequestStatus.CLOSED.value)
            .order_by(ServiceRequest.deadline_at, ServiceRequest.id))


def act(session: Session, catalog: RequestCatalog, request: ServiceRequest, *, user: User,
        action: str, note: str | None = None, assignee_id: int | None = None,
        now: dt.datetime | None = None) -> ServiceRequest:
    """Apply a workflow ``action`` by ``user``; checks role, jurisdiction and state.

    Handlers over the responsible division may do everything; the submitter may only
    reopen, within ``reopen_days`` of closing.
    """
    when = now or utcnow()
    before = request.status
    own = request.submitter_id is not None and request.submitter_id == user.id
    if action == "reopen" and own and not can_handle(user, request.responsible_code):
        if before != RequestStatus.CLOSED.value:
            raise ConflictError("only a closed request can be reopened by its submitter",
                                code="services.reopen_only_closed")
    else:
        require_handler(user, request.responsible_code)
    after = workflow.next_status(before, action)
    if action == "reopen" and before == RequestStatus.CLOSED.value and not workflow.may_reopen(
            aware(request.closed_at) if request.closed_at else None, when, catalog.reopen_days):
        raise ConflictError(f"request {request.id} was closed more than "
                            f"{catalog.reopen_days:g} days ago; submit a new request",
                            code="services.reopen_too_late",
                            params={"days": f"{catalog.reopen_days:g}"})
    if action == "assign":
        if assignee_id is None:
            raise ValidationError([Problem("assignee_id", "assign needs the worker's user id",
                                           column="assignee_id",
                                           code="services.assignee_missing")])
        assignee = session.get(User, assignee_id)
        if assignee is None or not can_handle(assignee, request.responsible_code):
            raise ValidationError([Problem("assignee_id", f"user {assignee_id} cannot handle "
                                           f"requests of {request.responsible_code}",
                                           hint="choose a worker of that community or street",
                                           column="assignee_id",
                                           code="services.assignee_elsewhere")])
        request.assigned_to_id = assignee.id
    if action == "close":
        request.closed_at = when
    if action == "reopen":
        request.reopen_count += 1
        request.closed_at = None
        request.rating = None
        request.rating_comment = request.rating_comment_enc = None
        definition = catalog.service(request.service_code)
        request.deadline_at = workflow.deadline(when, definition.deadline_hours)
    request.status = after.value
    shown, whole = split_free_text(note)
    if note:
        request.status_notes, request.status_notes_enc = shown, whole
    request.updated_at = when
    event = ServiceRequestEvent(request_id=request.id, at=when, user_id=user.id,
                                action=action, from_status=before, to_status=after.value,
                                note=shown, note_enc=whole)
    session.add(event)
    audit(session, user=user, action=action, entity="service_request", entity_id=request.id,
          detail={"from": before, "to": after.value, "assignee_id": assignee_id})
    if action in _TOLD:
        # The resident hears of their request's steps; a reopening by the resident is
        # told to the worker it is assigned to.
        told = request.submitter_id if request.submitter_id != user.id \
            else request.assigned_to_id
        if told is not None and told != user.id:
            session.flush()  # the event's id names the notification
            notify(session, told, _TOLD[action], {"request": request.id},
                   f"service_request_event:{event.id}", now=when)
    return request


# The steps of a request its resident is notified of.
_TOLD = {"accept": Kind.REQUEST_ACCEPTED, "resolve": Kind.REQUEST_RESOLVED,
         "close": Kind.REQUEST_CLOSED, "reopen": Kind.REQUEST_REOPENED}


def rate(session: Session, request: ServiceRequest, *, user: User, rating: int,
         comment: str | None = None, now: dt.datetime | None = None) -> ServiceRequest:
    """The submitter's satisfaction rating (1–5) of a closed request, given once."""
    if request.submitter_id is None or request.submitter_id != user.id:
        raise AccessDenied("only the resident who submitted a request may rate it",
                           code="services.rate_not_yours")
    if request.status != RequestStatus.CLOSED.value:
        raise ConflictError("a request can be rated once it is closed",
                            code="services.rate_not_closed")
    if request.rating is not None:
        raise ConflictError("this request has already been rated",
                            code="services.rated_already")
    if not 1 <= rating <= 5:
        raise ValidationError([Problem("rating", f"{rating} is not 1–5", column="rating",
                                       code="out_of_range",
                                       params={"low": 1, "high": 5, "value": rating})])
    request.rating = rating
    request.rating_comment, request.rating_comment_enc = split_free_text(comment)
    request.updated_at = now or utcnow()
    session.add(ServiceRequestEvent(request_id=request.id, at=request.updated_at,
                                    user_id=user.id, action="rate", from_status=request.status,
                                    to_status=request.status, note=str(rating)))
    audit(session, user=user, action="rate", entity="service_request", entity_id=request.id,
          detail={"rating": rating})
    return request


def escalate_overdue(session: Session, catalog: RequestCatalog, *,
                     now: dt.datetime | None = None) -> list[ServiceRequest]:
    """Move every overdue unresolved request to the level above, with a fresh deadline."""
    when = now or utcnow()
    open_states = [s.value for s in RequestStatus
                   if s not in (RequestStatus.RESOLVED, RequestStatus.CLOSED)]
    rows = session.scalars(select(ServiceRequest).where(
        and_(ServiceRequest.status.in_(open_states), ServiceRequest.deadline_at < when))).all()
    moved = []
    for request in rows:
        level = level_of(request.responsible_code)
        parent = parent_of(request.responsible_code, level)
        if parent is None:
            continue  # a province has no level above; it stays overdue and listed
        definition = catalog.service(request.service_code)
        before = request.responsible_code
        request.responsible_code = parent
        request.escalation_level += 1
        request.deadline_at = workflow.deadline(when, definition.deadline_hours)
        request.updated_at = when
        session.add(ServiceRequestEvent(request_id=request.id, at=when, user_id=None,
                                        action="escalate", from_status=request.status,
                                        to_status=request.status,
                                        note=f"{before} → {parent}"))
        audit(session, user=None, action="escalate", entity="service_request",
              entity_id=request.id, detail={"from": before, "to": parent})
        moved.append(request)
    return moved


def _may_see_whole(request: ServiceRequest, user: Principal | None) -> bool:
    return user is not None and (
        (request.submitter_id is not None and request.submitter_id == user.id)
        or may_see_whole_personal_numbers(user, resident_id=-1,
                                          division_code=request.division_code))


def contact_phone(request: ServiceRequest, *, user: Principal | None,
                  session: Session) -> str | None:
    """The contact phone, whole for handlers in the jurisdiction and the submitter, else
    masked; a whole read is audited."""
    number = request.contact_phone_enc
    if number is None:
        return None
    if _may_see_whole(request, user):
        audit(session, user=user, action="read_personal", entity="service_request",
              entity_id=request.id, detail={"field": "contact_phone"})
        return number
    return mask_phone(number)


def whole_description(request: ServiceRequest, *, user: Principal | None,
                      session: Session) -> str | None:
    """The description as typed, numbers included, for handlers in the jurisdiction and
    the submitter (the read is audited); everyone else gets the masked one."""
    if request.description_enc is None or not _may_see_whole(request, user):
        return request.description
    audit(session, user=user, action="read_personal", entity="service_request",
          entity_id=request.id, detail={"field": "description"})
    return request.description_enc


def events(session: Session, request: ServiceRequest) -> Sequence[ServiceRequestEvent]:
    """The request's history, oldest first."""
    return session.scalars(select(ServiceRequestEvent)
                           .where(ServiceRequestEvent.request_id == request.id)
                           .order_by(ServiceRequestEvent.id)).all()
