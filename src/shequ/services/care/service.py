"""Elderly day-care and nursery places: applications, waitlists, offers, enrolment.

State machine of an application::

    waiting ──offer──▶ offered ──accept (by the deadline)──▶ accepted ──end──▶ ended
       │                  ├──decline──▶ declined
       └─withdraw─▶ withdrawn └──deadline passes──▶ lapsed

Whenever a place may be free (an application arrives, an offer is declined or lapses,
an enrolment ends) :func:`fill_free_places` offers it to the waiting application the
declared priority rules put first.  The change that frees the place is committed first
and the places are filled in a transaction of their own (:func:`settle`), so that losing
a race for a place never undoes the resident's own change.  An offer holds a numbered
place (a row of ``care_place_hold`` keyed by facility and place number); of two
concurrent offers for the last place the database admits one, the other gets
:class:`~shequ.errors.ConflictError` and its transaction is rolled back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import ConflictError, NotFoundError, Problem, ValidationError
from shequ.registry.models import Facility, FacilityStatus
from shequ.services.accounts import HANDLER_ROLES, User, audit, require_handler, require_role
from shequ.services.accounts.acting import acting_division, visible_prefix
from shequ.services.accounts.crypto import mask_name
from shequ.services.accounts.models import Resident
from shequ.services.bookings.clock import local_now
from shequ.services.care.models import (
    HOLDING_STATUSES,
    ApplicationStatus,
    CareApplication,
    CarePlaceHold,
)
from shequ.services.care.rules import (
    CARE_FACILITY_TYPES,
    Candidate,
    PriorityRules,
    Ranked,
    eligibility_problems,
    parse_groups,
    rank,
)
from shequ.services.notify.service import Kind, notify

OPEN_STATUSES = (ApplicationStatus.WAITING.value, *HOLDING_STATUSES)


def care_facility(session: Session, facility_id: int) -> Facility:
    """The day-care centre or nursery ``facility_id``; errors say why it takes no places."""
    facility = session.get(Facility, facility_id)
    if facility is None:
        raise NotFoundError(f"no facility with id {facility_id}; GET /api/v1/care/facilities "
                            "lists the care centres", code="care.no_facility",
                            params={"id": facility_id})
    if facility.type_code not in CARE_FACILITY_TYPES:
        raise ValidationError([Problem(
            f"facility {facility_id}", f"type {facility.type_code!r} has no care places",
            hint="places are for " + " and ".join(CARE_FACILITY_TYPES),
            column="facility_id", code="care.not_a_care_facility")])
    return facility


def application(session: Session, application_id: int) -> CareApplication:
    """The application ``application_id``; NotFoundError when there is none."""
    row = session.get(CareApplication, application_id)
    if row is None:
        raise NotFoundError(f"no care application with id {application_id}; GET "
                            "/api/v1/care/applications/mine lists yours, "
                            "/api/v1/care/facilities/{id}/waitlist a centre's",
                            code="care.no_application", params={"id": application_id})
    return row


def apply(session: Session, rules: PriorityRules, *, facility_id: int, applicant_user_id: int,
          beneficiary_name: str, beneficiary_birth_date: dt.date, division_code: str,
          priority_groups: Sequence[str] = (), resident_groups: Sequence[str] = (),
          resident_id: int | None = None, now: dt.datetime | None = None) -> CareApplication:
    """Apply for a place for a beneficiary (then :func:`settle` offers any free place).

    ``priority_groups`` are declared on the application (checked against the rules);
    ``resident_groups`` come from the resident's record and count where the rules know
    them.  One open application per beneficiary and facility.
    """
    now = now or local_now()
    facility = care_facility(session, facility_id)
    problems = eligibility_problems(rules, facility_type=facility.type_code,
                                    birth=beneficiary_birth_date, on=now.date())
    if facility.status != FacilityStatus.IN_SERVICE.value:
        problems.append(Problem(f"facility {facility_id}", f"is {facility.status}, "
                                "not in service", column="facility_id",
                                code="care.facility_not_in_service"))
    if not beneficiary_name.strip():
        problems.append(Problem("beneficiary_name", "is empty", column="beneficiary_name",
                                code="required"))
    if problems:
        raise ValidationError(problems, summary="the application cannot be accepted")
    groups = parse_groups(rules, priority_groups) | (frozenset(resident_groups)
                                                     & frozenset(rules.groups))
    # Name and birth date are encrypted with fresh nonces, so they are compared here, among
    # the facility's open applications, not in SQL.
    duplicate = next((a.id for a in session.scalars(select(CareApplication).where(
        CareApplication.facility_id == facility_id,
        CareApplication.status.in_(OPEN_STATUSES)))
        if a.beneficiary_name == beneficiary_name.strip()
        and a.beneficiary_birth_date == beneficiary_birth_date), None)
    if duplicate is not None:
        raise ConflictError(f"{beneficiary_name} already has open application {duplicate} "
                            f"at facility {facility_id}", code="care.duplicate",
                            params={"name": beneficiary_name.strip(), "id": duplicate})
    app = CareApplication(
        facility_id=facility_id, applicant_user_id=applicant_user_id, resident_id=resident_id,
        beneficiary_name=beneficiary_name.strip(),
        beneficiary_name_masked=mask_name(beneficiary_name),
        beneficiary_birth_date=beneficiary_birth_date,
        division_code=division_code, priority_groups=",".join(sorted(groups)),
        status=ApplicationStatus.WAITING.value, applied_at=now)
    session.add(app)
    session.flush()
    return app


def _candidates(session: Session, facility_id: int) -> list[tuple[CareApplication, Candidate]]:
    waiting = session.scalars(select(CareApplication).where(
        CareApplication.facility_id == facility_id,
        CareApplication.status == ApplicationStatus.WAITING.value))
    return [(a, Candidate(a.id, a.beneficiary_birth_date,
                          frozenset(g for g in a.priority_groups.split(",") if g), a.applied_at))
            for a in waiting]


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A waiting application with its position, points and the rules that gave them."""

    application: CareApplication
    rank: Ranked


