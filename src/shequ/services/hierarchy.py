"""Division changes as a use case: who may make them, what the services' tables carry, the
audit row and the notice to each account whose jurisdiction moved.

One function, :func:`apply_division_changes`, is what the command line, the HTTP API and
the administrators' page all call.  The registry does the checking and the carrying
(:mod:`shequ.registry.changes`); this module adds the services' tables:

boundaries               a renamed, re-coded or re-parented unit keeps its boundary, a
                         merged unit gets the union of its predecessors'
open requests            division and responsible office follow (by location in a split)
bookings                 the booker's community of pending and approved bookings follows;
                         venues are facilities and move with them
residents                follow; a split takes them from its list, else the part that
                         keeps the old code
care applications,       those still open follow
volunteers, activities
staff jurisdictions      re-pointed; the account is told (a notification in its language,
                         through :mod:`shequ.services.notify`, in the change's transaction)
                         and the audit log notes it
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from shequ.errors import AccessDenied, Problem, ValidationError
from shequ.ingest.changes import ChangeFile
from shequ.registry.boundaries import carry_boundaries
from shequ.registry.changes import (
    Carried,
    ChangeEvent,
    ChangeReport,
    apply_changes,
    check_changes,
)
from shequ.registry.codes import normalise_code
from shequ.registry.models import Division, DivisionChangeEvent
from shequ.registry.queries import valid_on
from shequ.services.accounts.audit import audit
from shequ.services.accounts.models import Resident, Role, User
from shequ.services.accounts.policy import Principal, jurisdiction_prefix, role_of
from shequ.services.bookings.models import Booking
from shequ.services.care.models import CareApplication
from shequ.services.notify.service import Kind, notify
from shequ.services.requests.models import RequestStatus, ServiceRequest
from shequ.services.volunteers.models import Volunteer, VolunteerActivity

# Nationwide and provincial roles make division changes (a province only its own).
CHANGE_ROLES = (Role.ADMIN, Role.NATIONAL_PLANNER, Role.PROVINCE_PLANNER)


def _table(model: type[object]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def carried_tables() -> list[Carried]:
    """The services' tables that follow a division through a change."""
    request = _table(ServiceRequest)
    booking = _table(Booking)
    care = _table(CareApplication)
    volunteer = _table(Volunteer)
    activity = _table(VolunteerActivity)
    user = _table(User)
    open_request = request.c.status != RequestStatus.CLOSED.value
    return [
        Carried("service_request", request, "division_code", where=open_request,
                longitude="longitude", latitude="latitude"),
        Carried("service_request (office)", request, "responsible_code", where=open_request,
                longitude="longitude", latitude="latitude"),
        Carried("booking", booking, "division_code",
                where=booking.c.status.in_(("pending", "approved"))),
        Carried("resident", _table(Resident), "division_code", people=True),
        Carried("care_application", care, "division_code",
                where=care.c.status.in_(("waiting", "offered", "accepted"))),
        Carried("volunteer", volunteer, "division_code"),
        Carried("volunteer_activity", activity, "division_code",
                where=activity.c.status == "published"),
        Carried("app_user", user, "jurisdiction_code", notice=True),
    ]


def _codes(events: Sequence[ChangeEvent]) -> set[str]:
    out: set[str] = set()
    for event in events:
        for raw in (*event.old, *(p.code for p in event.new if p.code),
                    *(p.parent for p in event.new if p.parent)):
            try:
                out.add(normalise_code(raw))
            except ValidationError:
                continue
    return out


def require_change_rights(user: Principal | None, events: Sequence[ChangeEvent]) -> None:
    """Nationwide roles change anything; a province's planners only codes in it."""
    if user is None:
        raise AccessDenied("division changes need a signed-in nationwide or provincial "
                           "account", code="changes.role_needed")
    role = role_of(user)
    if role not in CHANGE_ROLES:
        raise AccessDenied(f"division changes are made by nationwide and provincial roles; "
                           f"user {user.id} is {user.role}", code="changes.role_needed")
    prefix = jurisdiction_prefix(user) or ""
    outside = sorted(code for code in _codes(events) if not code.startswith(prefix))
    if outside:
        raise AccessDenied(f"{', '.join(outside[:5])} lie outside the province of user "
                           f"{user.id}", code="changes.outside_jurisdiction",
                           params={"codes": ", ".join(outside[:5])})


@dataclass(frozen=True, slots=True)
class ChangeOutcome:
    """What a batch of changes did, for the caller to show."""

    report: ChangeReport
    events: int


