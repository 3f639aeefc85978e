"""Care places over HTTP: JSON under ``/api/v1/care`` and the pages ``/care``.

Residents apply and answer offers on their own applications; community workers see
the waitlists and end enrolments of facilities in their jurisdiction
(``require_handler``); planners read the occupancy table of theirs.  Every change that may
free a place is committed before the places are refilled (:func:`settle`), so losing a
race for a place never undoes the resident's own change.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from shequ.http.caller import CurrentUser, OptionalUser
from shequ.api.bookings import (
    ERRORS,
    acting_division,
    page_context,
    visible_prefix,
)
from shequ.http.deps import MAX_ID, ContextDep, IdPath, SessionDep
from shequ.errors import NotFoundError
from shequ.services.accounts import HANDLER_ROLES, User, audit, require_handler, require_role
from shequ.services.accounts.models import Resident
from shequ.services.bookings.clock import local_now
from shequ.services.care import service as cs
from shequ.services.care.models import ApplicationStatus, CareApplication
from shequ.services.care.rules import PriorityRules, load_priority_rules
from shequ.web.forms import back, errors_back_to, login_redirect
from shequ.web.templates import render

router = APIRouter(tags=["care"])
pages = APIRouter(include_in_schema=False)


def _rules(ctx: ContextDep) -> PriorityRules:
    return load_priority_rules(ctx.settings.catalog_dir)


RulesDep = Annotated[PriorityRules, Depends(_rules)]


class RuleOut(BaseModel):
    """One declared priority rule."""

    key: str
    label_zh: str
    label_en: str
    points: int
    group: str | None
    min_age: int | None
    facility_types: list[str]


class RulesOut(BaseModel):
    """The declared priority rules, the offer deadline and where they come from."""

    source: str
    offer_days: int
    rules: list[RuleOut]


class CareFacilityOut(BaseModel):
    """A day-care centre or nursery with its places."""

    id: int
    name: str
    type_code: str
    division_code: str
    capacity: int | None
    free_places: int
    waiting: int


class ApplicationIn(BaseModel):
    """An application for a place (the beneficiary may be the applicant or a relative)."""

    facility_id: int = Field(ge=1, le=MAX_ID)
    beneficiary_name: str = Field(min_length=1, max_length=100)
    beneficiary_birth_date: dt.date = Field(ge=dt.date(1900, 1, 1), le=dt.date(2100, 1, 1))
    priority_groups: list[str] = Field(default=[], max_length=10)


class ApplicationOut(BaseModel):
    """An application, its place in the queue or its offer."""

    id: int
    facility_id: int
    facility_name: str
    beneficiary_name: str
    status: str
    priority_groups: list[str]
    applied_at: dt.datetime
    position: int | None
    offer_deadline: dt.datetime | None
    place_no: int | None


class QueueEntryOut(BaseModel):
    """One waiting application in the order the rules give."""

    position: int
    application_id: int
    beneficiary_name: str
    points: int
    reasons: list[str]
    applied_at: dt.datetime


class CareIndicatorOut(BaseModel):
    """Occupancy and waiting of one facility."""

    facility_id: int
    division_code: str
    type_code: str
    capacity: int | None
    enrolled: int
    offers_open: int
    waiting: int
    occupancy: float | None
    mean_wait_days: float | None
    median_wait_days: float | None


def _application_out(session: Session, rules: PriorityRules, app: CareApplication
                     ) -> ApplicationOut:
    facility = cs.care_facility(session, app.facility_id)
    return ApplicationOut(
        id=app.id, facility_id=app.facility_id, facility_name=facility.name,
        beneficiary_name=app.beneficiary_name, status=app.status,
        priority_groups=[g for g in app.priority_groups.split(",") if g],
        applied_at=app.applied_at, position=cs.queue_position(session, rules, app.id),
        offer_deadline=app.offer_deadline if app.status == "offered" else None,
        place_no=app.place_no if app.status in ("offered", "accepted") else None)


def _own(session: Session, user: User, application_id: int) -> CareApplication:
    app = cs.application(session, application_id)
    if app.applicant_user_id != user.id:
        raise NotFoundError(f"you have no care application with id {application_id}")
    return app


def _handled(session: Session, user: User, facility_id: int) -> None:
    require_handler(user, cs.care_facility(session, facility_id).division_code)


def _settle_after(ctx: ContextDep, session: Session, rules: PriorityRules, facility_id: int
                  ) -> list[int]:
    """Commit the request's change, then refill the facility's places.

    The refill runs in its own transaction, so this request's session forgets what it
    loaded (``expire_all``) and reads the new offers afresh.
    """
    session.commit()
    offered = cs.settle(ctx.sessions, rules, facility_id)
    session.expire_all()
    return offered


def _submit(ctx: ContextDep, session: Session, rules: PriorityRules, user: User,
            body: ApplicationIn) -> CareApplication:
    resident = session.get(Resident, user.resident_id) if user.resident_id else None
    app = cs.apply(session, rules, facility_id=body.facility_id, applicant_user_id=user.id,
                   beneficiary_name=body.beneficiary_name,
                   beneficiary_birth_date=body.beneficiary_birth_date,
                   division_code=acting_division(session, user) or
                   cs.care_facility(session, body.facility_id).division_code,
                   priority_groups=body.priority_groups,
                   resident_groups=resident.priority_group_list if resident else (),
                   resident_id=user.resident_id)
    audit(session, user=user, action="create", entity="care_application", entity_id=app.id)
    _settle_after(ctx, session, rules, body.facility_id)
    return app


# ---- JSON API --------------------------------------------------------------------------------

@router.get("/care/rules", response_model=RulesOut)
def priority_rules(rules: RulesDep) -> RulesOut:
    """The declared waitlist priority rules (public: applicants may check their order)."""
    return RulesOut(source=rules.source, offer_days=rules.offer_days, rules=[
        RuleOut(key=r.key, label_zh=r.label_zh, label_en=r.label_en, points=r.points,
                group=r.group, min_age=r.min_age, facility_types=list(r.facility_types))
        for r in rules.rules])


@router.get("/care/facilities", response_model=list[CareFacilityOut])
def care_facilities(session: SessionDep,
                    division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None
                    ) -> list[CareFacilityOut]:
    """Day-care centres and nurseries in service, with free places and queue length."""
    table = {row["facility_id"]: row for row in cs.care_indicators(
        session, division_prefix=division or "").to_dicts()}
    return [CareFacilityOut(id=f.id, name=f.name, type_code=f.type_code,
                            division_code=f.division_code, capacity=f.capacity,
                            free_places=len(cs.free_places(session, f.id)),
                            waiting=int(table[f.id]["waiting"]))
            for f in cs.care_facilities(session, division_prefix=division or "")]


@router.post("/care/applications", response_model=ApplicationOut, status_code=201,
             responses=ERRORS)
def apply_for_place(body: ApplicationIn, ctx: ContextDep, rules: RulesDep, user: CurrentUser,
                    session: SessionDep) -> ApplicationOut:
    """Apply for a place; a free place is offered at once to whoever the rules put first."""
    app = _submit(ctx, session, rules, user, body)
    return _application_out(session, rules, app)


@router.get("/care/applications/mine", response_model=list[ApplicationOut], responses=ERRORS)
def my_applications(rules: RulesDep, user: CurrentUser, session: SessionDep
                    ) -> list[ApplicationOut]:
    """Your applications with their queue position or offer."""
    return [_application_out(session, rules, a)
            for a, _ in cs.applications_of(session, applicant_user_id=user.id)]


@router.post("/care/applications/{application_id}/accept", response_model=ApplicationOut,
             responses=ERRORS)
def accept_offer(application_id: IdPath, rules: RulesDep, user: CurrentUser,
                 session: SessionDep) -> ApplicationOut:
    """Accept your offered place before its deadline."""
    _own(session, user, application_id)
    app = cs.accept(session, rules, application_id)
    audit(session, user=user, action="accept", entity="care_application",
          entity_id=application_id)
    return _application_out(session, rules, app)


@router.post("/care/applications/{application_id}/decline", response_model=ApplicationOut,
             responses=ERRORS)
def decline_offer(application_id: IdPath, ctx: ContextDep, rules: RulesDep, user: CurrentUser,
                  session: SessionDep) -> ApplicationOut:
    """Decline your offered place; it goes to the next applicant."""
    _own(session, user, application_id)
    app = cs.decline(session, rules, application_id)
    audit(session, user=user, action="decline", entity="care_application",
          entity_id=application_id)
    _settle_after(ctx, session, rules, app.facility_id)
    return _application_out(session, rules, app)


@router.post("/care/applications/{application_id}/withdraw", response_model=ApplicationOut,
             responses=ERRORS)
def withdraw_application(application_id: IdPath, ctx: ContextDep, rules: RulesDep,
                         user: CurrentUser, session: SessionDep) -> ApplicationOut:
    """Withdraw your application (an open offer is declined)."""
    _own(session, user, application_id)
    app = cs.withdraw(session, rules, application_id)
    audit(session, user=user, action="withdraw", entity="care_application",
          entity_id=application_id)
    _settle_after(ctx, session, rules, app.facility_id)
    return _application_out(session, rules, app)


@router.post("/care/applications/{application_id}/end", response_model=ApplicationOut,
             responses=ERRORS)
def end_enrolment(application_id: IdPath, ctx: ContextDep, rules: RulesDep, user: CurrentUser,
                  session: SessionDep) -> ApplicationOut:
    """End an enrolment at a facility in your jurisdiction; the place is offered on."""
    app = cs.application(session, application_id)
    _handled(session, user, app.facility_id)
    cs.end_enrolment(session, rules, application_id)
    audit(session, user=user, action="end", entity="care_application",
          entity_id=application_id)
    _settle_after(ctx, session, rules, app.facility_id)
    return _application_out(session, rules, app)


@router.get("/care/facilities/{facility_id}/waitlist", response_model=list[QueueEntryOut],
            responses=ERRORS)
def facility_waitlist(facility_id: IdPath, rules: RulesDep, user: CurrentUser,
                      session: SessionDep) -> list[QueueEntryOut]:
    """The waitlist in the declared order, with points and the rules behind them."""
    _handled(session, user, facility_id)
    audit(session, user=user, action="read", entity="care_waitlist", entity_id=facility_id)
    return [QueueEntryOut(position=e.rank.position, application_id=e.application.id,
                          beneficiary_name=e.application.beneficiary_name,
                          points=e.rank.points, reasons=list(e.rank.reasons),
                          applied_at=e.application.applied_at)
            for e in cs.waitlist(session, rules, facility_id)]


@router.post("/care/facilities/{facility_id}/settle", response_model=list[ApplicationOut],
             responses=ERRORS)
def settle_facility(facility_id: IdPath, ctx: ContextDep, rules: RulesDep, user: CurrentUser,
                    session: SessionDep) -> list[ApplicationOut]:
    """Lapse overdue offers and offer every free place by the rules (workers' button)."""
    _handled(session, user, facility_id)
    lapsed = [a for a in cs.expire_offers(session, rules) if a.facility_id == facility_id]
    audit(session, user=user, action="settle", entity="care_facility", entity_id=facility_id,
          detail={"lapsed": [a.id for a in lapsed]})
    offered = _settle_after(ctx, session, rules, facility_id)
    return [_application_out(session, rules, cs.application(session, i)) for i in offered]


@router.get("/care/indicators", response_model=list[CareIndicatorOut], responses=ERRORS)
def care_indicators(user: CurrentUser, session: SessionDep,
                    division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None
                    ) -> list[CareIndicatorOut]:
    """Occupancy and waiting times per facility inside your jurisdiction."""
    prefix = visible_prefix(user)
    if division and division.startswith(prefix):
        prefix = division
    return [CareIndicatorOut(**row)
            for row in cs.care_indicators(session, division_prefix=prefix).to_dicts()]


# ---- pages -----------------------------------------------------------------------------------

@pages.get("/care", response_class=HTMLResponse)
def care_page(request: Request, ctx: ContextDep, session: SessionDep, rules: RulesDep,
              user: OptionalUser) -> Response:
    """Residents: apply for a place and follow the queue or the offer."""
    if user is None:
        return login_redirect(request)
    division = acting_division(session, user) or ""
    facilities = cs.care_facilities(session, division_prefix=division[:6])
    mine = [(a, f, cs.queue_position(session, rules, a.id))
            for a, f in cs.applications_of(session, applicant_user_id=user.id)]
    return render(request, "care.html", {
        **page_context(request, ctx, user), "facilities": facilities, "mine": mine,
        "rules": rules, "free": {f.id: len(cs.free_places(session, f.id)) for f in facilities}})


@pages.post("/care/apply")
@errors_back_to("/care")
def apply_form(ctx: ContextDep, session: SessionDep, rules: RulesDep, user: CurrentUser, *,
               facility_id: Annotated[int, Form(ge=1, le=MAX_ID)],
               beneficiary_name: Annotated[str, Form(min_length=1, max_length=100)],
               beneficiary_birth_date: Annotated[dt.date, Form()],
               priority_groups: Annotated[list[str] | None, Form()] = None) -> Response:
    """Apply from the page."""
    body = ApplicationIn(facility_id=facility_id, beneficiary_name=beneficiary_name,
                         beneficiary_birth_date=beneficiary_birth_date,
                         priority_groups=priority_groups or [])
    app = _submit(ctx, session, rules, user, body)
    return back("/care", message="resident_services.offered_now" if app.status == "offered"
                else "resident_services.applied")


@pages.post("/care/applications/{application_id}/answer")
@errors_back_to("/care")
def answer_form(ctx: ContextDep, session: SessionDep, rules: RulesDep, user: CurrentUser, *,
                application_id: IdPath,
                answer: Annotated[str, Form(pattern="^(accept|decline|withdraw)$")]
                ) -> Response:
    """Accept, decline or withdraw from the page."""
    app = _own(session, user, application_id)
    if answer == "accept":
        cs.accept(session, rules, application_id)
    elif answer == "decline":
        cs.decline(session, rules, application_id)
    else:
        cs.withdraw(session, rules, application_id)
    audit(session, user=user, action=answer, entity="care_application",
          entity_id=application_id)
    if answer != "accept":
        _settle_after(ctx, session, rules, app.facility_id)
    return back("/care", message=f"resident_services.answer_{answer}")


@pages.get("/care/manage", response_class=HTMLResponse)
def care_manage_page(request: Request, ctx: ContextDep, session: SessionDep, rules: RulesDep,
                     user: OptionalUser) -> Response:
    """Community workers: waitlists, open offers and enrolments of their facilities."""
    if user is None:
        return login_redirect(request)
    require_role(user, *HANDLER_ROLES)
    prefix = visible_prefix(user)
    blocks = []
    for facility in cs.care_facilities(session, division_prefix=prefix):
        holding = cs.applications_of(session, division_prefix=facility.division_code,
                                     statuses=[ApplicationStatus.OFFERED.value,
                                               ApplicationStatus.ACCEPTED.value])
        blocks.append({
            "facility": facility, "queue": cs.waitlist(session, rules, facility.id),
            "holding": [a for a, f in holding if f.id == facility.id],
            "free": len(cs.free_places(session, facility.id))})
    return render(request, "care_manage.html", {
        **page_context(request, ctx, user), "blocks": blocks, "rules": rules,
        "now": local_now()})


@pages.post("/care/facilities/{facility_id}/settle-form")
@errors_back_to("/care/manage")
def settle_form(ctx: ContextDep, session: SessionDep, rules: RulesDep, user: CurrentUser, *,
                facility_id: IdPath) -> Response:
    """The worker's "offer free places" button (lapses overdue offers first)."""
    _handled(session, user, facility_id)
    cs.expire_offers(session, rules)
    audit(session, user=user, action="settle", entity="care_facility", entity_id=facility_id)
    offered = _settle_after(ctx, session, rules, facility_id)
    return back("/care/manage", message="resident_services.offers_made" if offered
                else "resident_services.no_offers")


@pages.post("/care/applications/{application_id}/end-form")
@errors_back_to("/care/manage")
def end_form(ctx: ContextDep, session: SessionDep, rules: RulesDep, user: CurrentUser, *,
             application_id: IdPath) -> Response:
    """End an enrolment from the worker's page."""
    app = cs.application(session, application_id)
    _handled(session, user, app.facility_id)
    cs.end_enrolment(session, rules, application_id)
    audit(session, user=user, action="end", entity="care_application",
          entity_id=application_id)
    _settle_after(ctx, session, rules, app.facility_id)
    return back("/care/manage", message="resident_services.enrolment_ended")

