"""Server-side sign-in sessions: started at sign-in, checked on every request, ended by
signing out, by a password change or an administrator, or by idle and absolute time-outs.

A page cookie or a bearer token carries a signed random key
(:mod:`shequ.services.accounts.tokens`); the row of ``account_session`` named by the key's
hash says whether it still holds.  ``last_seen_at`` is written at most once a minute per
session, so a busy client costs one read per request, not one write.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shequ.errors import NotFoundError
from shequ.services.accounts.models import AccountSession, SessionKind, User
from shequ.services.accounts.tokens import read_token, session_key_hash, sign_token
from shequ.services.accounts.users import refused_in_environment
from shequ.settings import Settings

# How stale last_seen_at may get before a request writes it again.
TOUCH_EVERY = dt.timedelta(minutes=1)


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an aware UTC time (SQLite hands back naive UTC values)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long sessions last: idle time-out for both kinds, absolute per kind."""

    idle: dt.timedelta = dt.timedelta(minutes=60)
    page_max: dt.timedelta = dt.timedelta(hours=8)
    bearer_max: dt.timedelta = dt.timedelta(hours=12)
    environment: str = "development"

    @classmethod
    def of(cls, settings: Settings) -> SessionPolicy:
        """The policy configured by ``SHEQU_SESSION_*`` and ``SHEQU_TOKEN_MAX_HOURS``."""
        return cls(idle=dt.timedelta(minutes=settings.session_idle_minutes),
                   page_max=dt.timedelta(hours=settings.session_max_hours),
                   bearer_max=dt.timedelta(hours=settings.token_max_hours),
                   environment=settings.environment)

    def lifetime(self, kind: SessionKind) -> dt.timedelta:
        """The absolute lifetime of a session of ``kind``."""
        return self.page_max if kind is SessionKind.PAGE else self.bearer_max


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A session that holds: its row, its user and the key (for the CSRF token)."""

    row: AccountSession
    user: User
    key: str


def start_session(session: Session, secret_key: str, user: User, *, kind: SessionKind,
                  policy: SessionPolicy | None = None, user_agent: str | None = None,
                  source_address: str | None = None,
                  now: dt.datetime | None = None) -> tuple[AccountSession, str]:
    """A new session of ``user``: the row (flushed) and the signed token to hand out."""
    policy = policy or SessionPolicy()
    moment = now or _now()
    key = secrets.token_urlsafe(32)
    row = AccountSession(token_hash=session_key_hash(key), user_id=user.id, kind=kind.value,
                         created_at=moment, last_seen_at=moment,
                         expires_at=moment + policy.lifetime(kind),
                         user_agent=(user_agent or "")[:300] or None,
                         source_address=(source_address or "")[:64] or None)
    session.add(row)
    session.flush()
    return row, sign_token(secret_key, session_key=key, user_id=user.id, kind=kind.value)


def holds(row: AccountSession, policy: SessionPolicy, now: dt.datetime) -> bool:
    """True when ``row`` is neither revoked, past its end, nor idle too long."""
    return (row.revoked_at is None and now < utc(row.expires_at)
            and now - utc(row.last_seen_at) < policy.idle)


# Built once: read on every signed-in request, so its statement is not made anew each time.
_SESSION_BY_KEY = (select(AccountSession, User).join(User, User.id == AccountSession.user_id)
                   .where(AccountSession.token_hash == bindparam("token_hash"),
                          AccountSession.kind == bindparam("kind")))


def resolve_session(session: Session, secret_key: str, token: str, *, kind: SessionKind,
                    policy: SessionPolicy | None = None,
                    now: dt.datetime | None = None) -> ActiveSession | None:
    """The session ``token`` names when it holds and its user may sign in, else None.

    Marks it seen (written with the request's commit) when last seen over a minute ago.
    """
    claims = read_token(secret_key, token, kind=kind.value)
    if claims is None:
        return None
    policy = policy or SessionPolicy()
    moment = now or _now()
    found = session.execute(_SESSION_BY_KEY, {
        "token_hash": session_key_hash(claims.session_key), "kind": kind.value}).first()
    if found is None:
        return None
    row, user = found
    if (not holds(row, policy, moment) or not user.active or user.id != claims.user_id
            or refused_in_environment(user.username, policy.environment)):
        return None
    if moment - utc(row.last_seen_at) >= TOUCH_EVERY:
        row.last_seen_at = moment
    return ActiveSession(row, user, claims.session_key)


def end_session(session: Session, row: AccountSession, now: dt.datetime | None = None) -> None:
    """Revoke one session (signing out, or "sign out this one" from the list)."""
    if row.revoked_at is None:
        row.revoked_at = now or _now()


def end_user_sessions(session: Session, user_id: int, now: dt.datetime | None = None) -> int:
    """Revoke every session and bearer token of a user at once; the number revoked."""
    result = session.execute(
        update(AccountSession)
        .where(AccountSession.user_id == user_id, AccountSession.revoked_at.is_(None))
        .values(revoked_at=now or _now()).execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0)


def active_sessions(session: Session, user_id: int, policy: SessionPolicy | None = None,
                    now: dt.datetime | None = None) -> list[AccountSession]:
    """The sessions of a user that still hold, most recently used first."""
    policy = policy or SessionPolicy()
    moment = now or _now()
    rows = session.scalars(
        select(AccountSession)
        .where(AccountSession.user_id == user_id, AccountSession.revoked_at.is_(None))
        .order_by(AccountSession.last_seen_at.desc(), AccountSession.id.desc()))
    return [row for row in rows if holds(row, policy, moment)]


def own_session(session: Session, user_id: int, session_id: int) -> AccountSession:
    """The session ``session_id`` of ``user_id`` (NotFoundError for anyone else's, so
    that ids of other users' sessions cannot be probed)."""
    row = session.get(AccountSession, session_id)
    if row is None or row.user_id != user_id:
        raise NotFoundError(f"you have no session {session_id}; GET /api/v1/auth/sessions "
                            "lists yours", code="accounts.no_such_session",
                            params={"id": session_id})
    return row
