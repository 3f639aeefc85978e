"""Volunteer service over HTTP: JSON under ``/api/v1/volunteers`` and the pages ``/volunteers``.

Any signed-in account may register as a volunteer and sign up; community workers (and
street officers) publish activities of their communities or of social organisations
working there and confirm hours (``require_handler`` on the activity's community);
planners read the totals of their jurisdiction.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from shequ.http.caller import CurrentUser, OptionalUser
from shequ.api.bookings import (
    EARLIEST,
    ERRORS,
    LATEST,
    acting_division,
    as_local,
    page_context,
    visible_prefix,
)
from shequ.http.deps import MAX_ID, ContextDep, IdPath, SessionDep
from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.registry.codes import normalise_code
from shequ.services.accounts import HANDLER_ROLES, User, audit, require_handler, require_role
from shequ.services.bookings.clock import local_now
from shequ.services.volunteers import service as vs
from shequ.services.volunteers.models import (
    OrganiserKind,
    VolunteerActivity,
    VolunteerSignup,
)
from shequ.web.forms import back, errors_back_to, login_redirect
from shequ.web.templates import render

router = APIRouter(tags=["volunteers"])
pages = APIRouter(include_in_schema=False)


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


class ActivityIn(BaseModel):
    """A volunteer activity to publish (naive times are China time)."""

    division_code: str = Field(pattern=r"^\d{12}$")
    organiser_kind: OrganiserKind = OrganiserKind.COMMUNITY
    organiser_name: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    starts_at: dt.datetime
    ends_at: dt.datetime
    places: int | None = Field(default=None, ge=1, le=100_000)
    station_facility_id: int | None = Field(default=None, ge=1, le=MAX_ID)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _local(cls, value: dt.datetime) -> dt.datetime:
        local = as_local(value)
        if not EARLIEST <= local <= LATEST:
            raise ValueError("must be between 2000 and 2100")
        return local


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
        from shequ.services.volunteers.models import Volunteer

        v = session.get(Volunteer, s.volunteer_id)
        name = v.display_name if v else None
    return SignupOut(id=s.id, activity_id=a.id, activity_title=a.title,
                     volunteer_id=s.volunteer_id, volunteer_name=name, status=s.status,
                     minutes=s.minutes, hours_status=s.hours_status)


def _own_signup(session: Session, user: User, signup_id: int) -> VolunteerSignup:
    s = vs.signup(session, signup_id)
    volunteer = vs.volunteer_of(session, user.id)
    if volunteer is None or s.volunteer_id != volunteer.id:
        raise NotFoundError(f"you have no volunteer sign-up with id {signup_id}")
    return s


def _register(session: Session, user: User, display_name: str, skills: str) -> None:
    division = acting_division(session, user)
    if division is None:
        raise ValidationError([Problem("division", "your account has no community",
                                       hint="ask your community to link your resident record")])
    v = vs.register(session, user_id=user.id, division_code=division,
                    display_name=display_name, skills=skills)
    audit(session, user=user, action="create", entity="volunteer", entity_id=v.id)


def _publish(session: Session, user: User, body: ActivityIn) -> VolunteerActivity:
    require_handler(user, body.division_code)
    a = vs.publish(session, division_code=body.division_code,
                   organiser_kind=body.organiser_kind, organiser_name=body.organiser_name,
                   organiser_user_id=user.id, title=body.title, starts_at=body.starts_at,
                   ends_at=body.ends_at, description=body.description, places=body.places,
                   station_facility_id=body.station_facility_id)
    audit(session, user=user, action="create", entity="volunteer_activity", entity_id=a.id)
    return a


def _confirm(session: Session, user: User, signup_id: int, body: ConfirmIn) -> VolunteerSignup:
    s = vs.signup(session, signup_id)
    require_handler(user, vs.activity(session, s.activity_id).division_code)
    vs.confirm_hours(session, signup_id, confirmed_by=user.id, approve=body.approve,
                     minutes=body.minutes)
    audit(session, user=user, action="confirm" if body.approve else "reject",
          entity="volunteer_hours", entity_id=signup_id)
    return s


# ---- JSON API --------------------------------------------------------------------------------

@router.post("/volunteers/register", response_model=VolunteerOut, status_code=201,
             responses=ERRORS)
def register(body: RegistrationIn, user: CurrentUser, session: SessionDep) -> VolunteerOut:
    """Register as a volunteer of your community."""
    _register(session, user, body.display_name, body.skills)
    return me(user, session)


@router.get("/volunteers/me", response_model=VolunteerOut, responses=ERRORS)
def me(user: CurrentUser, session: SessionDep) -> VolunteerOut:
    """Your volunteer registration and confirmed hours."""
    record = vs.record_of(session, user.id)
    if record is None:
        raise NotFoundError("you are not a registered volunteer; POST /volunteers/register")
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
    return _activity_out(session, _publish(session, user, body))


@router.post("/volunteers/activities/{activity_id}/signup", response_model=SignupOut,
             status_code=201, responses=ERRORS)
def sign_up(activity_id: IdPath, user: CurrentUser, session: SessionDep) -> SignupOut:
    """Sign up for an activity."""
    s = vs.sign_up(session, activity_id=activity_id, user_id=user.id)
    audit(session, user=user, action="create", entity="volunteer_signup", entity_id=s.id)
    return _signup_out(session, s)


@router.post("/volunteers/signups/{signup_id}/withdraw", response_model=SignupOut,
             responses=ERRORS)
def withdraw(signup_id: IdPath, user: CurrentUser, session: SessionDep) -> SignupOut:
    """Withdraw your sign-up before the activity begins."""
    _own_signup(session, user, signup_id)
    s = vs.withdraw(session, signup_id)
    audit(session, user=user, action="withdraw", entity="volunteer_signup", entity_id=s.id)
    return _signup_out(session, s)


@router.post("/volunteers/signups/{signup_id}/hours", response_model=SignupOut,
             responses=ERRORS)
def record_hours(signup_id: IdPath, body: HoursIn, user: CurrentUser,
                 session: SessionDep) -> SignupOut:
    """Record the minutes served (the volunteer, or staff of the activity's community)."""
    s = vs.signup(session, signup_id)
    volunteer = vs.volunteer_of(session, user.id)
    if volunteer is None or volunteer.id != s.volunteer_id:
        require_handler(user, vs.activity(session, s.activity_id).division_code)
    vs.record_hours(session, signup_id, minutes=body.minutes, recorded_by=user.id)
    audit(session, user=user, action="record", entity="volunteer_hours", entity_id=signup_id)
    return _signup_out(session, s)


@router.get("/volunteers/hours/pending", response_model=list[SignupOut], responses=ERRORS)
def hours_pending(user: CurrentUser, session: SessionDep) -> list[SignupOut]:
    """Recorded hours waiting for confirmation in your jurisdiction."""
    require_role(user, *HANDLER_ROLES)
    return [_signup_out(session, s, with_name=True) for s, _, _ in vs.hours_to_confirm(
        session, division_prefix=visible_prefix(user))]


@router.post("/volunteers/signups/{signup_id}/confirm", response_model=SignupOut,
             responses=ERRORS)
def confirm(signup_id: IdPath, body: ConfirmIn, user: CurrentUser,
            session: SessionDep) -> SignupOut:
    """Confirm or reject recorded hours of an activity in your jurisdiction."""
    return _signup_out(session, _confirm(session, user, signup_id, body), with_name=True)


@router.get("/volunteers/totals", response_model=list[TotalsOut], responses=ERRORS)
def totals(user: CurrentUser, session: SessionDep,
           period: Annotated[int, Query(ge=2000, le=2100)],
           division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None
           ) -> list[TotalsOut]:
    """Registered volunteers, confirmed hours, activities and stations per community."""
    prefix = visible_prefix(user)
    if division and division.startswith(prefix):
        prefix = division
    return [TotalsOut(**row) for row in vs.volunteer_totals(
        session, period=period, division_prefix=prefix).to_dicts()]


# ---- pages -----------------------------------------------------------------------------------

@pages.get("/volunteers", response_class=HTMLResponse)
def volunteers_page(request: Request, ctx: ContextDep, session: SessionDep,
                    user: OptionalUser) -> Response:
    """Residents: register, sign up, record hours, see the record."""
    if user is None:
        return login_redirect(request)
    division = acting_division(session, user) or ""
    record = vs.record_of(session, user.id)
    signed = {s.activity_id for s, _ in record.entries if s.status == "signed_up"} \
        if record else set()
    upcoming = vs.activities_in(session, division_prefix=division[:9],
                                starting_after=local_now())
    return render(request, "volunteers.html", {
        **page_context(request, ctx, user), "record": record, "upcoming": upcoming,
        "signed": signed, "now": local_now(),
        "counts": {a.id: vs.signed_up_count(session, a.id) for a in upcoming}})


@pages.post("/volunteers/register-form")
@errors_back_to("/volunteers")
def register_form(session: SessionDep, user: CurrentUser, *,
                  display_name: Annotated[str, Form(min_length=1, max_length=100)],
                  skills: Annotated[str, Form(max_length=300)] = "") -> Response:
    """Register from the page."""
    _register(session, user, display_name, skills)
    return back("/volunteers", message="resident_services.registered")


@pages.post("/volunteers/activities/{activity_id}/signup-form")
@errors_back_to("/volunteers")
def signup_form(session: SessionDep, user: CurrentUser, *, activity_id: IdPath) -> Response:
    """Sign up from the page."""
    s = vs.sign_up(session, activity_id=activity_id, user_id=user.id)
    audit(session, user=user, action="create", entity="volunteer_signup", entity_id=s.id)
    return back("/volunteers", message="resident_services.signed_up")


@pages.post("/volunteers/signups/{signup_id}/hours-form")
@errors_back_to("/volunteers")
def hours_form(session: SessionDep, user: CurrentUser, *, signup_id: IdPath,
               minutes: Annotated[int, Form(ge=1, le=1440)]) -> Response:
    """Record one's own minutes from the page."""
    _own_signup(session, user, signup_id)
    vs.record_hours(session, signup_id, minutes=minutes, recorded_by=user.id)
    audit(session, user=user, action="record", entity="volunteer_hours", entity_id=signup_id)
    return back("/volunteers", message="resident_services.hours_recorded")


@pages.get("/volunteers/manage", response_class=HTMLResponse)
def volunteers_manage_page(request: Request, ctx: ContextDep, session: SessionDep,
                           user: OptionalUser) -> Response:
    """Community workers: publish activities, confirm hours."""
    if user is None:
        return login_redirect(request)
    require_role(user, *HANDLER_ROLES)
    prefix = visible_prefix(user)
    return render(request, "volunteers_manage.html", {
        **page_context(request, ctx, user),
        "pending": vs.hours_to_confirm(session, division_prefix=prefix),
        "activities": vs.activities_in(session, division_prefix=prefix),
        "default_division": user.jurisdiction_code or ""})


@pages.post("/volunteers/publish-form")
@errors_back_to("/volunteers/manage")
def publish_form(session: SessionDep, user: CurrentUser, *,
                 division_code: Annotated[str, Form(min_length=2, max_length=12)],
                 organiser_kind: Annotated[OrganiserKind, Form()],
                 organiser_name: Annotated[str, Form(min_length=1, max_length=200)],
                 title: Annotated[str, Form(min_length=1, max_length=200)],
                 starts_at: Annotated[dt.datetime, Form()],
                 ends_at: Annotated[dt.datetime, Form()],
                 places: Annotated[int | None, Form(ge=1, le=100_000)] = None,
                 description: Annotated[str, Form(max_length=5000)] = "") -> Response:
    """Publish from the worker's page."""
    body = ActivityIn(division_code=normalise_code(division_code),
                      organiser_kind=organiser_kind, organiser_name=organiser_name,
                      title=title, starts_at=starts_at, ends_at=ends_at, places=places,
                      description=description)
    _publish(session, user, body)
    return back("/volunteers/manage", message="resident_services.published")


@pages.post("/volunteers/signups/{signup_id}/confirm-form")
@errors_back_to("/volunteers/manage")
def confirm_form(session: SessionDep, user: CurrentUser, *, signup_id: IdPath,
                 decision: Annotated[str, Form(pattern="^(confirm|reject)$")],
                 minutes: Annotated[int | None, Form(ge=1, le=1440)] = None) -> Response:
    """Confirm or reject hours from the worker's page."""
    _confirm(session, user, signup_id, ConfirmIn(approve=decision == "confirm",
                                                 minutes=minutes))
    return back("/volunteers/manage", message=f"resident_services.hours_{decision}ed")