def apply_division_changes(session: Session, user: Principal | None,
                           events: Sequence[ChangeEvent], *, source: str,
                           row_problems: Sequence[Problem] = (),
                           check_rights: bool = True) -> ChangeOutcome:
    """Check rights, check and apply the batch with everything it carries, notify the
    accounts whose jurisdiction moved and audit it — in the caller's transaction.

    ``row_problems`` (from reading a file) are reported together with the registry's, so
    a refused file names every problem at once; nothing is written when there is any.
    ``check_rights`` is False only for the command line, run by the operator.
    """
    if check_rights:
        require_change_rights(user, events)
    if row_problems:
        checker, _ = check_changes(session, events, source=source)
        problems = [*row_problems, *checker.problems]
        raise ValidationError(sorted(problems, key=lambda p: (p.row or 0, p.column or "")),
                              summary=f"{len(problems)} problem(s) in {source}; nothing "
                              "was written")
    username = getattr(user, "username", None)
    report = apply_changes(session, events, source=source, recorded_by=username or "cli",
                           carried=carried_tables())
    carry_boundaries(session, report.events, source=f"{source}: carried by the change")
    _tell_accounts(session, report)
    for notice in report.notices:
        audit(session, user=user, action="jurisdiction_repointed", entity="app_user",
              entity_id=notice.row_id,
              detail={"old": notice.old_code, "new": notice.new_code,
                      "change_event": notice.event_id})
    audit(session, user=user, action="division_changes_applied", entity="division_change_event",
          entity_id=report.events[0] if report.events else None,
          detail={"source": source, "events": report.events, "opened": report.opened,
                  "closed": report.closed, "moved": dict(report.moved)})
    return ChangeOutcome(report, len(report.events))


def _tell_accounts(session: Session, report: ChangeReport) -> None:
    """A notification to each account whose jurisdiction a change re-pointed: the old and
    new division (code and name) and the effective date, rendered in the account's
    language when shown or sent."""
    if not report.notices:
        return
    dates = {row.id: row.effective_on for row in session.execute(
        select(DivisionChangeEvent.id, DivisionChangeEvent.effective_on)
        .where(DivisionChangeEvent.id.in_({n.event_id for n in report.notices})))}

    def name(code: str, on: dt.date) -> str:
        found = session.scalar(select(Division.name).where(Division.code == code,
                                                           valid_on(on)))
        return found or code

    for notice in report.notices:
        on = dates[notice.event_id]
        notify(session, notice.row_id, Kind.JURISDICTION_REPOINTED, {
            "old": notice.old_code, "new": notice.new_code, "on": on.isoformat(),
            "old_name": name(notice.old_code, on - dt.timedelta(days=1)),
            "new_name": name(notice.new_code, on)},
            f"division_change:{notice.event_id}:{notice.old_code}:user:{notice.row_id}")


def apply_change_file(session: Session, user: Principal | None, changes: ChangeFile, *,
                      check_rights: bool = True) -> ChangeOutcome:
    """:func:`apply_division_changes` for a file read by :mod:`shequ.ingest.changes`."""
    if not changes.events and not changes.problems:
        raise ValidationError([Problem(changes.source, "the file holds no change",
                                       code="changes.empty_file")])
    return apply_division_changes(session, user, changes.events, source=changes.source,
                                  row_problems=changes.problems, check_rights=check_rights)


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One recorded change for lists."""

    id: int
    kind: str
    effective_on: dt.date
    old_codes: str
    new_codes: str
    shares: str | None
    recorded_by: str | None
    recorded_at: dt.datetime
    source: str


def list_changes(session: Session, *, prefix: str = "", limit: int = 200, offset: int = 0
                 ) -> tuple[int, list[ChangeRecord]]:
    """Recorded changes, newest effective date first (``prefix``: touching codes under it)."""
    query = select(DivisionChangeEvent)
    if prefix:
        query = query.where(DivisionChangeEvent.old_codes.contains(f'"{prefix}')
                            | DivisionChangeEvent.new_codes.contains(f'"{prefix}'))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(query.order_by(DivisionChangeEvent.effective_on.desc(),
                                          DivisionChangeEvent.id.desc())
                           .limit(limit).offset(offset)).all()
    return total, [ChangeRecord(r.id, r.kind, r.effective_on, r.old_codes, r.new_codes,
                                r.shares, r.recorded_by, r.recorded_at, r.source)
                   for r in rows]


__all__ = ["CHANGE_ROLES", "ChangeOutcome", "ChangeRecord", "apply_change_file",
           "apply_division_changes", "carried_tables", "list_changes",
           "require_change_rights"]
