"""Authentication and access for the HTTP layer: who is calling, and may they.

Dependencies (import them from here):

- ``CurrentUser`` — the signed-in :class:`~shequ.services.accounts.User`, from an
  ``Authorization: Bearer <token>`` header (API) or the ``shequ_session`` cookie (pages);
  401 when absent.  An invalid bearer token is a 401; an invalid cookie is ignored.
- ``OptionalUser`` — the same, or None for anonymous callers.
- ``require_roles(*roles)`` — a dependency returning the user when their role is one of
  ``roles`` (401 anonymous, 403 otherwise): ``Annotated[User, Depends(require_roles(...))]``.
- CSRF: every unsafe request (POST/PUT/PATCH/DELETE) authenticated by the page cookie
  must carry the session's CSRF token, as form field ``csrf_token`` or header
  ``X-CSRF-Token``; this is checked here, once, for every route that asks for a user.
  Templates get the token from :func:`csrf_for` (anonymous forms: :func:`visitor_csrf`).
- ``RateLimit(name, limit, per_seconds)`` — a dependency limiting public writes per client.

Routes: ``POST /api/v1/auth/token`` (form ``username``, ``password`` → bearer token),
``GET /api/v1/auth/me``, pages ``GET/POST /login`` and ``POST /logout``.
Jurisdiction checks themselves live in :mod:`shequ.services.accounts.policy`.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from threading import Lock
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from shequ.api.deps import ContextDep, SessionDep
from shequ.api.problems import error_responses
from shequ.errors import AccessDenied, NotAuthenticated, TooManyRequests
from shequ.services.accounts import PLANNER_ROLES, STAFF_ROLES, Role, User, audit, authenticate
from shequ.services.accounts.tokens import (
    BEARER_MAX_AGE_S,
    SESSION_MAX_AGE_S,
    check_csrf,
    csrf_token,
    issue_token,
    password_fingerprint,
    read_token,
)

SESSION_COOKIE = "shequ_session"
VISITOR_COOKIE = "shequ_visitor"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

router = APIRouter(tags=["auth"])
pages = APIRouter(include_in_schema=False)


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
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        claims = read_token(secret, header[7:].strip(), kind="bearer")
        user = session.get(User, claims.user_id) if claims else None
        if (claims is None or user is None or not user.active
                or claims.password_fingerprint != password_fingerprint(user.password_hash)):
            raise NotAuthenticated("the bearer token is invalid or expired; get a new one "
                                   "from POST /api/v1/auth/token")
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    claims = read_token(secret, cookie, kind="session")
    user = session.get(User, claims.user_id) if claims else None
    if (claims is None or user is None or not user.active
            or claims.password_fingerprint != password_fingerprint(user.password_hash)):
        return None
    if request.method not in SAFE_METHODS and not check_csrf(
            secret, claims.session_id, submitted):
        raise AccessDenied("missing or wrong CSRF token; reload the page and submit the "
                           "form again")
    request.state.session_id = claims.session_id
    return user


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


def csrf_for(request: Request, ctx_secret: str) -> str:
    """The CSRF token for forms on a page of the signed-in user's session ("" if none)."""
    session_id = getattr(request.state, "session_id", None)
    return csrf_token(ctx_secret, session_id) if session_id else ""


def visitor_csrf(request: Request, response: Response, secret: str) -> str:
    """A CSRF token for anonymous forms (login), bound to a random visitor cookie."""
    visitor = request.cookies.get(VISITOR_COOKIE) or secrets.token_urlsafe(16)
    response.set_cookie(VISITOR_COOKIE, visitor, httponly=True, samesite="lax")
    return csrf_token(secret, "visitor:" + visitor)


