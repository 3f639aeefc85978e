"""Who will handle a request, and by when, before it is sent:
``GET /api/v1/request-handling``.

The report form asks this when its pin, facility or kind changes, and shows the answer
beside the send button; the same routing and deadline as a submission
(:func:`shequ.services.requests.service.handling_for`), with nothing written.  The
``summary`` sentences are in the reader's language (``lang``), as the form draws them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from shequ import i18n
from shequ.http.caller import RateLimit
from shequ.http.deps import ContextDep, SessionDep
from shequ.http.problems import error_responses
from shequ.services.requests import load_request_catalog
from shequ.services.requests import service as rs
from shequ.services.requests.definitions import RequestCatalog
from shequ.services.requests.handling import describe_handling
from shequ.services.requests.open311 import w3c

router = APIRouter(tags=["services"])

# The division levels an office can be at, by their catalog key.
class HandlingOut(BaseModel):
    """Who would answer a request placed so, why, and by when."""

    service_code: str
    reason: str  # division | facility | point
    place_code: str
    place_name: str
    facility_name: str | None
    office_code: str
    office_name: str
    office_level: int
    deadline_hours: float
    deadline_at: str
    escalates_to_code: str | None
    escalates_to_name: str | None
    summary: list[str]


def handling_out(handling: rs.Handling, catalog: RequestCatalog, lang: str) -> HandlingOut:
    """``handling`` as the API answers it."""
    return HandlingOut(
        service_code=handling.service_code, reason=handling.reason,
        place_code=handling.place_code, place_name=handling.place_name,
        facility_name=handling.facility_name, office_code=handling.office_code,
        office_name=handling.office_name, office_level=handling.office_level,
        deadline_hours=handling.deadline_hours, deadline_at=w3c(handling.deadline_at) or "",
        escalates_to_code=handling.escalates_to_code,
        escalates_to_name=handling.escalates_to_name,
        summary=describe_handling(handling, catalog, lang))


@router.get("/request-handling", response_model=HandlingOut,
            responses=error_responses(404, 422, 429),
            dependencies=[Depends(RateLimit("request-handling", 600, 60))])
def request_handling(
    ctx: ContextDep, session: SessionDep, *,
    service_code: Annotated[str, Query(max_length=64, description="the kind of request")],
    facility_id: Annotated[int | None, Query(ge=1, le=2**31 - 1,
                                             description="a chosen facility")] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90, description="the pin's latitude")] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180,
                                       description="the pin's longitude")] = None,
    division_code: Annotated[str | None, Query(max_length=12,
                                               description="a division instead")] = None,
    lang: Annotated[str | None, Query(max_length=10,
                                      description="zh-CN (default) or en")] = None,
) -> HandlingOut:
    """Which office would handle a request of ``service_code`` placed by the pin, the
    facility or the division, why, and by when it should be resolved (from now)."""
    catalog = load_request_catalog(ctx.settings.catalog_dir)
    handling = rs.handling_for(session, catalog, service_code, facility_id=facility_id,
                               longitude=lon, latitude=lat, division_code=division_code,
                               now=dt.datetime.now(dt.UTC))
    return handling_out(handling, catalog, i18n.normalise_language(lang))
