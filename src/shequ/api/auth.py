"""Accounts over the JSON API: bearer tokens, the caller's sessions and password, and the
administrators' account management.

Routes: ``POST /api/v1/auth/token`` (form ``username``, ``password`` → bearer token),
``POST /api/v1/auth/logout``, ``GET /api/v1/auth/me``, ``GET /api/v1/auth/sessions``,
``DELETE /api/v1/auth/sessions/{id}``, ``POST /api/v1/auth/password``; administrators'
``/api/v1/accounts/{id}/…`` (deactivate, reactivate, reset-password, role, sessions).
Who is calling is decided by :mod:`shequ.http.caller`; the pages of the same use cases
are :mod:`shequ.web.account`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from shequ.errors import NotAuthenticated, NotFoundError
from shequ.http.caller import (
    SIGN_IN_LIMIT,
    Administrator,
    CurrentUser,
    RateLimit,
    current_session,
    sign_in,
)
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.http.problems import error_responses
from shequ.services.accounts import Role, User, audit
from shequ.services.accounts import admin as accounts_admin
from shequ.services.accounts.models import SessionKind
from shequ.services.accounts.sessions import (
    SessionPolicy,
    active_sessions,
    end_session,
    end_user_sessions,
    own_session,
    utc,
)

router = APIRouter(tags=["auth"])


class TokenOut(BaseModel):
    """A bearer token for the API."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    expires_in: int


class UserOut(BaseModel):
    """The signed-in user."""

    id: int
    username: str
    display_name: str
    role: str
    jurisdiction_code: str | None
    resident_id: int | None


class SessionOut(BaseModel):
    """One active sign-in of the user."""

    id: int
    kind: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    user_agent: str | None
    source_address: str | None
    current: bool


class EndedOut(BaseModel):
    """How many sessions and tokens an action ended."""

    sessions_ended: int


class PasswordChange(BaseModel):
    """The user's own password change."""

    current_password: str = Field(max_length=200)
    new_password: str = Field(max_length=200)


class PasswordReset(BaseModel):
    """An administrator's password reset."""

    new_password: str = Field(max_length=200)


class RoleChange(BaseModel):
    """An administrator's change of role and jurisdiction."""

    role: Role
    jurisdiction_code: str | None = Field(default=None, max_length=12)


class AccountOut(UserOut):
    """A user as administrators see it."""

    active: bool


def _user_out(user: User) -> UserOut:
    return UserOut(id=user.id, username=user.username, display_name=user.display_name,
                   role=user.role, jurisdiction_code=user.jurisdiction_code,
                   resident_id=user.resident_id)


def _account_out(user: User) -> AccountOut:
    return AccountOut(**_user_out(user).model_dump(), active=user.active)


@router.post("/auth/token", response_model=TokenOut,
             dependencies=[Depends(SIGN_IN_LIMIT)],
             responses=error_responses(401, 422, 429))
def issue_bearer_token(request: Request, ctx: ContextDep, session: SessionDep,
                       username: Annotated[str, Form(max_length=64)],
                       password: Annotated[str, Form(max_length=200)]) -> TokenOut:
    """Exchange a username and password for a bearer token (OAuth2 password form).

    Limited per address and per account; repeated failures lock the account for a
    while (429 says until when).  The token ends after ``expires_in`` seconds, after an
    hour unused, or at ``POST /api/v1/auth/logout``.
    """
    signed_in = sign_in(request, ctx, session, username=username, password=password,
                        kind=SessionKind.BEARER)
    if signed_in is None:
        raise NotAuthenticated("wrong username or password")
    return TokenOut(access_token=signed_in[1],
                    expires_in=int(SessionPolicy.of(ctx.settings).bearer_max.total_seconds()))


@router.post("/auth/logout", response_model=EndedOut, responses=error_responses(401))
def api_logout(request: Request, session: SessionDep, user: CurrentUser) -> EndedOut:
    """End the session or bearer token this request came with."""
    row = current_session(request)
    end_session(session, row)
    audit(session, user=user, action="logout", entity="user", entity_id=user.id)
    return EndedOut(sessions_ended=1)


@router.get("/auth/me", response_model=UserOut, responses=error_responses(401))
async def who_am_i(user: CurrentUser) -> UserOut:
    """The user the token or cookie belongs to."""
    # On the loop: the user is already loaded (no I/O), and a trip to the thread pool
    # would cost more than the answer.
    return _user_out(user)


