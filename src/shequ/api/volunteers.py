"""Volunteer service over HTTP: JSON under ``/api/v1/volunteers`` (the pages are
:mod:`shequ.web.volunteers`).

Any signed-in account may register as a volunteer and sign up; community workers (and
street officers) publish activities of their communities or of social organisations
working there and confirm hours; planners read the totals of their jurisdiction.  Who
may do what is decided, and audited, by the use cases of
:mod:`shequ.services.volunteers.service`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from shequ.errors import NotFoundError
from shequ.http.caller import CurrentUser
from shequ.http.deps import IdPath, SessionDep
from shequ.http.problems import error_responses
from shequ.services.bookings.clock import local_now
from shequ.services.volunteers import service as vs
from shequ.services.volunteers.models import (
    Volunteer,
    VolunteerActivity,
    VolunteerSignup,
)

router = APIRouter(tags=["volunteers"])
ERRORS = error_responses(401, 403, 404, 409, 422)


class RegistrationIn(BaseModel):
    """Register yourself as a volunteer of your community."""

    display_name: str = Field(min_length=1, max_length=100)
    skills: str = Field(default="", max_length=300)


class VolunteerOut(BaseModel):
    """A registered volunteer and their confirmed total."""

    id: int
    user_id: int
    division_code: str
    display_name: str
    skills: str
    confirmed_hours: float


class ActivityIn(vs.ActivityDraft):
    """A volunteer activity to publish (naive times are China time)."""


class ActivityOut(BaseModel):
    """A published activity and how many have signed up."""

    id: int
    division_code: str
    organiser_kind: str
    organiser_name: str
    title: str
    description: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    places: int | None
    signed_up: int
    status: str


class SignupOut(BaseModel):
    """A sign-up and the state of its hours."""

    id: int
    activity_id: int
    activity_title: str
    volunteer_id: int
    volunteer_name: str | None
    status: str
    minutes: int | None
    hours_status: str


class HoursIn(BaseModel):
    """Minutes served."""

    minutes: int = Field(ge=1, le=1440)


class ConfirmIn(BaseModel):
    """The organiser's confirmation (optionally correcting the minutes) or rejection."""

    approve: bool = True
    minutes: int | None = Field(default=None, ge=1, le=1440)


class TotalsOut(BaseModel):
    """Volunteering in one community and year."""

    division_code: str
    period: int
    registered_volunteers: int
    active_volunteers: int
    confirmed_hours: float
    activities: int
    volunteer_service_stations: int


def _activity_out(session: Session, a: VolunteerActivity) -> ActivityOut:
    return ActivityOut(id=a.id, division_code=a.division_code, organiser_kind=a.organiser_kind,
                       organiser_name=a.organiser_name, title=a.title,
                       description=a.description, starts_at=a.starts_at, ends_at=a.ends_at,
                       places=a.places, signed_up=vs.signed_up_count(session, a.id),
                       status=a.status)


def _signup_out(session: Session, s: VolunteerSignup, *, with_name: bool = False) -> SignupOut:
    a = vs.activity(session, s.activity_id)
    name = None
    if with_name:
        v = session.get(Volunteer, s.volunteer_id)
        name = v.display_name if v else None
    return SignupOut(id=s.id, activity_id=a.id, activity_title=a.title,
                     volunteer_id=s.volunteer_id, volunteer_name=name, status=s.status,
                     minutes=s.minutes, hours_status=s.hours_status)


@router.post("/volunteers/register", response_model=VolunteerOut, status_code=201,
             responses=ERRORS)
def register(body: RegistrationIn, user: CurrentUser, session: SessionDep) -> VolunteerOut:
    """Register as a volunteer of your community."""
    vs.register_volunteer(session, user, display_name=body.display_name, skills=body.skills)
    return me(user, session)


