"""Who is calling, and may they: the HTTP layer's sign-in, CSRF and rate limits, shared by
the JSON API (:mod:`shequ.api`) and the pages (:mod:`shequ.web`).

Dependencies:

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
  Pages get the token from :func:`csrf_for` (anonymous forms: :func:`visitor_csrf`).
- ``RateLimit(name, limit, per_seconds)`` — a dependency limiting writes per caller: the
  user of a token the server signed, else the peer address (never a header, key or
  cookie the client can vary); counters shared by every worker
  (:mod:`shequ.services.accounts.throttle`).

The database work of these dependencies runs in FastAPI's thread pool (plain functions);
only :func:`submitted_csrf` is async, and it only reads the request.
Jurisdiction checks themselves live in :mod:`shequ.services.accounts.policy`.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shequ.errors import (
    AccessDenied,
    NotAuthenticated,
)
from shequ.http.deps import READS, ContextDep, SessionDep
from shequ.services.accounts import PLANNER_ROLES, Role, User, audit, authenticate
from shequ.services.accounts.models import AccountSession, SessionKind
from shequ.services.accounts.sessions import (
    ActiveSession,
    SessionPolicy,
    resolve_session,
    start_session,
)
from shequ.services.accounts.throttle import SIGN_IN_PER_ADDRESS, Throttle
from shequ.services.accounts.tokens import check_csrf, csrf_token, read_token

SESSION_COOKIE = "shequ_session"
VISITOR_COOKIE = "shequ_visitor"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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


async def get_optional_user(request: Request, ctx: ContextDep, session: SessionDep,
                            submitted: Annotated[str | None, Depends(submitted_csrf)]
                            ) -> User | None:
    """The caller, from a bearer token or the page cookie; None when anonymous.

    Runs on the event loop and sends only the session look-up to the thread pool, so an
    anonymous request costs no trip there.
    """
    request.state.user = None  # the pages' layout and error pages read the caller here
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        kind, token = SessionKind.BEARER, header[7:].strip()
    elif cookie := request.cookies.get(SESSION_COOKIE):
        kind, token = SessionKind.PAGE, cookie
    else:
        return None
    secret = ctx.settings.secret_key
    found = await run_in_threadpool(_look_up, session, secret, token, kind=kind,
                                    policy=SessionPolicy.of(ctx.settings),
                                    read=request.method in READS)
    if kind is SessionKind.BEARER:
        if found is None:
            raise NotAuthenticated("the bearer token is invalid, expired or revoked; get a "
                                   "new one from POST /api/v1/auth/token")
        request.state.account_session = found.row
        return found.user
    if found is None:
        return None
    if request.method not in SAFE_METHODS and not check_csrf(secret, found.key, submitted):
        raise AccessDenied("missing or wrong CSRF token; reload the page and submit the "
                           "form again")
    request.state.session_id = found.key
    request.state.account_session = found.row
    request.state.user = found.user
    return found.user


def _look_up(session: Session, secret: str, token: str, *, kind: SessionKind,
             policy: SessionPolicy, read: bool) -> ActiveSession | None:
    """The session ``token`` names; for a read, its connection is handed back at once.

    A read's session is committed here (the last-seen time is its only write): the
    objects stay loaded (sessions do not expire on commit) and the pool has the
    connection again, so a read whose route does no more database work (``/auth/me``)
    ends without another trip to the thread pool.  A write's look-up stays in the
    request's transaction.
    """
    found = resolve_session(session, secret, token, kind=kind, policy=policy)
    if read:
        session.commit()
    return found


async def get_current_user(user: Annotated[User | None, Depends(get_optional_user)]) -> User:
    """The caller; 401 when anonymous."""
    if user is None:
        raise NotAuthenticated("sign in first: send 'Authorization: Bearer <token>' or log "
                               "in at /login")
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]
CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], Awaitable[User]]:
    """A dependency returning the caller when their role is one of ``roles`` (else 403)."""
    allowed = frozenset(roles)

    async def dependency(user: CurrentUser) -> User:
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


SIGN_IN_LIMIT = RateLimit("sign-in", SIGN_IN_PER_ADDRESS, 60, by="address")


def sign_in(request: Request, ctx: ContextDep, session: SessionDep, *, username: str,
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