@router.get("/auth/sessions", response_model=list[SessionOut], responses=error_responses(401))
def list_my_sessions(request: Request, ctx: ContextDep, session: SessionDep,
                     user: CurrentUser) -> list[SessionOut]:
    """The caller's active sign-ins (pages and bearer tokens), most recently used first."""
    mine = current_session(request).id
    return [SessionOut(id=row.id, kind=row.kind, created_at=utc(row.created_at),
                       last_seen_at=utc(row.last_seen_at), expires_at=utc(row.expires_at),
                       user_agent=row.user_agent, source_address=row.source_address,
                       current=row.id == mine)
            for row in active_sessions(session, user.id, SessionPolicy.of(ctx.settings))]


@router.delete("/auth/sessions/{session_id}", response_model=EndedOut,
               responses=error_responses(401, 404))
def end_my_session(session_id: IdPath, session: SessionDep, user: CurrentUser) -> EndedOut:
    """Sign out one of the caller's sessions (e.g. a lost phone's)."""
    row = own_session(session, user.id, session_id)
    end_session(session, row)
    audit(session, user=user, action="logout", entity="account_session", entity_id=row.id)
    return EndedOut(sessions_ended=1)


@router.post("/auth/password", response_model=EndedOut,
             dependencies=[Depends(RateLimit("password change", 10, 60))],
             responses=error_responses(401, 403, 422, 429))
def change_my_password(body: PasswordChange, session: SessionDep,
                       user: CurrentUser) -> EndedOut:
    """Change the caller's password; every session and token of the caller ends (sign
    in again).  A common or guessable password is refused with the reason."""
    return EndedOut(sessions_ended=accounts_admin.change_password(
        session, user, current=body.current_password, new=body.new_password))


def _account(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user


@router.get("/accounts", response_model=list[AccountOut], responses=error_responses(401, 403))
def list_accounts(session: SessionDep, admin: Administrator) -> list[AccountOut]:
    """Every user with role, jurisdiction and whether active (administrators)."""
    return [_account_out(u) for u in session.scalars(select(User).order_by(User.id))]


@router.post("/accounts/{user_id}/deactivate", response_model=EndedOut,
             responses=error_responses(401, 403, 404, 409))
def deactivate_account(user_id: IdPath, session: SessionDep,
                       admin: Administrator) -> EndedOut:
    """Stop a user signing in; their sessions and tokens end at once (audited)."""
    return EndedOut(sessions_ended=accounts_admin.deactivate_user(
        session, _account(session, user_id), actor=admin))


@router.post("/accounts/{user_id}/reactivate", response_model=AccountOut,
             responses=error_responses(401, 403, 404))
def reactivate_account(user_id: IdPath, session: SessionDep,
                       admin: Administrator) -> AccountOut:
    """Let a deactivated user sign in again (audited)."""
    user = _account(session, user_id)
    accounts_admin.reactivate_user(session, user, actor=admin)
    return _account_out(user)


@router.post("/accounts/{user_id}/reset-password", response_model=EndedOut,
             responses=error_responses(401, 403, 404, 422))
def reset_account_password(user_id: IdPath, body: PasswordReset, session: SessionDep,
                           admin: Administrator) -> EndedOut:
    """Set a new password for a user; their sessions and tokens end (audited)."""
    return EndedOut(sessions_ended=accounts_admin.reset_password(
        session, _account(session, user_id), new=body.new_password, actor=admin))


@router.put("/accounts/{user_id}/role", response_model=AccountOut,
            responses=error_responses(401, 403, 404, 409, 422))
def change_account_role(user_id: IdPath, body: RoleChange, session: SessionDep,
                        admin: Administrator) -> AccountOut:
    """Give a user another role and a jurisdiction of its level; their sessions end, so
    that no page or token keeps the old rights (audited)."""
    user = _account(session, user_id)
    accounts_admin.change_role(session, user, role=body.role,
                               jurisdiction_code=body.jurisdiction_code, actor=admin)
    return _account_out(user)


@router.delete("/accounts/{user_id}/sessions", response_model=EndedOut,
               responses=error_responses(401, 403, 404))
def end_account_sessions(user_id: IdPath, session: SessionDep,
                         admin: Administrator) -> EndedOut:
    """End every session and bearer token of a user at once (audited)."""
    user = _account(session, user_id)
    ended = end_user_sessions(session, user.id)
    audit(session, user=admin, action="end_sessions", entity="user", entity_id=user.id,
          detail={"sessions_ended": ended})
    return EndedOut(sessions_ended=ended)