def waitlist(session: Session, rules: PriorityRules, facility_id: int, *,
             on: dt.date | None = None) -> list[QueueEntry]:
    """The facility's waiting applications in the order the rules give."""
    facility = care_facility(session, facility_id)
    pairs = _candidates(session, facility_id)
    by_id = {a.id: a for a, _ in pairs}
    ranked = rank(rules, [c for _, c in pairs], facility_type=facility.type_code,
                  on=on or local_now().date())
    return [QueueEntry(by_id[r.application_id], r) for r in ranked]


def queue_position(session: Session, rules: PriorityRules, application_id: int, *,
                   on: dt.date | None = None) -> int | None:
    """1 for the next to be offered; None when the application is not waiting."""
    app = application(session, application_id)
    if app.status != ApplicationStatus.WAITING.value:
        return None
    for entry in waitlist(session, rules, app.facility_id, on=on):
        if entry.application.id == application_id:
            return entry.rank.position
    return None


def free_places(session: Session, facility_id: int) -> list[int]:
    """Place numbers 1 … capacity that no offer or enrolment holds."""
    facility = care_facility(session, facility_id)
    held = set(session.scalars(select(CarePlaceHold.place_no).where(
        CarePlaceHold.facility_id == facility_id)))
    return [n for n in range(1, (facility.capacity or 0) + 1) if n not in held]


