"""Open Referral HSDS 3.0 API over the registry's facilities, mounted at ``/hsds``.

Core endpoints: ``/``, ``/services``, ``/services/{id}``, ``/organizations[/{id}]``,
``/locations[/{id}]``, ``/service_at_locations[/{id}]``, ``/taxonomies[/{id}]``,
``/taxonomy_terms[/{id}]``; lists are paginated (``page``, ``per_page``).
The Shequ profile (``GET /hsds/profile``, declared by ``GET /hsds/``) adds to
``/services`` and ``/service_at_locations``: ``division`` (12-digit code or prefix: the
division's whole subtree), ``latitude``/``longitude``/``radius`` (metres, nearest first),
``open_now`` (from OSM opening hours, China Standard Time; ``at`` evaluates another
moment), ``type`` (facility type code) and ``lang`` (zh-CN default, en); and to the
service record the fields ``distance_m`` and ``open_now``.  Reads are public: the
directory holds no personal data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequ.catalog import FacilityType
from shequ.context import Context
from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.http.deps import reader_sessions
from shequ.http.directory import directory_in_step
from shequ.http.problems import error_responses
from shequ.i18n import normalise_language
from shequ.registry import queries
from shequ.registry.codes import code_prefix, level_of, normalise_code
from shequ.registry.columns import CHINA_TZ
from shequ.registry.models import Division, Facility
from shequ.services.directory import (
    DirectoryEntry,
    DirectoryState,
    Hit,
    ServiceFilter,
    hsds,
    search_services,
    services_near,
)
from shequ.services.directory.ids import TAXONOMY_ID
from shequ.services.directory.spatial import PointIndex

HSDS_VERSION = "3.0"
PROFILE_PATH = "/hsds/profile"

# -- response schemas (for the OpenAPI document; responses are built as plain dicts) --


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ServiceOut(_Open):
    """An HSDS service (core fields; nested arrays when full)."""

    id: str
    name: str
    status: Literal["active", "inactive", "defunct", "temporarily closed"]


class OrganizationOut(_Open):
    """An HSDS organization."""

    id: str
    name: str
    description: str


class LocationOut(_Open):
    """An HSDS location."""

    id: str
    location_type: Literal["physical", "postal", "virtual"]


class ServiceAtLocationOut(_Open):
    """An HSDS service_at_location."""

    id: str


class TaxonomyOut(_Open):
    """An HSDS taxonomy."""

    id: str
    name: str
    description: str


class TaxonomyTermOut(_Open):
    """An HSDS taxonomy term."""

    id: str
    name: str
    description: str


class _Page(BaseModel):
    total_items: int
    total_pages: int
    page_number: int
    size: int
    first_page: bool
    last_page: bool
    empty: bool


class ServicePage(_Page):
    """A page of services."""

    contents: list[ServiceOut]


class OrganizationPage(_Page):
    """A page of organizations."""

    contents: list[OrganizationOut]


class LocationPage(_Page):
    """A page of locations."""

    contents: list[LocationOut]


class ServiceAtLocationPage(_Page):
    """A page of service_at_locations."""

    contents: list[ServiceAtLocationOut]


class TaxonomyPage(_Page):
    """A page of taxonomies."""

    contents: list[TaxonomyOut]


class TaxonomyTermPage(_Page):
    """A page of taxonomy terms."""

    contents: list[TaxonomyTermOut]


class ApiInfo(BaseModel):
    """What this HSDS API is."""

    version: str
    profile: str
    openapi_url: str


# -- dependencies --
# Routes and dependencies that touch the database are plain functions, run in the thread
# pool: a query on the event loop would stop every other request while it waits (and, once
# the pool's connections are all held by requests that need the loop to finish, for good).
# Only what needs no database stays a coroutine: the context, the catalog's taxonomy.


async def _context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _read_session(request: Request) -> Iterator[Session]:
    # The directory only reads: no transaction (see reader_sessions).
    with reader_sessions(request)() as session:
        yield session


ContextDep = Annotated[Context, Depends(_context)]
SessionDep = Annotated[Session, Depends(_read_session)]


router = APIRouter(tags=["hsds"], dependencies=[Depends(directory_in_step)])

Page = Annotated[int, Query(ge=1, le=100_000, description="page number, from 1")]
PerPage = Annotated[int, Query(ge=1, le=100, description="records per page")]
Lang = Annotated[str | None, Query(max_length=10, description="zh-CN (default) or en")]
NOT_FOUND = error_responses(404, 422)
BAD_INPUT = error_responses(422)


def _point_index(request: Request) -> PointIndex | None:
    state: DirectoryState | None = getattr(request.app.state, "directory_state", None)
    return state.index if state is not None else None


def _json(body: Any) -> JSONResponse:
    return JSONResponse(body)


def _types(ctx: ContextDep) -> dict[str, FacilityType]:
    return ctx.catalog.facility_types


def _division_prefix(session: Session, division: str | None) -> str | None:
    if not division:
        return None
    code = normalise_code(division, where="division")
    return code_prefix(code, level_of(code))


def _term_types(ctx: ContextDep, term_id: str | None, taxonomy_id: str | None,
                type_code: str | None) -> tuple[str, ...] | None:
    """Facility types a taxonomy filter selects; None = no filter, () = nothing matches."""
    chosen: set[str] | None = None
    types = _types(ctx)
    if type_code:
        chosen = {type_code} if type_code in types else set()
    if term_id:
        selected = {c for c, t in types.items()
                    if term_id in (hsds.type_term_id(c), hsds.area_term_id(t.service_area))}
        chosen = selected if chosen is None else chosen & selected
    if taxonomy_id and taxonomy_id != TAXONOMY_ID:
        chosen = set()
    return None if chosen is None else tuple(sorted(chosen))


def _moment(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return dt.datetime.now(dt.UTC)
    return at if at.tzinfo else at.replace(tzinfo=CHINA_TZ)


def _organization_names(session: Session, keys: list[str]) -> dict[str, str]:
    codes = [k.removeprefix("division:") for k in keys if k.startswith("division:")]
    names = {}
    if codes:
        rows = session.execute(select(Division.code, Division.name).where(
            Division.code.in_(codes), queries.valid_on(queries.today())))
        names = {f"division:{code}": f"{name}居民委员会" if not name.endswith(
            ("委员会", "居委会", "村委会")) else name for code, name in rows}
    return {k: names.get(k, k.removeprefix("division:")) for k in keys}


def _organization_for(session: Session, entry: DirectoryEntry, lang: str) -> dict[str, Any]:
    name = _organization_names(session, [entry.organization_key])[entry.organization_key]
    return hsds.organization_record(entry.organization_uuid, entry.organization_key, name, lang)


def _address_parts(session: Session, code: str) -> dict[str, str]:
    try:
        chain = queries.ancestors(session, code)
    except NotFoundError:
        return {}
    names = {1: "province", 2: "prefecture", 3: "county", 4: "township", 5: "community"}
    return {names[d.level]: d.name for d in chain}


def _search(ctx: ContextDep, session: Session, *, search: str | None, page: int, per_page: int,
            taxonomy_term_id: str | None, taxonomy_id: str | None, organization_id: str | None,
            modified_after: dt.datetime | None, division: str | None,
            latitude: float | None, longitude: float | None, radius: float | None,
            open_now: bool, at: dt.datetime | None, type_code: str | None,
            index: PointIndex | None = None) -> tuple[list[Hit], int]:
    types = _term_types(ctx, taxonomy_term_id, taxonomy_id, type_code)
    if types == ():
        return [], 0
    if (latitude is None) != (longitude is None):
        raise ValidationError([Problem("latitude/longitude", "give both or neither")])
    f = ServiceFilter(text=search.strip() if search else None,
                      division_prefix=_division_prefix(session, division),
                      type_codes=types or (), organization_uuid=organization_id,
                      modified_after=modified_after)
    if latitude is not None and longitude is not None:
        return services_near(session, f, longitude=longitude, latitude=latitude,
                             radius_m=radius or 1000.0, page=page, per_page=per_page,
                             open_now=open_now, when=_moment(at), index=index)
    return search_services(session, f, page=page, per_page=per_page, open_now=open_now,
                           when=_moment(at))


@router.get("/", response_model=ApiInfo, summary="About this HSDS API")
async def api_info(request: Request) -> JSONResponse:
    """HSDS version, the Shequ profile and the OpenAPI document."""
    base = str(request.base_url).rstrip("/")
    return _json({"version": HSDS_VERSION, "profile": base + PROFILE_PATH,
                  "openapi_url": base + "/openapi.json"})


@router.get("/profile", summary="The Shequ HSDS profile")
async def profile() -> JSONResponse:
    """The Shequ profile: JSON Merge Patches of the core schemas, and notes."""
    return _json({
        "name": "shequ",
        "title": "Shequ profile of HSDS 3.0",
        "description": "Registry facilities of China's urban and rural community service "
                       "system as HSDS services. Adds proximity search by latitude/longitude, "
                       "division-code filtering and open-now evaluation of OSM opening hours.",
        "parameters": {
            "division": "12-digit division code (or 2/4/6/9-digit prefix): only services in "
                        "its subtree",
            "latitude": "WGS84 latitude of the search point", "longitude": "WGS84 longitude",
            "radius": "metres around the point (default 1000, at most 50000); nearest first",
            "open_now": "only services whose OSM opening_hours say open (China Standard Time)",
            "at": "evaluate open_now at this ISO 8601 moment instead of now",
            "type": "facility type code of the Shequ catalog", "lang": "zh-CN or en",
        },
        "schema_patches": {
            "service.json": {"properties": {
                "distance_m": {"type": "number", "description": "metres from the search point"},
                "open_now": {"type": "boolean",
                             "description": "open at the moment of the search"}}},
        },
        "notes": [
            "ids are uuid5 of Shequ registry ids (stable across servers and rebuilds)",
            "address.postal_code is empty: the registry holds no postal codes",
            "schedules carry the OSM opening_hours text in description; simple weekly rules "
            "are also given as freq/byday/opens_at/closes_at",
            "tolerated defects of the core specification: GET /service_at_locations/{id} "
            "points at the service schema; the operationIds of /taxonomy_terms and "
            "/taxonomy_terms/{id} are swapped; opens_at examples use HH:MM:SS",
        ],
    })


class ServiceQuery(BaseModel):
    """Query parameters of ``/services`` (core HSDS and the Shequ profile).

    One model instead of twenty separate parameters: FastAPI validates it in one pydantic
    call, which is most of the framework's time on this, the busiest route.
    """

    model_config = ConfigDict(extra="ignore")

    search: str | None = Field(default=None, max_length=100)
    page: int = Field(default=1, ge=1, le=100_000, description="page number, from 1")
    per_page: int = Field(default=20, ge=1, le=100, description="records per page")
    taxonomy_term_id: str | None = Field(default=None, max_length=64)
    taxonomy_id: str | None = Field(default=None, max_length=64)
    organization_id: str | None = Field(default=None, max_length=64)
    modified_after: dt.datetime | None = None
    minimal: bool = False
    full: bool = False
    division: str | None = Field(default=None,
                                 pattern=r"^\d{2}(\d{2}(\d{2}(\d{3}(\d{3})?)?)?)?$",
                                 description="division code or prefix")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    radius: float | None = Field(default=None, gt=0, le=50_000, description="metres")
    open_now: bool = False
    at: dt.datetime | None = None
    type: str | None = Field(default=None, max_length=48)
    lang: str | None = Field(default=None, max_length=10, description="zh-CN (default) or en")


def _query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``parameters`` for a route that validates ``model`` from the query itself."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return {"parameters": [
        {"name": name, "in": "query", "required": name in required, "schema": field,
         **({"description": field["description"]} if "description" in field else {})}
        for name, field in schema["properties"].items()]}


@router.get("/services", response_model=ServicePage, responses=BAD_INPUT,
            openapi_extra=_query_parameters(ServiceQuery))
def list_services(request: Request) -> JSONResponse:
    """Services, paginated; with a point, nearest first (Shequ profile)."""
    # The busiest route: the query is validated here in one pydantic call and the session
    # opened here, instead of through FastAPI's parameter model and a generator
    # dependency, which together cost about as much as the search itself.
    try:
        q = ServiceQuery.model_validate(request.query_params)
    except PydanticError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from None
    ctx: Context = request.app.state.ctx
    language = normalise_language(q.lang)
    page, per_page = q.page, q.per_page
    with reader_sessions(request)() as session:
        hits, total = _search(ctx, session, search=q.search, page=page, per_page=per_page,
                              taxonomy_term_id=q.taxonomy_term_id, taxonomy_id=q.taxonomy_id,
                              organization_id=q.organization_id,
                              modified_after=q.modified_after, division=q.division,
                              latitude=q.latitude, longitude=q.longitude, radius=q.radius,
                              open_now=q.open_now, at=q.at, type_code=q.type,
                              index=_point_index(request))
    types = _types(ctx)
    if q.minimal:
        contents = [{"id": h.entry.service_uuid, "name": h.facility.name,
                     "status": hsds.SERVICE_STATUS.get(h.facility.status, "inactive")}
                    for h in hits]
    else:
        contents = [hsds.service_record(h.facility, h.entry, types.get(h.facility.type_code),
                                        language, full=q.full, distance_m=h.distance_m,
                                        open_now=h.open_now,
                                        location=hsds.location_record(h.facility, h.entry)
                                        if q.full else None)
                    for h in hits]
    return _json(hsds.page(contents, total=total, page_number=page, per_page=per_page))


def _entry_by(session: Session, column: Any, value: str, what: str
              ) -> tuple[Facility, DirectoryEntry]:
    row = session.execute(select(Facility, DirectoryEntry)
                          .join(DirectoryEntry, DirectoryEntry.facility_id == Facility.id)
                          .where(column == value)).first()
    if row is None:
        raise NotFoundError(f"no {what} with id {value}")
    return row


@router.get("/services/{id}", response_model=ServiceOut, responses=NOT_FOUND)
def get_service(id: str, ctx: ContextDep, session: SessionDep,
                lang: Lang = None) -> JSONResponse:
    """One service, fully nested: schedules, phones, its location and organization."""
    language = normalise_language(lang)
    facility, entry = _entry_by(session, DirectoryEntry.service_uuid, id, "service")
    location = hsds.location_record(facility, entry, full=True,
                                    address_parts=_address_parts(session, facility.division_code))
    return _json(hsds.service_record(
        facility, entry, _types(ctx).get(facility.type_code), language, full=True,
        organization=_organization_for(session, entry, language), location=location))


@router.get("/organizations", response_model=OrganizationPage, responses=BAD_INPUT)
def list_organizations(session: SessionDep,
                       search: Annotated[str | None, Query(max_length=100)] = None,
                       page: Page = 1, per_page: PerPage = 20,
                       lang: Lang = None) -> JSONResponse:
    """Operators and community committees running the directory's facilities."""
    language = normalise_language(lang)
    query = (select(DirectoryEntry.organization_uuid, DirectoryEntry.organization_key)
             .group_by(DirectoryEntry.organization_uuid, DirectoryEntry.organization_key))
    if search:
        query = query.where(DirectoryEntry.organization_key.contains(search, autoescape=True))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.execute(query.order_by(DirectoryEntry.organization_key)
                           .offset((page - 1) * per_page).limit(per_page)).all()
    names = _organization_names(session, [key for _, key in rows])
    contents = [hsds.organization_record(uid, key, names[key], language) for uid, key in rows]
    return _json(hsds.page(contents, total=total, page_number=page, per_page=per_page))


