"""Care places over HTTP: JSON under ``/api/v1/care`` (the pages are :mod:`shequ.web.care`).

Residents apply and answer offers on their own applications; community workers see the
waitlists and end enrolments of facilities in their jurisdiction; planners read the
occupancy table of theirs.  Each route calls one use case of
:mod:`shequ.services.care.service`, which checks the caller, acts, writes the audit row
and commits a change that may free a place before refilling the places, so losing a race
for a place never undoes the resident's own change.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from shequ.api.bookings import ERRORS
from shequ.http.caller import CurrentUser
from shequ.http.deps import MAX_ID, ContextDep, IdPath, SessionDep
from shequ.services.care import service as cs
from shequ.services.care.models import CareApplication
from shequ.services.care.rules import PriorityRules, load_priority_rules

router = APIRouter(tags=["care"])


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
    app = cs.apply_as(session, ctx.sessions, rules, user, facility_id=body.facility_id,
                      beneficiary_name=body.beneficiary_name,
                      beneficiary_birth_date=body.beneficiary_birth_date,
                      priority_groups=body.priority_groups)
    return _application_out(session, rules, app)


@router.get("/care/applications/mine", response_model=list[ApplicationOut], responses=ERRORS)
def my_applications(rules: RulesDep, user: CurrentUser, session: SessionDep
                    ) -> list[ApplicationOut]:
    """Your applications with their queue position or offer."""
    return [_application_out(session, rules, a)
            for a, _ in cs.applications_of(session, applicant_user_id=user.id)]


@router.post("/care/applications/{application_id}/accept", response_model=ApplicationOut,
             responses=ERRORS)
def accept_offer(application_id: IdPath, ctx: ContextDep, rules: RulesDep, user: CurrentUser,
                 session: SessionDep) -> ApplicationOut:
    """Accept your offered place before its deadline."""
    app = cs.answer_as(session, ctx.sessions, rules, user, application_id, answer="accept")
    return _application_out(session, rules, app)


@router.post("/care/applications/{application_id}/decline", response_model=ApplicationOut,
             responses=ERRORS)
def decline_offer(application_id: IdPath, ctx: ContextDep, rules: RulesDep, user: CurrentUser,
                  session: SessionDep) -> ApplicationOut:
    """Decline your offered place; it goes to the next applicant."""
    app = cs.answer_as(session, ctx.sessions, rules, user, application_id, answer="decline")
    return _application_out(session, rules, app)


@router.post("/care/applications/{application_id}/withdraw", response_model=ApplicationOut,
             responses=ERRORS)
def withdraw_application(application_id: IdPath, ctx: ContextDep, rules: RulesDep,
                         user: CurrentUser, session: SessionDep) -> ApplicationOut:
    """Withdraw your application (an open offer is declined)."""
    app = cs.answer_as(session, ctx.sessions, rules, user, application_id, answer="withdraw")
    return _application_out(session, rules, app)


@router.post("/care/applications/{application_id}/end", response_model=ApplicationOut,
             responses=ERRORS)
def end_enrolment(application_id: IdPath, ctx: ContextDep, rules: RulesDep, user: CurrentUser,
                  session: SessionDep) -> ApplicationOut:
    """End an enrolment at a facility in your jurisdiction; the place is offered on."""
    app = cs.end_enrolment_as(session, ctx.sessions, rules, user, application_id)
    return _application_out(session, rules, app)


@router.get("/care/facilities/{facility_id}/waitlist", response_model=list[QueueEntryOut],
            responses=ERRORS)
def facility_waitlist(facility_id: IdPath, rules: RulesDep, user: CurrentUser,
                      session: SessionDep) -> list[QueueEntryOut]:
    """The waitlist in the declared order, with points and the rules behind them."""
    return [QueueEntryOut(position=e.rank.position, application_id=e.application.id,
                          beneficiary_name=e.application.beneficiary_name,
                          points=e.rank.points, reasons=list(e.rank.reasons),
                          applied_at=e.application.applied_at)
            for e in cs.waitlist_for(session, rules, user, facility_id)]


@router.post("/care/facilities/{facility_id}/settle", response_model=list[ApplicationOut],
             responses=ERRORS)
def settle_facility(facility_id: IdPath, ctx: ContextDep, rules: RulesDep, user: CurrentUser,
                    session: SessionDep) -> list[ApplicationOut]:
    """Lapse overdue offers and offer every free place by the rules (workers' button)."""
    _, offered = cs.settle_as(session, ctx.sessions, rules, user, facility_id)
    return [_application_out(session, rules, cs.application(session, i)) for i in offered]


@router.get("/care/indicators", response_model=list[CareIndicatorOut], responses=ERRORS)
def care_indicators(user: CurrentUser, session: SessionDep,
                    division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None
                    ) -> list[CareIndicatorOut]:
    """Occupancy and waiting times per facility inside your jurisdiction."""
    return [CareIndicatorOut(**row)
            for row in cs.indicators_for(session, user, division).to_dicts()]
