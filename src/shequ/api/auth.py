"""Authentication and access for the HTTP layer: who is calling, and may they.

Dependencies (import them from here):

- ``CurrentUser`` — the signed-in :class:`~shequ.services.accounts.User`, from an
  ``Authorization: Bearer <token>`` header (API) or the ``shequ_session`` cookie (pages);
  401 when absent.  Either names a server-side session
  (:mod:`shequ.services.accounts.sessions`) checked on every request: an invalid, expired,
  idle or revoked bearer token is a 401; such a cookie is ignored.
- ``OptionalUser`` — the same, or None for anonymous callers.
- ``require_roles(*roles)`` — a dependency returning the user when their role is one of
  ``roles`` (401 anonymous, 403 otherwise): ``Annotated[User, Depends(require_roles(...))]``.
- CSRF: every unsafe request (POST/PUT/PATCH/DELETE) authenticated by the page cookie
  must carry the session's CSRF token, as form field ``csrf_token`` or header
  ``X-CSRF-Token``; this is checked here, once, for every route that asks for a user.
  Templates get the token from :func:`csrf_for` (anonymous forms: :func:`visitor_csrf`).
- ``RateLimit(name, limit, per_seconds)`` — a dependency limiting writes per caller: the
  user of a token the server signed, else the peer address (never a header, key or
  cookie the client can vary); counters shared by every worker
  (:mod:`shequ.services.accounts.throttle`).

The database work of these dependencies runs in FastAPI's thread pool (plain functions);
only :func:`submitted_csrf` is async, and it only reads the request.

Routes: ``POST /api/v1/auth/token`` (form ``username``, ``password`` → bearer token),
``POST /api/v1/auth/logout``, ``GET /api/v1/auth/me``, ``GET /api/v1/auth/sessions``,
``DELETE /api/v1/auth/sessions/{id}``, ``POST /api/v1/auth/password``; administrators'
``/api/v1/accounts/{id}/…`` (deactivate, reactivate, reset-password, role, sessions);
pages ``GET/POST /login``, ``POST /logout``, ``GET /account/sessions`` (with its forms).
Jurisdiction checks themselves live in :mod:`shequ.services.accounts.policy`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from shequ.api.deps import ContextDep, IdPath, SessionDep
from shequ.api.problems import error_responses
from shequ.errors import (
    AccessDenied,
    NotAuthenticated,
    NotFoundError,
    TooManyRequests,
    ValidationError,
)
from shequ.services.accounts import PLANNER_ROLES, STAFF_ROLES, Role, User, audit, authenticate
from shequ.services.accounts import admin as accounts_admin
from shequ.services.accounts.models import AccountSession, SessionKind
from shequ.services.accounts.sessions import (
    SessionPolicy,
    active_sessions,
    end_session,
    end_user_sessions,
    own_session,
    resolve_session,
    start_session,
    utc,
)
from shequ.services.accounts.throttle import SIGN_IN_PER_ADDRESS, Throttle
from shequ.services.accounts.tokens import check_csrf, csrf_token, read_token

SESSION_COOKIE = "shequ_session"
VISITOR_COOKIE = "shequ_visitor"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

router = APIRouter(tags=["auth"])
pages = APIRouter(include_in_schema=False)


def client_address(request: Request) -> str:
    """The peer address (uvicorn puts a trusted proxy's forwarded address here)."""
    return request.client.host if request.client else "unknown"


def throttle_of(request: Request) -> Throttle:
    """The app's rate limits (built on first use from the context's settings)."""
    state = request.app.state
    throttle: Throttle | None = getattr(state, "throttle", None)
    if throttle is None:
        throttle = state.throttle = Throttle.of(state.ctx.settings, state.ctx.engine)
    return throttle


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token an unsafe cookie-authenticated request carries (header or form field).

    The only async part of authentication: it reads the form without blocking the loop
    and does no database work (the dependencies that do are plain functions, run by
    FastAPI in its thread pool).
    """
    if (request.method in SAFE_METHODS or SESSION_COOKIE not in request.cookies
            or request.headers.get("authorization", "").lower().startswith("bearer ")):
        return None
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it; the route can still read it
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


def get_optional_user(request: Request, ctx: ContextDep, session: SessionDep,
                      submitted: Annotated[str | None, Depends(submitted_csrf)]) -> User | None:
    """The caller, from a bearer token or the page cookie; None when anonymous."""
    secret = ctx.settings.secret_key
    policy = SessionPolicy.of(ctx.settings)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        found = resolve_session(session, secret, header[7:].strip(), kind=SessionKind.BEARER,
                                policy=policy)
        if found is None:
            raise NotAuthenticated("the bearer token is invalid, expired or revoked; get a "
                                   "new one from POST /api/v1/auth/token")
        request.state.account_session = found.row
        return found.user
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = resolve_session(session, secret, cookie, kind=SessionKind.PAGE, policy=policy)
    if found is None:
        return None
    if request.method not in SAFE_METHODS and not check_csrf(secret, found.key, submitted):
        raise AccessDenied("missing or wrong CSRF token; reload the page and submit the "
                           "form again")
    request.state.session_id = found.key
    request.state.account_session = found.row
    return found.user


def get_current_user(user: Annotated[User | None, Depends(get_optional_user)]) -> User:
    """The caller; 401 when anonymous."""
    if user is None:
        raise NotAuthenticated("sign in first: send 'Authorization: Bearer <token>' or log "
                               "in at /login")
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]
CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency returning the caller when their role is one of ``roles`` (else 403)."""
    allowed = frozenset(roles)

    def dependency(user: CurrentUser) -> User:
        if Role(user.role) not in allowed:
            raise AccessDenied(f"this needs one of the roles "
                               f"{', '.join(sorted(r.value for r in allowed))}")
        return user

    return dependency


# The caller, when they plan (403 otherwise): indicator runs, life circles, siting.
Planner = Annotated[User, Depends(require_roles(*PLANNER_ROLES))]
# The caller, when an administrator (403 otherwise): account management.
Administrator = Annotated[User, Depends(require_roles(Role.ADMIN))]


def current_session(request: Request) -> AccountSession:
    """The session the request came with (set by :func:`get_optional_user`)."""
    row: AccountSession | None = getattr(request.state, "account_session", None)
    if row is None:  # pragma: no cover - every caller depends on CurrentUser first
        raise NotAuthenticated("sign in first")
    return row


def csrf_for(request: Request, ctx_secret: str) -> str:
    """The CSRF token for forms on a page of the signed-in user's session ("" if none)."""
    session_id = getattr(request.state, "session_id", None)
    return csrf_token(ctx_secret, session_id) if session_id else ""


def visitor_csrf(request: Request, response: Response, secret: str) -> str:
    """A CSRF token for anonymous forms (login), bound to a random visitor cookie."""
    visitor = request.cookies.get(VISITOR_COOKIE) or secrets.token_urlsafe(16)
    response.set_cookie(VISITOR_COOKIE, visitor, httponly=True, samesite="lax")
    return csrf_token(secret, "visitor:" + visitor)


def _signed_caller(request: Request, secret: str) -> str | None:
    """The user id inside a token the server signed (no database read), else None."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        claims = read_token(secret, header[7:].strip(), kind=SessionKind.BEARER.value)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        claims = read_token(secret, cookie, kind=SessionKind.PAGE.value) if cookie else None
    return f"user:{claims.user_id}" if claims else None


class RateLimit:
    """At most ``limit`` calls per ``per_seconds`` for each caller, in every worker at once.

    The caller is the user of a token the server signed (so people behind one address do
    not share a limit), else the peer address; with ``by="address"`` always the address
    (sign-in).  Anything the client can vary at will (an ``Authorization`` header that
    does not verify, an API key, a cookie) is never part of the key.
    """

    def __init__(self, name: str, limit: int, per_seconds: int,
                 by: Literal["caller", "address"] = "caller") -> None:
        self.name, self.limit, self.per_seconds, self.by = name, limit, per_seconds, by

    async def __call__(self, request: Request) -> None:
        who = None
        if self.by == "caller":
            who = _signed_caller(request, request.app.state.ctx.settings.secret_key)
        who = who or "address:" + client_address(request)
        # Redis or database I/O: off the event loop.
        await run_in_threadpool(throttle_of(request).hit, self.name, self.limit,
                                self.per_seconds, who)


_SIGN_IN_LIMIT = RateLimit("sign-in", SIGN_IN_PER_ADDRESS, 60, by="address")


def _sign_in(request: Request, ctx: ContextDep, session: SessionDep, username: str,
             password: str, kind: SessionKind) -> tuple[User, str] | None:
    """Check the account's lockout and limit (the address's ran as a dependency), then
    the credentials; the user and a new session's token, or None for wrong credentials
    (the failure is counted)."""
    throttle = throttle_of(request)
    throttle.check_sign_in(username)
    user = authenticate(session, username, password, environment=ctx.settings.environment)
    if user is None:
        throttle.sign_in_failed(username)
        return None
    # Before the session writes: on SQLite the counters' own transaction must not wait
    # for the request's.
    throttle.sign_in_succeeded(username)
    _row, token = start_session(session, ctx.settings.secret_key, user, kind=kind,
                                policy=SessionPolicy.of(ctx.settings),
                                user_agent=request.headers.get("user-agent"),
                                source_address=client_address(request))
    audit(session, user=user, action="login", entity="user", entity_id=user.id,
          detail={"kind": kind.value, "address": client_address(request)})
    return user, token


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
             dependencies=[Depends(_SIGN_IN_LIMIT)],
             responses=error_responses(401, 422, 429))
def issue_bearer_token(request: Request, ctx: ContextDep, session: SessionDep,
                       username: Annotated[str, Form(max_length=64)],
                       password: Annotated[str, Form(max_length=200)]) -> TokenOut:
    """Exchange a username and password for a bearer token (OAuth2 password form).

    Limited per address and per account; repeated failures lock the account for a
    while (429 says until when).  The token ends after ``expires_in`` seconds, after an
    hour unused, or at ``POST /api/v1/auth/logout``.
    """
    signed_in = _sign_in(request, ctx, session, username, password, SessionKind.BEARER)
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
def who_am_i(user: CurrentUser) -> UserOut:
    """The user the token or cookie belongs to."""
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


def _safe_next(target: str | None) -> str:
    # Only local paths, so the login form cannot be used to redirect elsewhere.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return ""


def landing_page(user: User) -> str:
    """Where a sign-in without a page to return to ends: staff at their workbench,
    residents at the services near them."""
    return "/work" if Role(user.role) in STAFF_ROLES else "/services"


@pages.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: ContextDep, next: str | None = None) -> HTMLResponse:
    """The sign-in form."""
    from shequ.web.templates import render

    probe = Response()
    token = visitor_csrf(request, probe, ctx.settings.secret_key)
    page = render(request, "services_login.html", {"csrf_token": token,
                                                     "next": _safe_next(next), "error": None})
    for header, value in probe.raw_headers:
        if header == b"set-cookie":
            page.raw_headers.append((header, value))
    return page


@pages.post("/login", response_class=HTMLResponse, dependencies=[Depends(_SIGN_IN_LIMIT)])
def login_submit(request: Request, ctx: ContextDep, session: SessionDep, *,
                 username: Annotated[str, Form(max_length=64)],
                 password: Annotated[str, Form(max_length=200)],
                 csrf_token: Annotated[str, Form()] = "",
                 next: Annotated[str, Form()] = "") -> Response:
    """Check the credentials and start a page session."""
    from shequ.web.templates import render

    secret = ctx.settings.secret_key
    visitor = request.cookies.get(VISITOR_COOKIE, "")
    if not visitor or not check_csrf(secret, "visitor:" + visitor, csrf_token):
        raise AccessDenied("missing or wrong CSRF token; reload the login page")
    page = {"csrf_token": csrf_token, "next": _safe_next(next)}
    try:
        signed_in = _sign_in(request, ctx, session, username, password, SessionKind.PAGE)
    except TooManyRequests as exc:
        until = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=exc.retry_after))
        answer = render(request, "services_login.html", {
            **page, "error": "account.sign_in_locked",
            "error_values": {"seconds": exc.retry_after,
                             "until": until.strftime("%H:%M:%S UTC")}}, status_code=429)
        answer.headers.update(exc.headers)
        return answer
    if signed_in is None:
        return render(request, "services_login.html",
                      {**page, "error": "services.login_failed"}, status_code=401)
    user, cookie = signed_in
    response = RedirectResponse(_safe_next(next) or landing_page(user), status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie,
                        max_age=int(SessionPolicy.of(ctx.settings).page_max.total_seconds()),
                        httponly=True, samesite="lax",
                        secure=ctx.settings.environment == "production")
    return response


@pages.post("/logout")
def logout(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """End the page session (the CSRF check runs through CurrentUser)."""
    end_session(session, current_session(request))
    audit(session, user=user, action="logout", entity="user", entity_id=user.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _session_page(request: Request, ctx: ContextDep, session: SessionDep, user: User, *,
                  notice: str | None = None, error: str | None = None,
                  error_values: dict[str, object] | None = None,
                  status_code: int = 200) -> HTMLResponse:
    from shequ.web.templates import render

    mine = current_session(request).id
    rows = active_sessions(session, user.id, SessionPolicy.of(ctx.settings))
    return render(request, "account_sessions.html", {
        "user": user, "sessions": rows, "current_id": mine,
        "csrf": csrf_for(request, ctx.settings.secret_key), "notice": notice,
        "error": error, "error_values": error_values or {}}, status_code=status_code)


@pages.get("/account/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, ctx: ContextDep, session: SessionDep,
                  user: OptionalUser) -> Response:
    """The signed-in user's sessions, each with "sign out this one", and a password form."""
    if user is None:
        return RedirectResponse("/login?next=/account/sessions", status_code=303)
    return _session_page(request, ctx, session, user)


