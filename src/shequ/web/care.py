"""The care-place pages: a resident applies for a day-care or nursery place and follows the
queue or answers the offer; a handler sees each facility's waitlist by the declared rules,
offers free places and ends enrolments.

Each form calls the same use case of :mod:`shequ.services.care.service` as the API
(permission, act, audit, then the places refilled).  A form that fails is drawn again with
what was typed and each problem beside its field; one that works goes back with a message.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pydantic
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from shequ.errors import AccessDenied, ConflictError, NotFoundError, ShequError
from shequ.http.deps import MAX_ID, ContextDep, IdPath, SessionDep
from shequ.services.accounts import HANDLER_ROLES
from shequ.services.bookings.clock import local_now
from shequ.services.care import service as cs
from shequ.services.care.models import ApplicationStatus
from shequ.services.care.rules import PriorityRules, load_priority_rules
from shequ.web.bookings import PostedForm, local_formats, parse, problem_status
from shequ.web.forms import FormState, back, failed, typed
from shequ.web.page import Crumb, Page, SignedInPage, render

router = APIRouter(include_in_schema=False)


def _rules(ctx: ContextDep) -> PriorityRules:
    return load_priority_rules(ctx.settings.catalog_dir)


RulesDep = Annotated[PriorityRules, Depends(_rules)]


def _care_page(page: Page, ctx: ContextDep, session: SessionDep, rules: PriorityRules,
               form: FormState | None = None, *, answer_form: FormState | None = None,
               status_code: int = 200) -> HTMLResponse:
    """``form``: the application form that failed, drawn again as typed; ``answer_form``:
    an answer to an offer that failed (its problem above the list)."""
    user = page.require()
    facilities = cs.facilities_near(session, user)
    free = {f.id: len(cs.free_places(session, f.id)) for f in facilities}
    options = [(f.id, page.t("resident_services.facility_with_places", name=f.name,
                             free=free[f.id], capacity=f.capacity or 0)) for f in facilities]
    mine = [(a, f, cs.queue_position(session, rules, a.id))
            for a, f in cs.applications_of(session, applicant_user_id=user.id)]
    return render(page, "care.html", {
        "facility_options": options, "mine": mine, "rules": rules, "form": form,
        "answer_form": answer_form, "today": local_now().date(), **local_formats(page),
        "breadcrumbs": [Crumb(page.t("common.home"), "/"),
                        Crumb(page.t("resident_services.care"))]}, status_code=status_code)


@router.get("/care", response_class=HTMLResponse)
def care_page(page: SignedInPage, ctx: ContextDep, session: SessionDep,
              rules: RulesDep) -> HTMLResponse:
    """Residents: apply for a place and follow the queue or the offer."""
    return _care_page(page, ctx, session, rules)


class ApplyForm(BaseModel):
    """The application form."""

    facility_id: int = Field(ge=1, le=MAX_ID)
    beneficiary_name: str = Field(min_length=1, max_length=100)
    beneficiary_birth_date: dt.date = Field(ge=dt.date(1900, 1, 1), le=dt.date(2100, 1, 1))
    priority_groups: list[str] = Field(default=[], max_length=10)


@router.post("/care/apply", response_class=HTMLResponse)
def apply_form(page: SignedInPage, ctx: ContextDep, session: SessionDep, rules: RulesDep,
               posted: PostedForm) -> Response:
    """Apply from the page; a free place is offered at once to whoever the rules put first."""
    user = page.require()
    state = typed(posted)
    try:
        body = parse(ApplyForm, state)
        app = cs.apply_as(session, ctx.sessions, rules, user, facility_id=body.facility_id,
                          beneficiary_name=body.beneficiary_name,
                          beneficiary_birth_date=body.beneficiary_birth_date,
                          priority_groups=body.priority_groups)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied):
            raise
        form = failed(state, exc, page.lang, session=session)
        return _care_page(page, ctx, session, rules, form, status_code=problem_status(exc))
    return back("/care", message="resident_services.offered_now"
                if app.status == ApplicationStatus.OFFERED.value else "resident_services.applied")


class AnswerForm(BaseModel):
    """An applicant's answer."""

    answer: str = Field(pattern="^(accept|decline|withdraw)$")


@router.post("/care/applications/{application_id}/answer", response_class=HTMLResponse)
def answer_form(page: SignedInPage, ctx: ContextDep, session: SessionDep, rules: RulesDep,
                *, application_id: IdPath, posted: PostedForm) -> Response:
    """Accept, decline or withdraw from the page."""
    user = page.require()
    state = typed(posted)
    try:
        body = parse(AnswerForm, state)
        cs.answer_as(session, ctx.sessions, rules, user, application_id, answer=body.answer)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        form = failed(state, exc, page.lang, session=session)
        return _care_page(page, ctx, session, rules, answer_form=form,
                          status_code=problem_status(exc))
    return back("/care", message=f"resident_services.answer_{body.answer}")


def _manage_page(page: Page, session: SessionDep, rules: PriorityRules,
                 form: FormState | None = None, *, status_code: int = 200) -> HTMLResponse:
    user = page.require(*HANDLER_ROLES)
    desks = cs.desk(session, rules, user)
    return render(page, "care_manage.html", {
        "desks": desks, "rules": rules, "form": form, "now": local_now(),
        **local_formats(page),
        "breadcrumbs": [Crumb(page.t("common.home"), "/"),
                        Crumb(page.t("resident_services.care"), "/care"),
                        Crumb(page.t("resident_services.waitlists"))]},
        status_code=status_code)


@router.get("/care/manage", response_class=HTMLResponse)
def care_manage_page(page: SignedInPage, session: SessionDep,
                     rules: RulesDep) -> HTMLResponse:
    """Handlers: waitlists, open offers and enrolments of their facilities."""
    return _manage_page(page, session, rules)


@router.post("/care/facilities/{facility_id}/settle-form", response_class=HTMLResponse)
def settle_form(page: SignedInPage, ctx: ContextDep, session: SessionDep, rules: RulesDep,
                facility_id: IdPath) -> Response:
    """The handler's "offer free places" button (overdue offers lapse first)."""
    user = page.require(*HANDLER_ROLES)
    _, offered = cs.settle_as(session, ctx.sessions, rules, user, facility_id)
    return back("/care/manage", message="resident_services.offers_made" if offered
                else "resident_services.no_offers")


@router.post("/care/applications/{application_id}/end-form", response_class=HTMLResponse)
def end_form(page: SignedInPage, ctx: ContextDep, session: SessionDep, rules: RulesDep,
             *, application_id: IdPath, posted: PostedForm) -> Response:
    """End an enrolment from the handler's page."""
    user = page.require(*HANDLER_ROLES)
    try:
        cs.end_enrolment_as(session, ctx.sessions, rules, user, application_id)
    except ConflictError as exc:
        form = failed(typed(posted), exc, page.lang, session=session)
        return _manage_page(page, session, rules, form, status_code=409)
    return back("/care/manage", message="resident_services.enrolment_ended")
