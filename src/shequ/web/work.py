"""The workbench (工作台): what is waiting for a signed-in staff member, with a link to
the page where each kind of work is done.  Staff land here after signing in."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from shequ.api.bookings import page_context
from shequ.errors import NotFoundError
from shequ.http.caller import CurrentUser, OptionalUser
from shequ.http.deps import ContextDep, SessionDep
from shequ.registry import queries
from shequ.services import upkeep
from shequ.services.accounts import (
    HANDLER_ROLES,
    PLANNER_ROLES,
    STAFF_ROLES,
    Role,
    jurisdiction_prefix,
    require_role,
)
from shequ.services.bookings import service as bookings
from shequ.services.bookings.models import BookingStatus
from shequ.services.care import service as care
from shequ.services.care.models import ApplicationStatus
from shequ.services.requests import service as requests
from shequ.services.requests.models import ServiceRequest
from shequ.services.reviews import service as reviews
from shequ.services.volunteers import service as volunteers
from shequ.web.forms import back, errors_back_to, login_redirect
from shequ.web.templates import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Task:
    """One kind of waiting work: how many, how many are urgent, where to do it."""

    key: str
    count: int
    href: str
    urgent: int = 0
    at_least: bool = False  # counted over a first part only: the true count may be higher


def _count(session: Session, query: Select[ServiceRequest]) -> int:
    return int(session.scalar(select(func.count()).select_from(
        query.order_by(None).subquery())) or 0)


@router.get("/work", response_class=HTMLResponse)
def workbench(request: Request, ctx: ContextDep, session: SessionDep,
              user: OptionalUser) -> Response:
    """The signed-in staff member's open work in their jurisdiction."""
    if user is None:
        return login_redirect(request)
    require_role(user, *STAFF_ROLES)
    prefix = jurisdiction_prefix(user) or ""
    role = Role(user.role)
    tasks: list[Task] = []
    if role in HANDLER_ROLES:
        queue = requests.queue_query(user)
        tasks += [
            Task("work.requests", _count(session, queue), "/services/queue",
                 urgent=_count(session, queue.where(
                     ServiceRequest.deadline_at < requests.utcnow()))),
            Task("work.bookings", len(bookings.bookings_in(
                session, division_prefix=prefix, statuses=[BookingStatus.PENDING.value])),
                "/bookings/manage"),
            Task("work.care", len(care.applications_of(
                session, division_prefix=prefix, statuses=[ApplicationStatus.WAITING.value])),
                "/care/manage"),
            Task("work.hours", len(volunteers.hours_to_confirm(session, division_prefix=prefix)),
                 "/volunteers/manage"),
            Task("work.reviews", len(reviews.to_moderate(session, division_prefix=prefix)),
                 "/reviews/manage"),
        ]
    looked_at = 1000
    gaps = [c for c in upkeep.completeness(session, ctx.catalog, prefix, limit=looked_at)
            if c.gaps]
    more = queries.count_by_level(session, prefix=prefix).get(5, 0) > looked_at
    tasks.append(Task("work.records", len(gaps), "/upkeep",
                      urgent=sum(1 for c in gaps if c.population_year is None),
                      at_least=more))
    scope = user.jurisdiction_code
    if scope:
        with contextlib.suppress(NotFoundError):  # a unit merged away keeps its code shown
            scope = f"{queries.division(session, scope).name}（{scope}）"
    return render(request, "work.html", {
        **page_context(request, ctx, user), "tasks": tasks, "scope": scope,
        "planner": role in PLANNER_ROLES})


@router.post("/work/refresh")
@errors_back_to("/work")
def refresh(ctx: ContextDep, session: SessionDep, user: CurrentUser) -> Response:
    """Planners: recompute this year's life circles of the jurisdiction, then every
    indicator, from the registry as staff have left it."""
    from shequ.api.access import recompute_life_circles
    from shequ.api.indicators import run_indicators

    require_role(user, *PLANNER_ROLES)
    recompute_life_circles(ctx, session, user)
    # The indicators read the new coverage through sessions of their own.
    session.commit()
    run_indicators(ctx, session, user)
    return back("/work", message="work.refreshed")
