"""The account pages: sign in (and back to the page that asked), sign out, one's own
sessions and password.  Who is calling and the sign-in itself are
:mod:`shequ.http.caller`'s, shared with the API's bearer tokens."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shequ import i18n
from shequ.errors import AccessDenied, Problem, TooManyRequests, ValidationError
from shequ.http.caller import (
    SESSION_COOKIE,
    SIGN_IN_LIMIT,
    VISITOR_COOKIE,
    CurrentUser,
    RateLimit,
    current_session,
    sign_in,
    visitor_csrf,
)
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.services.accounts import STAFF_ROLES, Role, User, audit
from shequ.services.accounts import admin as accounts_admin
from shequ.services.accounts.models import SessionKind
from shequ.services.accounts.sessions import (
    SessionPolicy,
    active_sessions,
    end_session,
    own_session,
)
from shequ.services.accounts.tokens import check_csrf
from shequ.web.forms import FormState
from shequ.web.page import Crumb, Page, PageDep, SignedInPage, render, request_language

router = APIRouter(include_in_schema=False)
USERNAME_MAX = 64  # the column's length
PASSWORD_MAX = 200  # characters: longer is refused before hashing (Argon2 takes any length)


def safe_next(target: str | None) -> str:
    """``target`` when it is a path of this site, else "" (the sign-in form must not send
    anyone elsewhere)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return ""


def _check_filled(form: FormState, lang: str,
                  fields: tuple[tuple[str, str, int], ...]) -> None:
    """Each (name, value, longest) that is empty or too long, as a problem beside its
    field: checked here rather than by FastAPI, so the form is drawn again, not refused."""
    for name, value, limit in fields:
        if not value:
            problem = Problem("form", "is required", column=name, code="required")
        elif len(value) > limit:
            problem = Problem("form", f"is longer than {limit} characters", column=name,
                              code="too_long", params={"limit": limit})
        else:
            continue
        text = i18n.describe_problem(problem, lang)
        form.errors.setdefault(name, []).append(text)
        form.summary.append((name, text))


def landing_page(user: User) -> str:
    """Where a sign-in without a page to return to ends: staff at their workbench,
    residents at the services near them."""
    return "/work" if Role(user.role) in STAFF_ROLES else "/services"


def _login_form(page: Page, token: str, next_page: str, form: FormState | None = None, *,
                status_code: int = 200) -> HTMLResponse:
    return render(page, "account_login.html", {
        "csrf_token": token, "next": next_page, "form": form,
        "breadcrumbs": [Crumb(page.t("common.home"), "/"), Crumb(page.t("services.login"))]},
        status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: ContextDep, page: PageDep,
               next: str | None = None) -> HTMLResponse:
    """The sign-in form."""
    probe = Response()
    token = visitor_csrf(request, probe, ctx.settings.secret_key)
    answer = _login_form(page, token, safe_next(next))
    for header, value in probe.raw_headers:
        if header == b"set-cookie":
            answer.raw_headers.append((header, value))
    return answer


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(SIGN_IN_LIMIT)])
def login_submit(request: Request, ctx: ContextDep, session: SessionDep, *,
                 username: Annotated[str, Form()] = "",
                 password: Annotated[str, Form()] = "",
                 csrf_token: Annotated[str, Form()] = "",
                 next: Annotated[str, Form()] = "") -> Response:
    """Check the credentials and start a page session; a refusal keeps the username.
    (The form is checked against the visitor's token, not a session's: whoever may be
    signed in already is not asked for.)"""
    page = Page(request=request, lang=request_language(request), user=None, csrf="")
    secret = ctx.settings.secret_key
    visitor = request.cookies.get(VISITOR_COOKIE, "")
    if not visitor or not check_csrf(secret, "visitor:" + visitor, csrf_token):
        raise AccessDenied("missing or wrong CSRF token; reload the login page",
                           code="csrf_login")
    form = FormState(values={"username": username})
    _check_filled(form, page.lang, (("username", username, USERNAME_MAX),
                                    ("password", password, PASSWORD_MAX)))
    if form.has_errors():
        return _login_form(page, csrf_token, safe_next(next), form, status_code=422)
    try:
        signed_in = sign_in(request, ctx, session, username=username, password=password,
                            kind=SessionKind.PAGE)
    except TooManyRequests as exc:
        form.summary.append((None, page.t("account.sign_in_locked",
                                          seconds=exc.retry_after,
                                          until=i18n.time_text(_until(exc.retry_after),
                                                               page.lang))))
        answer = _login_form(page, csrf_token, safe_next(next), form, status_code=429)
        answer.headers.update(exc.headers)
        return answer
    if signed_in is None:
        form.summary.append(("password", page.t("services.login_failed")))
        form.errors["password"] = [page.t("services.login_failed")]
        return _login_form(page, csrf_token, safe_next(next), form, status_code=401)
    user, cookie = signed_in
    response = RedirectResponse(safe_next(next) or landing_page(user), status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie,
                        max_age=int(SessionPolicy.of(ctx.settings).page_max.total_seconds()),
                        httponly=True, samesite="lax",
                        secure=ctx.settings.environment == "production")
    return response