def offer_place(session: Session, rules: PriorityRules, application_id: int, *,
                now: dt.datetime | None = None) -> CareApplication:
    """Offer the lowest free place to a waiting application (the database decides races).

    :func:`fill_free_places` calls this for the applicant the rules put first; calling
    it directly skips the order, so pages and the API never do.
    """
    now = now or local_now()
    app = application(session, application_id)
    if app.status != ApplicationStatus.WAITING.value:
        raise ConflictError(f"application {application_id} is {app.status}, not waiting",
                            code="care.not_waiting", params={"id": application_id})
    free = free_places(session, app.facility_id)
    if not free:
        raise ConflictError(f"facility {app.facility_id} has no free place",
                            code="care.no_free_place")
    try:
        session.add(CarePlaceHold(facility_id=app.facility_id, place_no=free[0],
                                  application_id=app.id, held_since=now))
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError(f"place {free[0]} of facility {app.facility_id} was just given "
                            "to another applicant; the waitlist moves on",
                            code="care.place_just_taken", params={"place": free[0]}) from exc
    app.status = ApplicationStatus.OFFERED.value
    app.offered_at = now
    app.offer_deadline = now + dt.timedelta(days=rules.offer_days)
    app.place_no = free[0]
    session.flush()
    notify(session, app.applicant_user_id, Kind.CARE_OFFERED,
           {"place": care_facility(session, app.facility_id).name,
            "deadline": f"{app.offer_deadline:%Y-%m-%d %H:%M}"},
           f"care_application:{app.id}:offered")
    return app


def fill_free_places(session: Session, rules: PriorityRules, facility_id: int, *,
                     now: dt.datetime | None = None) -> list[CareApplication]:
    """Offer every free place to the waiting applications the rules put first."""
    now = now or local_now()
    offered: list[CareApplication] = []
    while free_places(session, facility_id):
        queue = waitlist(session, rules, facility_id, on=now.date())
        if not queue:
            break
        offered.append(offer_place(session, rules, queue[0].application.id, now=now))
    return offered


def settle(sessions: sessionmaker[Session], rules: PriorityRules, facility_id: int, *,
           now: dt.datetime | None = None, attempts: int = 3) -> list[int]:
    """Fill the facility's free places in a transaction of its own; ids of new offers.

    A lost race (another transaction offered the same place first) is retried up to
    ``attempts`` times with fresh data; after that the winner has filled the places.
    """
    for _ in range(attempts):
        with sessions() as session:
            try:
                ids = [a.id for a in fill_free_places(session, rules, facility_id, now=now)]
                session.commit()
            except ConflictError:  # offer_place rolled back; try again with fresh data
                continue
            return ids
    return []


def _release(session: Session, app: CareApplication) -> None:
    session.execute(delete(CarePlaceHold).where(CarePlaceHold.application_id == app.id))


def accept(session: Session, rules: PriorityRules, application_id: int, *,
           now: dt.datetime | None = None) -> CareApplication:
    """Accept an open offer; after its deadline the offer lapses instead (ConflictError)."""
    now = now or local_now()
    app = application(session, application_id)
    if app.status != ApplicationStatus.OFFERED.value:
        raise ConflictError(f"application {application_id} is {app.status}; only an "
                            "offered place can be accepted", code="care.not_offered",
                            params={"id": application_id})
    if app.offer_deadline is not None and now > app.offer_deadline:
        raise ConflictError(f"the offer of application {application_id} lapsed at "
                            f"{app.offer_deadline:%Y-%m-%d %H:%M}; run expire_offers",
                            code="care.offer_lapsed",
                            params={"deadline": f"{app.offer_deadline:%Y-%m-%d %H:%M}"})
    app.status = ApplicationStatus.ACCEPTED.value
    app.decided_at = now
    session.flush()
    return app


def _close(session: Session, app: CareApplication, status: str, now: dt.datetime) -> None:
    app.status = status
    if status == ApplicationStatus.ENDED.value:
        app.ended_at = now
    else:
        app.decided_at = now
    _release(session, app)
    session.flush()


def decline(session: Session, rules: PriorityRules, application_id: int, *,
            now: dt.datetime | None = None) -> CareApplication:
    """Decline an open offer; :func:`settle` then gives the place to the next applicant."""
    now = now or local_now()
    app = application(session, application_id)
    if app.status != ApplicationStatus.OFFERED.value:
        raise ConflictError(f"application {application_id} is {app.status}, not offered",
                            code="care.not_offered", params={"id": application_id})
    _close(session, app, ApplicationStatus.DECLINED.value, now)
    return app


