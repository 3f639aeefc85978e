"""The workbench (工作台): what is waiting for a signed-in staff member, with a link to
the page where each kind of work is done.  Staff land here after signing in.

Case handlers (community workers, street officers) see their queues; planners see the
records their communities still lack, their draft scenarios and when the indicators
were last computed, and may recompute them; administrators see both."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pydantic
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from shequ.errors import AccessDenied, NotFoundError, ShequError
from shequ.http.deps import ContextDep, SessionDep
from shequ.indicators.store import latest_run
from shequ.plan.models import PlanScenario
from shequ.registry import queries
from shequ.services import upkeep
from shequ.services.accounts import (
    HANDLER_ROLES,
    PLANNER_ROLES,
    STAFF_ROLES,
    Role,
    jurisdiction_prefix,
)
from shequ.services.analyses import recompute_life_circles, run_indicators
from shequ.services.bookings import service as bookings
from shequ.services.bookings.models import BookingStatus
from shequ.services.care import service as care
from shequ.services.care.models import ApplicationStatus
from shequ.services.reporting import service as reporting
from shequ.services.requests import service as requests
from shequ.services.requests.models import ServiceRequest
from shequ.services.reviews import service as reviews
from shequ.services.volunteers import service as volunteers
from shequ.web.forms import FormState, back, failed
from shequ.web.page import Crumb, Page, SignedInPage, render

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


def _draw(page: Page, ctx: ContextDep, session: Session, *, form: FormState | None = None,
          status_code: int = 200) -> HTMLResponse:
    user = page.require(*STAFF_ROLES)
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
    forms = reporting.forms_to_do(session, reporting.reporting_config(
        ctx.settings.catalog_dir), user, today=queries.today())
    if forms is not None:  # only while a round concerns the jurisdiction
        tasks.append(Task("reporting.work_forms", forms[0], "/reporting", urgent=forms[1]))
    planner = role in PLANNER_ROLES
    last_run = None
    if planner:
        drafts = list(session.scalars(select(PlanScenario).where(
            PlanScenario.division_code.startswith(prefix), PlanScenario.status == "draft")))
        tasks.append(Task("work.scenarios", len(drafts), "/plan",
                          urgent=sum(1 for s in drafts if not s.evaluation)))
        with contextlib.suppress(NotFoundError):
            last_run = latest_run(session)
    scope = None
    if user.jurisdiction_code:
        scope = user.jurisdiction_code
        with contextlib.suppress(NotFoundError):  # a unit merged away keeps its code shown
            scope = page.t("work.scope", name=queries.division(session, scope).name,
                           code=scope)
    return render(page, "work.html", {
        "tasks": tasks, "scope": scope, "planner": planner, "last_run": last_run,
        "waiting": sum(t.count for t in tasks), "form": form,
        "reporting_open": forms is not None,
        "breadcrumbs": [Crumb(page.t("common.home"), "/"), Crumb(page.t("work.title"))],
    }, status_code=status_code)


@router.get("/work", response_class=HTMLResponse)
def workbench(page: SignedInPage, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """The signed-in staff member's open work in their jurisdiction."""
    return _draw(page, ctx, session)


@router.post("/work/refresh", response_class=HTMLResponse)
def refresh(page: SignedInPage, ctx: ContextDep, session: SessionDep) -> Response:
    """Planners: recompute this year's life circles of the jurisdiction, then every
    indicator, from the registry as staff have left it."""
    user = page.require(*PLANNER_ROLES)
    try:
        recompute_life_circles(ctx, session, user)
        # The indicators read the new coverage through sessions of their own.
        session.commit()
        run_indicators(ctx, session, user)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied):
            raise
        return _draw(page, ctx, session, form=failed(FormState(), exc, page.lang,
                                                     session=session), status_code=422)
    return back("/work", message="work.refreshed")