class RateLimit:
    """Sliding-window limit of ``limit`` calls per ``per_seconds`` for each client.

    The client is the API key (query or form field) or the bearer identity when given,
    else the peer address.  Counters live in the app (one process); a multi-process
    deployment puts a proxy limit in front as well.
    """

    def __init__(self, name: str, limit: int, per_seconds: float) -> None:
        self.name, self.limit, self.per_seconds = name, limit, per_seconds

    async def __call__(self, request: Request) -> None:
        state = request.app.state
        if not hasattr(state, "rate_windows"):
            state.rate_windows = {}
            state.rate_lock = Lock()
        api_key = request.query_params.get("api_key")
        if api_key is None and request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            value = (await request.form()).get("api_key")  # cached for the route
            api_key = value if isinstance(value, str) else None
        client = (api_key or request.headers.get("authorization")
                  or (request.client.host if request.client else "unknown"))
        key = (self.name, client)
        now = time.monotonic()
        with state.rate_lock:
            if len(state.rate_windows) > 50_000:  # forget idle clients (bounded memory)
                state.rate_windows = {k: w for k, w in state.rate_windows.items()
                                      if w and w[-1] > now - self.per_seconds}
            window: deque[float] = state.rate_windows.setdefault(key, deque())
            while window and window[0] <= now - self.per_seconds:
                window.popleft()
            if len(window) >= self.limit:
                retry = int(window[0] + self.per_seconds - now) + 1
                raise TooManyRequests(f"too many requests to {self.name}; retry in {retry} s",
                                      retry_after=retry)
            window.append(now)


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


@router.post("/auth/token", response_model=TokenOut,
             dependencies=[Depends(RateLimit("auth", 20, 60))],
             responses=error_responses(401, 422, 429))
def issue_bearer_token(ctx: ContextDep, session: SessionDep,
                       username: Annotated[str, Form(max_length=64)],
                       password: Annotated[str, Form(max_length=200)]) -> TokenOut:
    """Exchange a username and password for a bearer token (OAuth2 password form)."""
    user = authenticate(session, username, password)
    if user is None:
        raise NotAuthenticated("wrong username or password")
    token = issue_token(ctx.settings.secret_key, user_id=user.id,
                        password_hash=user.password_hash, kind="bearer")
    return TokenOut(access_token=token, expires_in=BEARER_MAX_AGE_S)


@router.get("/auth/me", response_model=UserOut, responses=error_responses(401))
def who_am_i(user: CurrentUser) -> UserOut:
    """The user the token or cookie belongs to."""
    return UserOut(id=user.id, username=user.username, display_name=user.display_name,
                   role=user.role, jurisdiction_code=user.jurisdiction_code,
                   resident_id=user.resident_id)


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


@pages.post("/login", response_class=HTMLResponse,
            dependencies=[Depends(RateLimit("login", 20, 60))])
def login_submit(request: Request, ctx: ContextDep, session: SessionDep, *,
                 username: Annotated[str, Form()], password: Annotated[str, Form()],
                 csrf_token: Annotated[str, Form()] = "",
                 next: Annotated[str, Form()] = "") -> Response:
    """Check the credentials and start a page session."""
    from shequ.web.templates import render

    secret = ctx.settings.secret_key
    visitor = request.cookies.get(VISITOR_COOKIE, "")
    if not visitor or not check_csrf(secret, "visitor:" + visitor, csrf_token):
        raise AccessDenied("missing or wrong CSRF token; reload the login page")
    user = authenticate(session, username, password)
    if user is None:
        return render(request, "services_login.html",
                      {"csrf_token": csrf_token, "next": _safe_next(next),
                       "error": "services.login_failed"}, status_code=401)
    cookie = issue_token(secret, user_id=user.id, password_hash=user.password_hash,
                         kind="session")
    audit(session, user=user, action="login", entity="user", entity_id=user.id)
    response = RedirectResponse(_safe_next(next) or landing_page(user), status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE_S, httponly=True,
                        samesite="lax", secure=ctx.settings.environment == "production")
    return response


@pages.post("/logout")
def logout(user: CurrentUser) -> Response:
    """End the page session (the CSRF check runs through CurrentUser)."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