@pages.post("/account/sessions/{session_id}/end")
def sessions_page_end(request: Request, session_id: IdPath, session: SessionDep,
                      user: CurrentUser) -> Response:
    """Sign out one session from the list (signing out this one leads to /login)."""
    row = own_session(session, user.id, session_id)
    end_session(session, row)
    audit(session, user=user, action="logout", entity="account_session", entity_id=row.id)
    if row.id == current_session(request).id:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response
    return RedirectResponse("/account/sessions", status_code=303)


@pages.post("/account/password", response_class=HTMLResponse,
            dependencies=[Depends(RateLimit("password change", 10, 60))])
def password_page_change(request: Request, ctx: ContextDep, session: SessionDep,
                         user: CurrentUser, *,
                         current_password: Annotated[str, Form(max_length=200)],
                         new_password: Annotated[str, Form(max_length=200)]) -> Response:
    """Change one's password from the sessions page; every session ends, so sign in anew.
    A refused password is explained in the page's language."""
    try:
        accounts_admin.change_password(session, user, current=current_password,
                                       new=new_password)
    except AccessDenied:
        return _session_page(request, ctx, session, user,
                             error="account.current_password_wrong", status_code=403)
    except ValidationError as exc:
        reason = "; ".join(p.reason for p in exc.problems)
        return _session_page(request, ctx, session, user, error="account.password_weak",
                             error_values={"reason": reason}, status_code=422)
    response = RedirectResponse("/login?next=/account/sessions", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