@router.get("/organizations/{id}", response_model=OrganizationOut, responses=NOT_FOUND)
def get_organization(id: str, ctx: ContextDep, session: SessionDep,
                     lang: Lang = None) -> JSONResponse:
    """One organization with its services (one-to-one fields)."""
    language = normalise_language(lang)
    rows = session.execute(select(Facility, DirectoryEntry)
                           .join(DirectoryEntry, DirectoryEntry.facility_id == Facility.id)
                           .where(DirectoryEntry.organization_uuid == id)
                           .order_by(Facility.id).limit(1000)).all()
    if not rows:
        raise NotFoundError(f"no organization with id {id}")
    key = rows[0][1].organization_key
    types = _types(ctx)
    services = [hsds.service_record(f, e, types.get(f.type_code), language) for f, e in rows]
    name = _organization_names(session, [key])[key]
    return _json(hsds.organization_record(id, key, name, language, services=services))


def _simple_page(session: Session, page: int, per_page: int, division: str | None,
                 search: str | None) -> tuple[list[tuple[Facility, DirectoryEntry]], int]:
    query = (select(Facility, DirectoryEntry)
             .join(DirectoryEntry, DirectoryEntry.facility_id == Facility.id))
    prefix = _division_prefix(session, division)
    if prefix:
        query = query.where(Facility.division_code.startswith(prefix))
    if search:
        query = query.where(Facility.name.contains(search, autoescape=True))
    total = int(session.scalar(select(func.count()).select_from(
        query.with_only_columns(Facility.id).subquery())) or 0)
    rows = session.execute(query.order_by(Facility.id).offset((page - 1) * per_page)
                           .limit(per_page)).all()
    return list(rows), total