def _until(seconds: int) -> dt.time:
    moment = i18n.china_time(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds))
    return moment.time().replace(microsecond=0)


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """End the page session (the CSRF check runs through CurrentUser)."""
    end_session(session, current_session(request))
    audit(session, user=user, action="logout", entity="user", entity_id=user.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _sessions_page(page: Page, ctx: ContextDep, session: SessionDep,
                   form: FormState | None = None, *, status_code: int = 200) -> HTMLResponse:
    user = page.require()
    mine = current_session(page.request).id
    rows = active_sessions(session, user.id, SessionPolicy.of(ctx.settings))
    return render(page, "account_sessions.html", {
        "sessions": rows, "current_id": mine, "form": form,
        "breadcrumbs": [Crumb(page.t("common.home"), "/"),
                        Crumb(page.t("account.sessions_title"))]}, status_code=status_code)


@router.get("/account/sessions", response_class=HTMLResponse)
def sessions_page(ctx: ContextDep, session: SessionDep, page: SignedInPage) -> Response:
    """The signed-in user's sessions, each with "sign out this one", and a password form."""
    return _sessions_page(page, ctx, session)


@router.post("/account/sessions/{session_id}/end")
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
    return RedirectResponse("/account/sessions?msg=account.session_ended", status_code=303)


@router.post("/account/password", response_class=HTMLResponse,
             dependencies=[Depends(RateLimit("password change", 10, 60))])
def password_page_change(ctx: ContextDep, session: SessionDep, page: SignedInPage, *,
                         current_password: Annotated[str, Form()] = "",
                         new_password: Annotated[str, Form()] = "") -> Response:
    """Change one's password from the sessions page; every session ends, so sign in anew.
    A refused password is explained beside its field in the page's language."""
    user = page.require()
    form = FormState()
    _check_filled(form, page.lang, (("current_password", current_password, PASSWORD_MAX),
                                    ("new_password", new_password, PASSWORD_MAX)))
    if form.has_errors():
        return _sessions_page(page, ctx, session, form, status_code=422)
    try:
        accounts_admin.change_password(session, user, current=current_password,
                                       new=new_password)
    except AccessDenied:
        session.rollback()
        text = page.t("account.current_password_wrong")
        form.errors["current_password"] = [text]
        form.summary.append(("current_password", text))
        return _sessions_page(page, ctx, session, form, status_code=403)
    except ValidationError as exc:
        session.rollback()
        reasons = [i18n.describe_problem(p, page.lang) for p in exc.problems]
        form.errors["new_password"] = reasons
        form.summary.extend(("new_password", text) for text in reasons)
        return _sessions_page(page, ctx, session, form, status_code=422)
    response = RedirectResponse("/login?next=/account/sessions", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