def withdraw(session: Session, rules: PriorityRules, application_id: int, *,
             now: dt.datetime | None = None) -> CareApplication:
    """Withdraw a waiting application (an offered one is declined)."""
    now = now or local_now()
    app = application(session, application_id)
    if app.status == ApplicationStatus.OFFERED.value:
        return decline(session, rules, application_id, now=now)
    if app.status != ApplicationStatus.WAITING.value:
        raise ConflictError(f"application {application_id} is {app.status}; only a "
                            "waiting or offered application can be withdrawn",
                            code="care.not_open", params={"id": application_id})
    app.status = ApplicationStatus.WITHDRAWN.value
    app.decided_at = now
    session.flush()
    return app


def end_enrolment(session: Session, rules: PriorityRules, application_id: int, *,
                  now: dt.datetime | None = None) -> CareApplication:
    """End an enrolment (the person leaves); :func:`settle` refills the place."""
    now = now or local_now()
    app = application(session, application_id)
    if app.status != ApplicationStatus.ACCEPTED.value:
        raise ConflictError(f"application {application_id} is {app.status}, not enrolled",
                            code="care.not_enrolled", params={"id": application_id})
    _close(session, app, ApplicationStatus.ENDED.value, now)
    return app


def expire_offers(session: Session, rules: PriorityRules, *, now: dt.datetime | None = None
                  ) -> list[CareApplication]:
    """Lapse every offer past its deadline (then :func:`settle` their facilities)."""
    now = now or local_now()
    lapsed = list(session.scalars(select(CareApplication).where(
        CareApplication.status == ApplicationStatus.OFFERED.value,
        CareApplication.offer_deadline < now).order_by(CareApplication.offer_deadline,
                                                        CareApplication.id)))
    for app in lapsed:
        _close(session, app, ApplicationStatus.LAPSED.value, now)
        notify(session, app.applicant_user_id, Kind.CARE_LAPSED,
               {"place": care_facility(session, app.facility_id).name},
               f"care_application:{app.id}:lapsed")
    return lapsed


def applications_of(session: Session, *, applicant_user_id: int | None = None,
                    division_prefix: str = "", statuses: Sequence[str] = ()
                    ) -> list[tuple[CareApplication, Facility]]:
    """Applications (newest first) of one applicant or of facilities under a prefix."""
    query = (select(CareApplication, Facility)
             .join(Facility, CareApplication.facility_id == Facility.id)
             .order_by(CareApplication.applied_at.desc(), CareApplication.id.desc()))
    if applicant_user_id is not None:
        query = query.where(CareApplication.applicant_user_id == applicant_user_id)
    if division_prefix:
        query = query.where(Facility.division_code.startswith(division_prefix))
    if statuses:
        query = query.where(CareApplication.status.in_(list(statuses)))
    return [(a, f) for a, f in session.execute(query)]


def care_facilities(session: Session, *, division_prefix: str = "") -> list[Facility]:
    """Day-care centres and nurseries in service under ``division_prefix``."""
    query = select(Facility).where(Facility.type_code.in_(CARE_FACILITY_TYPES),
                                   Facility.status == FacilityStatus.IN_SERVICE.value)
    if division_prefix:
        query = query.where(Facility.division_code.startswith(division_prefix))
    return list(session.scalars(query.order_by(Facility.division_code, Facility.name)))