@router.get("/volunteers/me", response_model=VolunteerOut, responses=ERRORS)
def me(user: CurrentUser, session: SessionDep) -> VolunteerOut:
    """Your volunteer registration and confirmed hours."""
    record = vs.record_of(session, user.id)
    if record is None:
        raise NotFoundError("you are not a registered volunteer; POST /volunteers/register",
                            code="volunteers.not_registered")
    v = record.volunteer
    return VolunteerOut(id=v.id, user_id=v.user_id, division_code=v.division_code,
                        display_name=v.display_name, skills=v.skills,
                        confirmed_hours=record.confirmed_minutes / 60)


@router.get("/volunteers/me/signups", response_model=list[SignupOut], responses=ERRORS)
def my_signups(user: CurrentUser, session: SessionDep) -> list[SignupOut]:
    """Your sign-ups, newest activity first."""
    record = vs.record_of(session, user.id)
    return [] if record is None else [_signup_out(session, s) for s, _ in record.entries]


@router.get("/volunteers/activities", response_model=list[ActivityOut])
def activities(session: SessionDep,
               division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None
               ) -> list[ActivityOut]:
    """Published activities that have not begun (public)."""
    return [_activity_out(session, a) for a in vs.activities_in(
        session, division_prefix=division or "", starting_after=local_now())]


@router.post("/volunteers/activities", response_model=ActivityOut, status_code=201,
             responses=ERRORS)
def publish(body: ActivityIn, user: CurrentUser, session: SessionDep) -> ActivityOut:
    """Publish an activity of a community in your jurisdiction."""
    return _activity_out(session, vs.publish_activity(session, user, body))


@router.post("/volunteers/activities/{activity_id}/signup", response_model=SignupOut,
             status_code=201, responses=ERRORS)
def sign_up(activity_id: IdPath, user: CurrentUser, session: SessionDep) -> SignupOut:
    """Sign up for an activity."""
    return _signup_out(session, vs.sign_up_for(session, user, activity_id))


@router.post("/volunteers/signups/{signup_id}/withdraw", response_model=SignupOut,
             responses=ERRORS)
def withdraw(signup_id: IdPath, user: CurrentUser, session: SessionDep) -> SignupOut:
    """Withdraw your sign-up before the activity begins."""
    return _signup_out(session, vs.withdraw_signup(session, user, signup_id))


@router.post("/volunteers/signups/{signup_id}/hours", response_model=SignupOut,
             responses=ERRORS)
def record_hours(signup_id: IdPath, body: HoursIn, user: CurrentUser,
                 session: SessionDep) -> SignupOut:
    """Record the minutes served (the volunteer, or staff of the activity's community)."""
    return _signup_out(session, vs.record_served(session, user, signup_id, body.minutes))


@router.get("/volunteers/hours/pending", response_model=list[SignupOut], responses=ERRORS)
def hours_pending(user: CurrentUser, session: SessionDep) -> list[SignupOut]:
    """Recorded hours waiting for confirmation in your jurisdiction."""
    return [_signup_out(session, s, with_name=True)
            for s, _, _ in vs.hours_pending_for(session, user)]


@router.post("/volunteers/signups/{signup_id}/confirm", response_model=SignupOut,
             responses=ERRORS)
def confirm(signup_id: IdPath, body: ConfirmIn, user: CurrentUser,
            session: SessionDep) -> SignupOut:
    """Confirm or reject recorded hours of an activity in your jurisdiction."""
    return _signup_out(session, vs.decide_hours(session, user, signup_id,
                                                approve=body.approve, minutes=body.minutes),
                       with_name=True)


@router.get("/volunteers/totals", response_model=list[TotalsOut], responses=ERRORS)
def totals(user: CurrentUser, session: SessionDep,
           period: Annotated[int, Query(ge=2000, le=2100)],
           division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None
           ) -> list[TotalsOut]:
    """Registered volunteers, confirmed hours, activities and stations per community."""
    return [TotalsOut(**row) for row in vs.totals_for(
        session, user, period=period, division=division).to_dicts()]
