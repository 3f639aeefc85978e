"""Volunteer service: registration, activities, sign-up, hours and their confirmation.

Hours follow two steps: the volunteer (or the organiser) records the minutes served
once the activity has begun, and the organiser confirms or rejects them.  Only
confirmed minutes count in a volunteer's record and in :func:`volunteer_totals`, the
indicator input per community.

The use cases at the end of the module (:func:`register_volunteer`,
:func:`publish_activity`, :func:`sign_up_for`, :func:`withdraw_signup`,
:func:`record_served`, :func:`decide_hours`, and the lists of the pages and the API)
each check who may act, act and write the audit row: the JSON API and the pages call
them alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shequ.errors import AccessDenied, ConflictError, NotFoundError, Problem, ValidationError
from shequ.registry.models import Facility, FacilityStatus
from shequ.services.accounts import HANDLER_ROLES, User, audit, require_handler, require_role
from shequ.services.accounts.acting import acting_division, visible_prefix
from shequ.services.bookings.clock import as_local, local_now
from shequ.services.notify.service import Kind, notify
from shequ.services.volunteers.models import (
    ActivityStatus,
    HoursStatus,
    OrganiserKind,
    SignupStatus,
    Volunteer,
    VolunteerActivity,
    VolunteerSignup,
)

STATION_TYPE = "volunteer_service_station"


def volunteer_of(session: Session, user_id: int) -> Volunteer | None:
    """The volunteer registration of an account, if any."""
    return session.scalar(select(Volunteer).where(Volunteer.user_id == user_id))


def register(session: Session, *, user_id: int, division_code: str, display_name: str,
             skills: str = "", now: dt.datetime | None = None) -> Volunteer:
    """Register an account as a volunteer of its community (once per account)."""
    if volunteer_of(session, user_id) is not None:
        raise _already_registered(user_id)
    if not display_name.strip():
        raise ValidationError([Problem("volunteer", "is empty", column="display_name",
                                       code="required")])
    volunteer = Volunteer(user_id=user_id, division_code=division_code,
                          display_name=display_name.strip(), skills=skills.strip(),
                          registered_at=now or local_now(), active=True)
    session.add(volunteer)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same account
        session.rollback()
        raise _already_registered(user_id) from exc
    return volunteer


def _already_registered(user_id: int) -> ConflictError:
    return ConflictError(f"account {user_id} is already a registered volunteer",
                         code="volunteers.already_registered")


def publish(session: Session, *, division_code: str, organiser_kind: OrganiserKind,
            organiser_name: str, organiser_user_id: int, title: str, starts_at: dt.datetime,
            ends_at: dt.datetime, description: str = "", places: int | None = None,
            station_facility_id: int | None = None, now: dt.datetime | None = None
            ) -> VolunteerActivity:
    """Publish a volunteer activity of a community or a social organisation."""
    now = now or local_now()
    problems = []
    if not title.strip():
        problems.append(Problem("activity", "is empty", column="title", code="required"))
    if ends_at <= starts_at:
        problems.append(Problem("activity", "is not after starts_at", column="ends_at",
                                code="volunteers.ends_before_start"))
    if starts_at < now:
        problems.append(Problem("activity", "is in the past", column="starts_at",
                                hint="publish activities before they begin",
                                code="volunteers.starts_in_past"))
    if places is not None and places < 1:
        problems.append(Problem("activity", "must be at least 1 (or empty for no limit)",
                                column="places", code="volunteers.places_at_least_one"))
    if station_facility_id is not None:
        station = session.get(Facility, station_facility_id)
        if station is None or station.type_code != STATION_TYPE:
            problems.append(Problem("activity", f"{station_facility_id} is not a {STATION_TYPE}",
                                    column="station_facility_id",
                                    code="volunteers.not_a_station",
                                    params={"value": station_facility_id}))
    if problems:
        raise ValidationError(problems, summary="the activity cannot be published")
    activity = VolunteerActivity(
        division_code=division_code, organiser_kind=OrganiserKind(organiser_kind).value,
        organiser_name=organiser_name, organiser_user_id=organiser_user_id,
        station_facility_id=station_facility_id, title=title.strip(),
        description=description, starts_at=starts_at, ends_at=ends_at, places=places,
        status=ActivityStatus.PUBLISHED.value, created_at=now)
    session.add(activity)
    session.flush()
    return activity


def activity(session: Session, activity_id: int) -> VolunteerActivity:
    """The activity ``activity_id``; NotFoundError when there is none."""
    found = session.get(VolunteerActivity, activity_id)
    if found is None:
        raise NotFoundError(f"no volunteer activity with id {activity_id}; "
                            "GET /api/v1/volunteers/activities lists them",
                            code="volunteers.activity_not_found", params={"id": activity_id})
    return found


def signup(session: Session, signup_id: int) -> VolunteerSignup:
    """The sign-up ``signup_id``; NotFoundError when there is none."""
    found = session.get(VolunteerSignup, signup_id)
    if found is None:
        raise NotFoundError(f"no volunteer sign-up with id {signup_id}; "
                            "GET /api/v1/volunteers/me/signups lists yours, "
                            "/api/v1/volunteers/hours/pending those to confirm",
                            code="volunteers.signup_not_found", params={"id": signup_id})
    return found


def signed_up_count(session: Session, activity_id: int) -> int:
    """Volunteers currently signed up for the activity."""
    return int(session.scalar(select(func.count()).select_from(VolunteerSignup).where(
        VolunteerSignup.activity_id == activity_id,
        VolunteerSignup.status == SignupStatus.SIGNED_UP.value)) or 0)


def sign_up(session: Session, *, activity_id: int, user_id: int,
            now: dt.datetime | None = None) -> VolunteerSignup:
    """Sign a registered volunteer up for a published activity that has not begun.

    The places limit holds under concurrent sign-ups: the activity row is locked first.
    """
    now = now or local_now()
    volunteer = volunteer_of(session, user_id)
    if volunteer is None or not volunteer.active:
        raise ValidationError([Problem("volunteer", "register as a volunteer first",
                                       code="volunteers.register_first")])
    # Lock the activity row before counting, so that concurrent sign-ups for the last
    # place queue up in the database (a row lock on PostgreSQL, the write lock on SQLite)
    # and the count each one sees includes the others' committed sign-ups.
    locked = session.execute(update(VolunteerActivity).where(
        VolunteerActivity.id == activity_id).values(status=VolunteerActivity.status))
    if locked.rowcount == 0:  # type: ignore[attr-defined]
        activity(session, activity_id)  # raises NotFoundError
    act = activity(session, activity_id)
    session.refresh(act)
    if act.status != ActivityStatus.PUBLISHED.value:
        raise ConflictError(f"activity {activity_id} is {act.status}",
                            code="volunteers.activity_closed", params={"id": activity_id})
    if act.starts_at <= now:
        raise ConflictError(f"activity {activity_id} began at {act.starts_at:%Y-%m-%d %H:%M}",
                            code="volunteers.activity_began",
                            params={"id": activity_id,
                                    "at": f"{act.starts_at:%Y-%m-%d %H:%M}"})
    existing = session.scalar(select(VolunteerSignup).where(
        VolunteerSignup.activity_id == activity_id,
        VolunteerSignup.volunteer_id == volunteer.id))
    if existing is not None:
        if existing.status == SignupStatus.SIGNED_UP.value:
            raise _already_signed_up(activity_id)
        if act.places is not None and signed_up_count(session, activity_id) >= act.places:
            raise _full(act)
        existing.status = SignupStatus.SIGNED_UP.value
        existing.signed_up_at = now
        session.flush()
        return existing
    if act.places is not None and signed_up_count(session, activity_id) >= act.places:
        raise _full(act)
    row = VolunteerSignup(activity_id=activity_id, volunteer_id=volunteer.id,
                          status=SignupStatus.SIGNED_UP.value, signed_up_at=now,
                          hours_status=HoursStatus.NONE.value)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise _already_signed_up(activity_id) from exc
    return row


def _already_signed_up(activity_id: int) -> ConflictError:
    return ConflictError(f"already signed up for activity {activity_id}",
                         code="volunteers.already_signed_up", params={"id": activity_id})


def _full(act: VolunteerActivity) -> ConflictError:
    return ConflictError(f"activity {act.id} is full ({act.places} places)",
                         code="volunteers.activity_full",
                         params={"id": act.id, "places": act.places})


def withdraw(session: Session, signup_id: int, *, now: dt.datetime | None = None
             ) -> VolunteerSignup:
    """Withdraw from an activity that has not begun."""
    now = now or local_now()
    row = signup(session, signup_id)
    act = activity(session, row.activity_id)
    if row.status != SignupStatus.SIGNED_UP.value or act.starts_at <= now:
        raise ConflictError(f"sign-up {signup_id} can no longer be withdrawn",
                            code="volunteers.cannot_withdraw", params={"id": signup_id})
    row.status = SignupStatus.WITHDRAWN.value
    session.flush()
    return row


def record_hours(session: Session, signup_id: int, *, minutes: int, recorded_by: int,
                 now: dt.datetime | None = None) -> VolunteerSignup:
    """Record the minutes served (at most the activity's length), awaiting confirmation."""
    now = now or local_now()
    row = signup(session, signup_id)
    act = activity(session, row.activity_id)
    length = int((act.ends_at - act.starts_at).total_seconds() // 60)
    if row.status != SignupStatus.SIGNED_UP.value:
        raise ConflictError(f"sign-up {signup_id} was withdrawn",
                            code="volunteers.signup_withdrawn", params={"id": signup_id})
    if act.starts_at > now:
        raise ConflictError(f"activity {act.id} has not begun; record hours after it starts",
                            code="volunteers.not_begun", params={"id": act.id})
    if row.hours_status == HoursStatus.CONFIRMED.value:
        raise ConflictError(f"the hours of sign-up {signup_id} are already confirmed",
                            code="volunteers.hours_already_confirmed", params={"id": signup_id})
    _check_minutes(minutes, length)
    row.minutes = minutes
    row.hours_status = HoursStatus.RECORDED.value
    row.recorded_by = recorded_by
    row.recorded_at = now
    session.flush()
    return row


def _check_minutes(minutes: int, length: int) -> None:
    """Minutes served are between 1 and the activity's length (a day at most)."""
    if not 1 <= minutes <= min(length, 1440):
        raise ValidationError([Problem("hours", f"{minutes} is not between 1 and the "
                                       f"activity's {length} minutes", column="minutes",
                                       code="volunteers.minutes_out_of_range",
                                       params={"value": minutes, "length": min(length, 1440)})])


def confirm_hours(session: Session, signup_id: int, *, confirmed_by: int, approve: bool = True,
                  minutes: int | None = None, now: dt.datetime | None = None
                  ) -> VolunteerSignup:
    """The organiser confirms (optionally correcting the minutes) or rejects recorded hours."""
    row = signup(session, signup_id)
    if row.hours_status != HoursStatus.RECORDED.value:
        raise ConflictError(f"sign-up {signup_id} has no recorded hours to confirm "
                            f"(hours are {row.hours_status})",
                            code="volunteers.no_hours_to_confirm", params={"id": signup_id})
    volunteer = session.get(Volunteer, row.volunteer_id)
    if volunteer is not None and volunteer.user_id == confirmed_by:
        # Nobody confirms their own hours, even for an activity they organise.
        raise AccessDenied(f"the hours of sign-up {signup_id} are your own; another "
                           "community worker, street officer or administrator whose "
                           "jurisdiction covers the activity's community can confirm them",
                           code="volunteers.own_hours")
    if approve and minutes is not None:
        act = activity(session, row.activity_id)
        _check_minutes(minutes, int((act.ends_at - act.starts_at).total_seconds() // 60))
        row.minutes = minutes
    row.hours_status = (HoursStatus.CONFIRMED if approve else HoursStatus.REJECTED).value
    row.confirmed_by = confirmed_by
    row.confirmed_at = now or local_now()
    session.flush()
    if approve and volunteer is not None:
        notify(session, volunteer.user_id, Kind.HOURS_CONFIRMED,
               {"activity": activity(session, row.activity_id).title, "minutes": row.minutes},
               f"volunteer_signup:{row.id}:confirmed")
    return row


def activities_in(session: Session, *, division_prefix: str = "",
                  statuses: Sequence[str] = (ActivityStatus.PUBLISHED.value,),
                  starting_after: dt.datetime | None = None) -> list[VolunteerActivity]:
    """Activities under ``division_prefix``, by start time."""
    query = select(VolunteerActivity).where(VolunteerActivity.status.in_(list(statuses)))
    if division_prefix:
        query = query.where(VolunteerActivity.division_code.startswith(division_prefix))
    if starting_after is not None:
        query = query.where(VolunteerActivity.starts_at > starting_after)
    return list(session.scalars(query.order_by(VolunteerActivity.starts_at,
                                               VolunteerActivity.id)))


def hours_to_confirm(session: Session, *, division_prefix: str = ""
                     ) -> list[tuple[VolunteerSignup, VolunteerActivity, Volunteer]]:
    """Recorded, unconfirmed hours of activities under ``division_prefix``."""
    query = (select(VolunteerSignup, VolunteerActivity, Volunteer)
             .join(VolunteerActivity, VolunteerSignup.activity_id == VolunteerActivity.id)
             .join(Volunteer, VolunteerSignup.volunteer_id == Volunteer.id)
             .where(VolunteerSignup.hours_status == HoursStatus.RECORDED.value)
             .order_by(VolunteerActivity.starts_at, VolunteerSignup.id))
    if division_prefix:
        query = query.where(VolunteerActivity.division_code.startswith(division_prefix))
    return [(s, a, v) for s, a, v in session.execute(query)]


@dataclass(frozen=True, slots=True)
class VolunteerRecord:
    """A volunteer's sign-ups and the confirmed total."""

    volunteer: Volunteer
    entries: list[tuple[VolunteerSignup, VolunteerActivity]]

    @property
    def confirmed_minutes(self) -> int:
        """Minutes confirmed by organisers, over all activities."""
        return sum(s.minutes or 0 for s, _ in self.entries
                   if s.hours_status == HoursStatus.CONFIRMED.value)


def record_of(session: Session, user_id: int) -> VolunteerRecord | None:
    """The account's volunteer record (None when not registered)."""
    volunteer = volunteer_of(session, user_id)
    if volunteer is None:
        return None
    rows = session.execute(
        select(VolunteerSignup, VolunteerActivity)
        .join(VolunteerActivity, VolunteerSignup.activity_id == VolunteerActivity.id)
        .where(VolunteerSignup.volunteer_id == volunteer.id)
        .order_by(VolunteerActivity.starts_at.desc()))
    return VolunteerRecord(volunteer, [(s, a) for s, a in rows])


def volunteer_totals(session: Session, *, period: int, division_prefix: str = ""
                     ) -> pl.DataFrame:
    """Volunteering per community in calendar year ``period``, an indicator input.

    Columns: ``division_code, period, registered_volunteers`` (active volunteers
    registered by the end of the year), ``active_volunteers`` (with confirmed hours of
    activities held in the year), ``confirmed_hours``, ``activities`` (held in the year,
    not cancelled), ``volunteer_service_stations`` (facilities of that type in service).
    Every column is a count or sum, so totals roll up by summing over a code prefix.
    """
    start = dt.datetime(period, 1, 1)  # noqa: DTZ001 (naive China Standard Time, like the rows)
    end = dt.datetime(period + 1, 1, 1)  # noqa: DTZ001
    acc: dict[str, dict[str, float]] = {}

    def bump(code: str, key: str, value: float) -> None:
        row = acc.setdefault(code, {"registered_volunteers": 0, "active_volunteers": 0,
                                    "confirmed_hours": 0.0, "activities": 0,
                                    "volunteer_service_stations": 0})
        row[key] += value

    q1 = (select(Volunteer.division_code, func.count())
          .where(Volunteer.active.is_(True), Volunteer.registered_at < end)
          .group_by(Volunteer.division_code))
    q2 = (select(VolunteerActivity.division_code, func.count(func.distinct(
        VolunteerSignup.volunteer_id)), func.sum(VolunteerSignup.minutes))
          .join(VolunteerSignup, VolunteerSignup.activity_id == VolunteerActivity.id)
          .where(VolunteerSignup.hours_status == HoursStatus.CONFIRMED.value,
                 VolunteerActivity.starts_at >= start, VolunteerActivity.starts_at < end)
          .group_by(VolunteerActivity.division_code))
    q3 = (select(VolunteerActivity.division_code, func.count())
          .where(VolunteerActivity.status != ActivityStatus.CANCELLED.value,
                 VolunteerActivity.starts_at >= start, VolunteerActivity.starts_at < end)
          .group_by(VolunteerActivity.division_code))
    q4 = (select(Facility.division_code, func.count())
          .where(Facility.type_code == STATION_TYPE,
                 Facility.status == FacilityStatus.IN_SERVICE.value)
          .group_by(Facility.division_code))
    if division_prefix:
        q1 = q1.where(Volunteer.division_code.startswith(division_prefix))
        q2 = q2.where(VolunteerActivity.division_code.startswith(division_prefix))
        q3 = q3.where(VolunteerActivity.division_code.startswith(division_prefix))
        q4 = q4.where(Facility.division_code.startswith(division_prefix))
    for code, n in session.execute(q1):
        bump(code, "registered_volunteers", n)
    for code, people, minutes in session.execute(q2):
        bump(code, "active_volunteers", people)
        bump(code, "confirmed_hours", (minutes or 0) / 60)
    for code, n in session.execute(q3):
        bump(code, "activities", n)
    for code, n in session.execute(q4):
        bump(code, "volunteer_service_stations", n)
    rows = [{"division_code": code, "period": period,
             "registered_volunteers": int(v["registered_volunteers"]),
             "active_volunteers": int(v["active_volunteers"]),
             "confirmed_hours": float(v["confirmed_hours"]), "activities": int(v["activities"]),
             "volunteer_service_stations": int(v["volunteer_service_stations"])}
            for code, v in sorted(acc.items())]
    return pl.DataFrame(rows, schema={
        "division_code": pl.Utf8, "period": pl.Int64, "registered_volunteers": pl.Int64,
        "active_volunteers": pl.Int64, "confirmed_hours": pl.Float64, "activities": pl.Int64,
        "volunteer_service_stations": pl.Int64})


# ---- use cases: who may act, the act, the audit row ----------------------------------------

# Times an activity may have (naive China Standard Time).
EARLIEST = dt.datetime(2000, 1, 1)  # noqa: DTZ001
LATEST = dt.datetime(2100, 1, 1)  # noqa: DTZ001


class ActivityDraft(BaseModel):
    """A volunteer activity to publish (naive times are China time)."""

    division_code: str = Field(pattern=r"^\d{12}$")
    organiser_kind: OrganiserKind = OrganiserKind.COMMUNITY
    organiser_name: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    starts_at: dt.datetime
    ends_at: dt.datetime
    places: int | None = Field(default=None, ge=1, le=100_000)
    station_facility_id: int | None = Field(default=None, ge=1, le=2_147_483_647)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _local(cls, value: dt.datetime) -> dt.datetime:
        local = as_local(value)
        if not EARLIEST <= local <= LATEST:
            raise ValueError("must be between 2000 and 2100")
        return local


def register_volunteer(session: Session, user: User, *, display_name: str,
                       skills: str = "") -> Volunteer:
    """Register ``user`` as a volunteer of their community."""
    division = acting_division(session, user)
    if division is None:
        raise ValidationError([Problem("division", "your account has no community",
                                       hint="ask your community to link your resident record",
                                       code="volunteers.no_community")])
    volunteer = register(session, user_id=user.id, division_code=division,
                         display_name=display_name, skills=skills)
    audit(session, user=user, action="create", entity="volunteer", entity_id=volunteer.id)
    return volunteer


def publish_activity(session: Session, user: User, draft: ActivityDraft) -> VolunteerActivity:
    """Publish an activity of a community in ``user``'s jurisdiction."""
    require_handler(user, draft.division_code)
    act = publish(session, division_code=draft.division_code,
                  organiser_kind=draft.organiser_kind, organiser_name=draft.organiser_name,
                  organiser_user_id=user.id, title=draft.title, starts_at=draft.starts_at,
                  ends_at=draft.ends_at, description=draft.description, places=draft.places,
                  station_facility_id=draft.station_facility_id)
    audit(session, user=user, action="create", entity="volunteer_activity", entity_id=act.id)
    return act


def sign_up_for(session: Session, user: User, activity_id: int) -> VolunteerSignup:
    """Sign ``user`` (a registered volunteer) up for an activity."""
    row = sign_up(session, activity_id=activity_id, user_id=user.id)
    audit(session, user=user, action="create", entity="volunteer_signup", entity_id=row.id)
    return row


def own_signup(session: Session, user: User, signup_id: int) -> VolunteerSignup:
    """``user``'s own sign-up ``signup_id`` (another's is not found)."""
    row = signup(session, signup_id)
    volunteer = volunteer_of(session, user.id)
    if volunteer is None or row.volunteer_id != volunteer.id:
        raise NotFoundError(f"you have no volunteer sign-up with id {signup_id}",
                            code="volunteers.not_your_signup", params={"id": signup_id})
    return row


def withdraw_signup(session: Session, user: User, signup_id: int) -> VolunteerSignup:
    """Withdraw ``user``'s own sign-up before the activity begins."""
    own_signup(session, user, signup_id)
    row = withdraw(session, signup_id)
    audit(session, user=user, action="withdraw", entity="volunteer_signup", entity_id=row.id)
    return row


def record_served(session: Session, user: User, signup_id: int, minutes: int
                  ) -> VolunteerSignup:
    """Record the minutes served: the volunteer themself, or staff of the activity's
    community."""
    row = signup(session, signup_id)
    volunteer = volunteer_of(session, user.id)
    if volunteer is None or volunteer.id != row.volunteer_id:
        require_handler(user, activity(session, row.activity_id).division_code)
    record_hours(session, signup_id, minutes=minutes, recorded_by=user.id)
    audit(session, user=user, action="record", entity="volunteer_hours", entity_id=signup_id)
    return row


def decide_hours(session: Session, user: User, signup_id: int, *, approve: bool,
                 minutes: int | None = None) -> VolunteerSignup:
    """Confirm (optionally correcting the minutes) or reject recorded hours of an activity
    in ``user``'s jurisdiction."""
    row = signup(session, signup_id)
    require_handler(user, activity(session, row.activity_id).division_code)
    confirm_hours(session, signup_id, confirmed_by=user.id, approve=approve, minutes=minutes)
    audit(session, user=user, action="confirm" if approve else "reject",
          entity="volunteer_hours", entity_id=signup_id)
    return row


def hours_pending_for(session: Session, user: User
                      ) -> list[tuple[VolunteerSignup, VolunteerActivity, Volunteer]]:
    """Recorded hours waiting for ``user``'s confirmation (case workers only)."""
    require_role(user, *HANDLER_ROLES)
    return hours_to_confirm(session, division_prefix=visible_prefix(user))


def totals_for(session: Session, user: User, *, period: int, division: str | None = None
               ) -> pl.DataFrame:
    """:func:`volunteer_totals` inside ``user``'s jurisdiction (narrowed to ``division``
    when it lies inside)."""
    prefix = visible_prefix(user)
    if division and division.startswith(prefix):
        prefix = division
    return volunteer_totals(session, period=period, division_prefix=prefix)


@dataclass(frozen=True, slots=True)
class ResidentView:
    """What a resident's volunteering page shows."""

    record: VolunteerRecord | None
    upcoming: list[VolunteerActivity]
    signed: set[int]
    counts: dict[int, int]
    now: dt.datetime


def resident_view(session: Session, user: User) -> ResidentView:
    """``user``'s record and the activities of their township that have not begun."""
    now = local_now()
    division = acting_division(session, user) or ""
    record = record_of(session, user.id)
    signed = ({s.activity_id for s, _ in record.entries
               if s.status == SignupStatus.SIGNED_UP.value} if record else set())
    upcoming = activities_in(session, division_prefix=division[:9], starting_after=now)
    return ResidentView(record, upcoming, signed,
                        {a.id: signed_up_count(session, a.id) for a in upcoming}, now)


@dataclass(frozen=True, slots=True)
class OrganiserView:
    """What a case worker's volunteering page shows."""

    pending: list[tuple[VolunteerSignup, VolunteerActivity, Volunteer]]
    activities: list[VolunteerActivity]
    prefix: str


def organiser_view(session: Session, user: User) -> OrganiserView:
    """Hours to confirm and the published activities of ``user``'s jurisdiction."""
    pending = hours_pending_for(session, user)
    prefix = visible_prefix(user)
    return OrganiserView(pending, activities_in(session, division_prefix=prefix), prefix)