def care_indicators(session: Session, *, on: dt.datetime | None = None,
                    division_prefix: str = "") -> pl.DataFrame:
    """Occupancy and waiting per care facility on ``on``, an indicator input.

    Columns: ``facility_id, division_code, type_code, capacity, enrolled, offers_open,
    waiting, occupancy, mean_wait_days, median_wait_days``, where
    occupancy = enrolled ÷ capacity (null without capacity) and the wait statistics are
    over the applications still waiting on ``on`` (days from application to ``on``).
    Roll up by summing ``enrolled`` and ``capacity`` over a code prefix.
    """
    on = on or local_now()
    facilities = care_facilities(session, division_prefix=division_prefix)
    ids = [f.id for f in facilities]
    counts: dict[tuple[int, str], int] = {}
    if ids:
        for facility_id, status, n in session.execute(
                select(CareApplication.facility_id, CareApplication.status, func.count())
                .where(CareApplication.facility_id.in_(ids))
                .group_by(CareApplication.facility_id, CareApplication.status)):
            counts[(facility_id, status)] = n
    waits: dict[int, list[float]] = {i: [] for i in ids}
    if ids:
        for facility_id, applied_at in session.execute(
                select(CareApplication.facility_id, CareApplication.applied_at).where(
                    CareApplication.facility_id.in_(ids),
                    CareApplication.status == ApplicationStatus.WAITING.value)):
            waits[facility_id].append((on - applied_at).total_seconds() / 86400)
    rows = []
    for f in facilities:
        enrolled = counts.get((f.id, ApplicationStatus.ACCEPTED.value), 0)
        days = sorted(waits[f.id])
        median = None
        if days:
            mid = len(days) // 2
            median = days[mid] if len(days) % 2 else (days[mid - 1] + days[mid]) / 2
        rows.append({
            "facility_id": f.id, "division_code": f.division_code, "type_code": f.type_code,
            "capacity": f.capacity, "enrolled": enrolled,
            "offers_open": counts.get((f.id, ApplicationStatus.OFFERED.value), 0),
            "waiting": counts.get((f.id, ApplicationStatus.WAITING.value), 0),
            "occupancy": enrolled / f.capacity if f.capacity else None,
            "mean_wait_days": sum(days) / len(days) if days else None,
            "median_wait_days": median})
    return pl.DataFrame(rows, schema={
        "facility_id": pl.Int64, "division_code": pl.Utf8, "type_code": pl.Utf8,
        "capacity": pl.Int64, "enrolled": pl.Int64, "offers_open": pl.Int64,
        "waiting": pl.Int64, "occupancy": pl.Float64, "mean_wait_days": pl.Float64,
        "median_wait_days": pl.Float64})


# ---- use cases: whether the caller may, the act and its audit row (API and pages) --------

ANSWERS = ("accept", "decline", "withdraw")


def settle_after(session: Session, sessions: sessionmaker[Session], rules: PriorityRules,
                 facility_id: int) -> list[int]:
    """Commit ``session``'s change, then refill the facility's places (:func:`settle`).

    The refill runs in its own transaction, so ``session`` forgets what it loaded
    (``expire_all``) and reads the new offers afresh; ids of the new offers.
    """
    session.commit()
    offered = settle(sessions, rules, facility_id)
    session.expire_all()
    return offered


def own_application(session: Session, user: User, application_id: int) -> CareApplication:
    """The caller's own application (another's is not found: its existence is private)."""
    app = application(session, application_id)
    if app.applicant_user_id != user.id:
        raise NotFoundError(f"you have no care application with id {application_id}",
                            code="care.not_yours", params={"id": application_id})
    return app


def apply_as(session: Session, sessions: sessionmaker[Session], rules: PriorityRules,
             user: User, *, facility_id: int, beneficiary_name: str,
             beneficiary_birth_date: dt.date, priority_groups: Sequence[str] = ()
             ) -> CareApplication:
    """The caller applies for a place (groups on their resident record count too), audited
    and committed; any free place is then offered by the rules."""
    resident = session.get(Resident, user.resident_id) if user.resident_id else None
    division = acting_division(session, user) or care_facility(session, facility_id
                                                               ).division_code
    app = apply(session, rules, facility_id=facility_id, applicant_user_id=user.id,
                beneficiary_name=beneficiary_name,
                beneficiary_birth_date=beneficiary_birth_date, division_code=division,
                priority_groups=priority_groups,
                resident_groups=resident.priority_group_list if resident else (),
                resident_id=user.resident_id)
    audit(session, user=user, action="create", entity="care_application", entity_id=app.id)
    settle_after(session, sessions, rules, facility_id)
    return app


