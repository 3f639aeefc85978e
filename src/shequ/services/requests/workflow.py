"""The request workflow as a pure state machine: which actions move which states.

::

    submitted ─accept→ accepted ─assign→ assigned ─start→ in_progress ─resolve→ resolved
        │                 │                 │                 │                 │
        └──────── close (reject, duplicate, or after resolution) ─────────────→ closed
    closed ─reopen (by the submitter, within reopen_days of closing)→ accepted

Open311 shows ``closed`` for CLOSED and ``open`` for every other state.
"""

from __future__ import annotations

import datetime as dt

from shequ.errors import ConflictError
from shequ.services.requests.models import RequestStatus as S

TRANSITIONS: dict[str, dict[S, S]] = {
    "accept": {S.SUBMITTED: S.ACCEPTED},
    "assign": {S.SUBMITTED: S.ASSIGNED, S.ACCEPTED: S.ASSIGNED, S.ASSIGNED: S.ASSIGNED,
               S.IN_PROGRESS: S.IN_PROGRESS},
    "start": {S.ACCEPTED: S.IN_PROGRESS, S.ASSIGNED: S.IN_PROGRESS},
    "update": {s: s for s in S if s is not S.CLOSED},
    "resolve": {S.ACCEPTED: S.RESOLVED, S.ASSIGNED: S.RESOLVED, S.IN_PROGRESS: S.RESOLVED},
    "close": {s: S.CLOSED for s in S if s is not S.CLOSED},
    "reopen": {S.CLOSED: S.ACCEPTED, S.RESOLVED: S.IN_PROGRESS},
}
ACTIONS = tuple(TRANSITIONS)


def handler_moves() -> dict[str, list[tuple[str, str]]]:
    """For each state, the steps a handler's form offers from it (reopen is the
    submitter's) and the state each leads to: what a device without signal uses to show a
    request in the state its queued steps will put it in."""
    return {state.value: [(action, moves[state].value) for action, moves in TRANSITIONS.items()
                          if action != "reopen" and state in moves]
            for state in S}


def next_status(current: str, action: str) -> S:
    """The state ``action`` leads to from ``current``; ConflictError when not allowed."""
    if action not in TRANSITIONS:
        raise ConflictError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}",
                            code="services.unknown_action")
    moves = TRANSITIONS[action]
    state = S(current)
    if state not in moves:
        allowed = ", ".join(a for a, m in TRANSITIONS.items() if state in m)
        raise ConflictError(f"a {state.value} request cannot be '{action}'; from "
                            f"{state.value} you may: {allowed}",
                            code="services.action_not_allowed",
                            params={"status": state.value, "action": action})
    return moves[state]


def open311_status(status: str) -> str:
    """``closed`` or ``open`` (GeoReport v2 knows only these two)."""
    return "closed" if status == S.CLOSED.value else "open"


def deadline(requested_at: dt.datetime, hours: float) -> dt.datetime:
    """When a request must be resolved: submission time plus the category's hours."""
    return requested_at + dt.timedelta(hours=hours)


def may_reopen(closed_at: dt.datetime | None, now: dt.datetime, reopen_days: float) -> bool:
    """True while ``now`` is within ``reopen_days`` of closing."""
    return closed_at is not None and now - closed_at <= dt.timedelta(days=reopen_days)


def is_overdue(status: str, deadline_at: dt.datetime, now: dt.datetime) -> bool:
    """Unresolved and past its deadline."""
    return status not in (S.RESOLVED.value, S.CLOSED.value) and now > deadline_at