DivisionFilter = Annotated[str | None, Query(
    pattern=r"^\d{2}(\d{2}(\d{2}(\d{3}(\d{3})?)?)?)?$", description="division code or prefix")]


@router.get("/locations", response_model=LocationPage, responses=BAD_INPUT)
def list_locations(session: SessionDep, page: Page = 1, per_page: PerPage = 20,
                   search: Annotated[str | None, Query(max_length=100)] = None,
                   division: DivisionFilter = None) -> JSONResponse:
    """Physical locations of the directory's services."""
    rows, total = _simple_page(session, page, per_page, division, search)
    contents = [hsds.location_record(f, e) for f, e in rows]
    return _json(hsds.page(contents, total=total, page_number=page, per_page=per_page))


@router.get("/locations/{id}", response_model=LocationOut, responses=NOT_FOUND)
def get_location(id: str, session: SessionDep) -> JSONResponse:
    """One location with its address and schedules."""
    facility, entry = _entry_by(session, DirectoryEntry.location_uuid, id, "location")
    return _json(hsds.location_record(
        facility, entry, full=True, address_parts=_address_parts(session,
                                                                 facility.division_code)))


@router.get("/service_at_locations", response_model=ServiceAtLocationPage, responses=BAD_INPUT)
def list_service_at_locations(
    ctx: ContextDep, session: SessionDep, *,
    search: Annotated[str | None, Query(max_length=100)] = None,
    page: Page = 1, per_page: PerPage = 20,
    taxonomy_term_id: Annotated[str | None, Query(max_length=64)] = None,
    taxonomy_id: Annotated[str | None, Query(max_length=64)] = None,
    organization_id: Annotated[str | None, Query(max_length=64)] = None,
    modified_after: dt.datetime | None = None,
    full: bool = False, division: DivisionFilter = None,
    latitude: Annotated[float | None, Query(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius: Annotated[float | None, Query(gt=0, le=50_000)] = None,
    open_now: bool = False, at: dt.datetime | None = None,
    type: Annotated[str | None, Query(max_length=48)] = None,
) -> JSONResponse:
    """Service-at-location records, with the same filters as ``/services``."""
    hits, total = _search(ctx, session, search=search, page=page, per_page=per_page,
                          taxonomy_term_id=taxonomy_term_id, taxonomy_id=taxonomy_id,
                          organization_id=organization_id, modified_after=modified_after,
                          division=division, latitude=latitude, longitude=longitude,
                          radius=radius, open_now=open_now, at=at, type_code=type)
    contents = [hsds.service_at_location_record(
        h.facility, h.entry, full=full,
        location=hsds.location_record(h.facility, h.entry) if full else None) for h in hits]
    return _json(hsds.page(contents, total=total, page_number=page, per_page=per_page))


@router.get("/service_at_locations/{id}", response_model=ServiceAtLocationOut,
            responses=NOT_FOUND)
def get_service_at_location(id: str, session: SessionDep) -> JSONResponse:
    """One service-at-location with its location (the core document's schema reference
    for this path is a known defect; the body follows service_at_location.json)."""
    facility, entry = _entry_by(session, DirectoryEntry.service_at_location_uuid, id,
                                "service_at_location")
    location = hsds.location_record(facility, entry)
    return _json(hsds.service_at_location_record(facility, entry, full=True,
                                                 location=location))


@router.get("/taxonomies", response_model=TaxonomyPage, responses=BAD_INPUT)
async def list_taxonomies(page: Page = 1, per_page: PerPage = 20,
                          lang: Lang = None) -> JSONResponse:
    """The taxonomies in use: Shequ's facility type catalog."""
    contents = [hsds.taxonomy(normalise_language(lang))] if page == 1 else []
    return _json(hsds.page(contents, total=1, page_number=page, per_page=per_page))


@router.get("/taxonomies/{id}", response_model=TaxonomyOut, responses=NOT_FOUND)
async def get_taxonomy(id: str, lang: Lang = None) -> JSONResponse:
    """One taxonomy."""
    if id != TAXONOMY_ID:
        raise NotFoundError(f"no taxonomy with id {id}")
    return _json(hsds.taxonomy(normalise_language(lang)))


@router.get("/taxonomy_terms", response_model=TaxonomyTermPage, responses=BAD_INPUT)
async def list_taxonomy_terms(ctx: ContextDep, *, page: Page = 1, per_page: PerPage = 20,
                        search: Annotated[str | None, Query(max_length=100)] = None,
                        taxonomy_id: Annotated[str | None, Query(max_length=64)] = None,
                        top_only: bool = False,
                        parent_id: Annotated[str | None, Query(max_length=64)] = None,
                        lang: Lang = None) -> JSONResponse:
    """Service areas and facility types as taxonomy terms."""
    terms = hsds.taxonomy_terms(_types(ctx).values(), normalise_language(lang))
    if taxonomy_id and taxonomy_id != TAXONOMY_ID:
        terms = []
    if top_only:
        terms = [t for t in terms if "parent_id" not in t]
    if parent_id:
        terms = [t for t in terms if t.get("parent_id") == parent_id]
    if search:
        needle = search.lower()
        terms = [t for t in terms if needle in t["name"].lower() or needle in t["code"]]
    chosen = terms[(page - 1) * per_page: page * per_page]
    return _json(hsds.page(chosen, total=len(terms), page_number=page, per_page=per_page))


@router.get("/taxonomy_terms/{id}", response_model=TaxonomyTermOut, responses=NOT_FOUND)
async def get_taxonomy_term(id: str, ctx: ContextDep, lang: Lang = None) -> JSONResponse:
    """One taxonomy term, with its taxonomy."""
    language = normalise_language(lang)
    for term in hsds.taxonomy_terms(_types(ctx).values(), language):
        if term["id"] == id:
            return _json({**term, "taxonomy_detail": hsds.taxonomy(language)})
    raise NotFoundError(f"no taxonomy term with id {id}")