def answer_as(session: Session, sessions: sessionmaker[Session], rules: PriorityRules,
              user: User, application_id: int, *, answer: str) -> CareApplication:
    """The applicant accepts or declines their offer, or withdraws the application,
    audited; a place given up goes to the next applicant."""
    if answer not in ANSWERS:
        raise ValidationError([Problem("answer", f"{answer!r} is not one of "
                                       + ", ".join(ANSWERS), column="answer",
                                       code="not_a_choice", params={"value": answer})])
    own_application(session, user, application_id)
    verb = {"accept": accept, "decline": decline, "withdraw": withdraw}[answer]
    app = verb(session, rules, application_id)
    audit(session, user=user, action=answer, entity="care_application",
          entity_id=application_id)
    if answer != "accept":
        settle_after(session, sessions, rules, app.facility_id)
    return app


def _handled(session: Session, user: User, facility_id: int) -> Facility:
    facility = care_facility(session, facility_id)
    require_handler(user, facility.division_code)
    return facility


def end_enrolment_as(session: Session, sessions: sessionmaker[Session], rules: PriorityRules,
                     user: User, application_id: int) -> CareApplication:
    """A handler of the facility's jurisdiction ends an enrolment, audited; the place is
    offered on."""
    app = application(session, application_id)
    _handled(session, user, app.facility_id)
    end_enrolment(session, rules, application_id)
    audit(session, user=user, action="end", entity="care_application",
          entity_id=application_id)
    settle_after(session, sessions, rules, app.facility_id)
    return app


def settle_as(session: Session, sessions: sessionmaker[Session], rules: PriorityRules,
              user: User, facility_id: int) -> tuple[list[int], list[int]]:
    """A handler's "offer free places": lapse overdue offers, then offer every free place
    of the facility by the rules, audited; (lapsed ids of this facility, new offer ids)."""
    _handled(session, user, facility_id)
    lapsed = [a.id for a in expire_offers(session, rules) if a.facility_id == facility_id]
    audit(session, user=user, action="settle", entity="care_facility", entity_id=facility_id,
          detail={"lapsed": lapsed})
    return lapsed, settle_after(session, sessions, rules, facility_id)


def waitlist_for(session: Session, rules: PriorityRules, user: User, facility_id: int
                 ) -> list[QueueEntry]:
    """The waitlist, for a handler of the facility's jurisdiction (the reading is audited:
    it names people)."""
    _handled(session, user, facility_id)
    audit(session, user=user, action="read", entity="care_waitlist", entity_id=facility_id)
    return waitlist(session, rules, facility_id)


def indicators_for(session: Session, user: User, division: str | None = None) -> pl.DataFrame:
    """:func:`care_indicators` inside the caller's jurisdiction (or a division under it)."""
    prefix = visible_prefix(user)
    if division and division.startswith(prefix):
        prefix = division
    return care_indicators(session, division_prefix=prefix)


def facilities_near(session: Session, user: User) -> list[Facility]:
    """Care facilities a resident sees: those of the county they act in."""
    return care_facilities(session, division_prefix=(acting_division(session, user) or "")[:6])


@dataclass(frozen=True, slots=True)
class FacilityDesk:
    """One facility on a handler's page: its queue, the places offered or taken, the
    number free."""

    facility: Facility
    queue: list[QueueEntry]
    holding: list[CareApplication]
    free: int


def desk(session: Session, rules: PriorityRules, user: User) -> list[FacilityDesk]:
    """The care facilities of a handler's jurisdiction with their queues and places (the
    reading is audited, as for :func:`waitlist_for`)."""
    require_role(user, *HANDLER_ROLES)
    prefix = visible_prefix(user)
    facilities = care_facilities(session, division_prefix=prefix)
    holding = applications_of(session, division_prefix=prefix,
                              statuses=[ApplicationStatus.OFFERED.value,
                                        ApplicationStatus.ACCEPTED.value])
    desks = []
    for facility in facilities:
        audit(session, user=user, action="read", entity="care_waitlist",
              entity_id=facility.id)
        desks.append(FacilityDesk(
            facility=facility, queue=waitlist(session, rules, facility.id),
            holding=sorted((a for a, f in holding if f.id == facility.id),
                           key=lambda a: (a.place_no or 0, a.id)),
            free=len(free_places(session, facility.id))))
    return desks
